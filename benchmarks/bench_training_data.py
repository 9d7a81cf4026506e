"""The streaming training data path: memory as the dataset grows, and time waiting for data.

* **Memory**: peak RSS of ``fsmde train`` (supervised, 192x112, 40 steps) on a nuScenes folder
  of 200 and of 2,000 frames; target ratio <= 1.2. The folders repeat the bundled real
  keyframe (its six 1600x900 images and LiDAR sweep, written once; the tables list each frame
  as its own sample), so the frames are real-sized but take no disk. The first release kept
  every decoded sample in memory: ``sample_mb`` x frames is what it would have held.
* **Data wait**: the fraction of training wall time spent waiting for the next batch with 0
  and 2 DataLoader workers on the real 1600x900 frames (decode 6 JPEGs, project the LiDAR,
  resize); target <= 10 % with 2 workers.

Each run is a fresh process. Run: ``.venv/bin/python -m benchmarks.run_all training_data``
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYFRAME = REPO / "resources" / "nuscenes-keyframe"
STEPS = 40

WORKER = r"""
import json, resource, sys, torch
from fsmde_gui.training.config import TrainConfig
from fsmde_gui.training.trainer import Trainer
root, out, workers, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = TrainConfig(recipe="supervised", dataset=root, out=out, steps=steps, num_workers=workers,
                  checkpoint_every=0, log_every=1000, warmup_steps=1, num_threads=1)
res = Trainer(cfg).run()
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "workers_peak_rss_mb":
                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "data_wait_frac": res["data_wait_frac"], "wall_s": res["wall_s"]}))
"""


def repeated_keyframe(dst: Path, frames: int) -> Path:
    """A nuScenes folder listing the bundled keyframe ``frames`` times (one scene)."""
    shutil.copytree(KEYFRAME, dst)
    tables = dst / "v1.0-mini"
    load = lambda name: json.loads((tables / f"{name}.json").read_text())  # noqa: E731
    (sample,), rows, poses = load("sample"), load("sample_data"), load("ego_pose")
    (scene,) = load("scene")
    pose_of = {p["token"]: p for p in poses}
    samples, sample_data, ego_poses, last = [], [], [], {}
    for n in range(frames):
        tok = f"{n:08d}" + sample["token"][8:]
        dt = n * 500_000  # 2 Hz keyframes
        samples.append(dict(sample, token=tok, timestamp=sample["timestamp"] + dt,
                            prev=samples[-1]["token"] if samples else "", next=""))
        if n:
            samples[-2]["next"] = tok
        for row in rows:
            sd_tok, ego_tok = f"{n:08d}" + row["token"][8:], f"{n:08d}" + row["ego_pose_token"][8:]
            ego_poses.append(dict(pose_of[row["ego_pose_token"]], token=ego_tok,
                                  timestamp=row["timestamp"] + dt))
            rec = dict(row, token=sd_tok, sample_token=tok, ego_pose_token=ego_tok,
                       timestamp=row["timestamp"] + dt, prev="", next="")
            prev = last.get(row["calibrated_sensor_token"])
            if prev is not None:
                prev["next"], rec["prev"] = sd_tok, prev["token"]
            last[row["calibrated_sensor_token"]] = rec
            sample_data.append(rec)
    scene.update(nbr_samples=frames, first_sample_token=samples[0]["token"],
                 last_sample_token=samples[-1]["token"])
    for name, data in (("sample", samples), ("sample_data", sample_data),
                       ("ego_pose", ego_poses), ("scene", [scene]), ("sample_annotation", []),
                       ("instance", [])):
        (tables / f"{name}.json").write_text(json.dumps(data))
    return dst


def _train(root: Path, out: Path, workers: int, steps: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, str(root), str(out), str(workers),
                           str(steps)], cwd=REPO, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"training worker failed: {proc.stderr.strip()[-600:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sample_mb() -> float:
    from fsmde_gui.training.dataset import SurroundTrainingSet

    item = SurroundTrainingSet(KEYFRAME, (192, 112)).load(0)
    return sum(t.numel() * t.element_size() for t in item.values()) / 2 ** 20


def main(out_dir: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_training_data_"))
    try:
        rows = []
        for frames in (200, 2000):
            root = repeated_keyframe(tmp / f"nus{frames}", frames)
            r = _train(root, tmp / f"run{frames}", workers=2, steps=STEPS)
            rows.append({"case": f"memory, {frames} frames, 2 workers", "frames": frames} | r)
        root = tmp / "nus200"
        for workers in (0, 2):
            r = _train(root, tmp / f"wait{workers}", workers=workers, steps=STEPS)
            rows.append({"case": f"data wait, {workers} workers", "workers": workers} | r)
        sample_mb = _sample_mb()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
    print(f"{'case':<34}{'peak RSS MB':>12}{'workers MB':>11}{'data wait':>10}{'wall s':>8}")
    for r in rows:
        print(f"{r['case']:<34}{r['peak_rss_mb']:>12.0f}{r['workers_peak_rss_mb']:>11.0f}"
              f"{r['data_wait_frac']:>10.1%}{r['wall_s']:>8.1f}")
    print(f"peak RSS 2,000 / 200 frames: {ratio:.2f} (target <= 1.2); one decoded sample "
          f"{sample_mb:.2f} MB, so holding 2,000 in memory (the first release) = "
          f"{sample_mb * 2000:.0f} MB")
    wait2 = rows[-1]["data_wait_frac"]
    print(f"data wait with 2 workers on real 1600x900 frames: {wait2:.1%} (target <= 10 %)")
    return {"rows": rows, "rss_ratio_2000_vs_200": ratio, "sample_mb": sample_mb,
            "data_wait_frac_2_workers": wait2, "steps": STEPS,
            "targets": {"rss_ratio": 1.2, "data_wait_frac": 0.10}}
