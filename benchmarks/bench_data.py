"""Dataset adapters: open time and frame-load time (6 images + LiDAR sparse depth + GT) for the
real nuScenes keyframe (full size and resized), the same frame as DGP/DDAD, and the tiny
simulator preset; plus the whole-folder check `fsmde info` runs."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYFRAME = REPO / "resources" / "nuscenes-keyframe"


def _time(fn, n: int) -> float:
    fn()  # warm (imports, caches)
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1000.0


def main(out_dir: Path) -> dict:
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.data.simulator.generate import generate_dataset
    from fsmde_gui.data.dgp_writer import write_dgp

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        sources = {"nuscenes keyframe": (KEYFRAME, None),
                   "nuscenes keyframe @448x252": (KEYFRAME, (448, 252))}
        write_dgp(open_dataset(KEYFRAME), tmp / "dgp")
        sources["ddad (dgp export of keyframe)"] = (tmp / "dgp", None)
        generate_dataset(tmp / "sim", preset="tiny", seed=0)
        sources["simulator tiny 224x128 (all GT)"] = (tmp / "sim", None)
        for name, (root, size) in sources.items():
            ds = open_dataset(root, image_size=size)
            rows.append({
                "what": name,
                "open_ms": _time(lambda: open_dataset(root, image_size=size), 3),
                "frame_ms": _time(lambda: ds.frame(0, 0, load_gt=True), 5),
                "frame_no_gt_ms": _time(lambda: ds.frame(0, 0, load_gt=False), 5),
                "check_files_ms": _time(ds.check_files, 3),
                "files": len(ds.check_files()),
            })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'dataset':<34}{'open ms':>9}{'frame ms':>10}{'no-GT ms':>10}{'check ms':>10}"
          f"{'files':>7}")
    for r in rows:
        print(f"{r['what']:<34}{r['open_ms']:>9.1f}{r['frame_ms']:>10.1f}"
              f"{r['frame_no_gt_ms']:>10.1f}{r['check_files_ms']:>10.1f}{r['files']:>7}")
    return {"rows": rows}
