"""The shipped models on real nuScenes data they never trained on (sim-to-real, no tuning).

Always: the bundled real keyframe ``resources/nuscenes-keyframe``. More real folders (any
nuScenes dataroot, e.g. a whole scene) with ``FSMDE_REAL_DATASETS=DIR[,DIR...]``. LiDAR GT,
80 m cap; students metric (no scaling); the teacher aligned per image to the same LiDAR
(optimistic, marked ``*``). Also median-scaled AbsRel (shape only) and the bins' coverage.

Run: ``.venv/bin/python -m benchmarks.run_all real``
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = [("student_supervised", "student"), ("student_kd", "student"),
          ("student_kd_lite", "student"), ("student_kd_real", "student"),
          ("teacher_sim", "teacher")]


def trained_on(name: str) -> str:
    """The real folder a model was fine-tuned on (its card), "" for simulator-only models."""
    card = REPO / "models" / f"{name}.json"
    if not card.exists():
        return ""
    return json.loads(card.read_text()).get("data", {}).get("real_folder", "")


def main(out_dir: Path) -> dict:
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.evaluation.evaluate import evaluate_dataset, load_estimator

    folders = [REPO / "resources" / "nuscenes-keyframe"]
    folders += [Path(p) for p in os.environ.get("FSMDE_REAL_DATASETS", "").split(",") if p]
    rows = []
    for folder in folders:
        dataset = open_dataset(folder)
        for name, role in MODELS:
            if not (REPO / "models" / f"{name}.pt").exists():
                continue
            res = evaluate_dataset(dataset, load_estimator(name), max_depth=80.0)
            o = res["overall"]
            rows.append({"dataset": folder.name, "model": name, "role": role,
                         "frames": res["frames"], "abs_rel": o["abs_rel"], "rmse": o["rmse"],
                         "a1": o["a1"], "abs_rel_median": o["abs_rel_median"],
                         "inconsistency_m": res["consistency"]["mean"],
                         "held_out": trained_on(name) != folder.name,
                         "eval_fps": res["frames"] / max(1e-9, res["wall_s"]),
                         "bins": res.get("bins")})
    head = (f"{'dataset':<22}{'model':<20}{'frames':>7}{'AbsRel':>9}{'RMSE':>8}{'δ1':>7}"
            f"{'medAbsRel':>10}{'incons m':>10}{'eval fps':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        star = "*" if r["role"] == "teacher" else "!" if not r["held_out"] else " "
        print(f"{r['dataset']:<22}{r['model']:<20}{r['frames']:>7}{r['abs_rel']:>8.4f}{star}"
              f"{r['rmse']:>8.2f}{r['a1']:>7.3f}{r['abs_rel_median']:>10.4f}"
              f"{r['inconsistency_m']:>10.3f}{r['eval_fps']:>9.2f}")
    print("* teacher aligned per image to the LiDAR GT it is scored on (optimistic)")
    print("! trained on this folder: NOT a held-out figure")
    return {"rows": rows}
