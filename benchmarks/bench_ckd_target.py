"""How much can CKD's target teach at LiDAR pixels? (the diagnostic behind the P1 reading)

For held-out images, the teacher's ordinal (rank) positions — what CKD distils — are read
through the *best possible* monotone map to metres for that very image (an isotonic fit of
log LiDAR depth on the position: an oracle for the student's centres). Its AbsRel at the LiDAR
pixels and against dense GT bounds what the ordinal target can give a student; printed next
to the LiDAR-aligned teacher (least squares in inverse depth per image).

Run: ``.venv/bin/python -m benchmarks.run_all ckd_target`` (every 6th held-out frame).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.isotonic import IsotonicRegression

from fsmde_gui.data.detect import open_dataset
from fsmde_gui.models.checkpoint import load_checkpoint
from fsmde_gui.training import losses as L
from fsmde_gui.training.model_zoo import SHIPPED_SIZE, ensure_preset

REPO = Path(__file__).resolve().parents[1]


def _abs_rel(pred: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - gt) / gt))


def main(out_dir: Path) -> dict:
    torch.set_num_threads(1)
    ds = open_dataset(ensure_preset(REPO / "data", "heldout"), image_size=SHIPPED_SIZE)
    teacher, _ = load_checkpoint(REPO / "models" / "teacher_sim.pt")
    teacher.float()
    rows: dict[str, list[float]] = {"ordinal target, oracle map (LiDAR)": [],
                                    "ordinal target, oracle map (dense GT)": [],
                                    "aligned teacher (LiDAR)": []}
    for scene, index in list(ds.iter_frames())[::6]:
        frame = ds.frame(scene, index, load_gt=True)
        x = torch.from_numpy(frame.images).permute(0, 3, 1, 2).float()[None] / 255
        with torch.no_grad():
            rel = teacher(x)["relative"]
        pos = L.ordinal_positions(rel, 32, "quantile")[0, :, 0].numpy()
        sparse = np.stack([v.depth_sparse for v in frame.views])
        dense = np.stack([v.depth_dense for v in frame.views])
        aligned, _ = L.align_disparity_to_depth(rel, torch.from_numpy(sparse)[None, :, None],
                                                0.5, 80.0)
        aligned = aligned[0, :, 0].numpy()
        for v in range(6):
            m = (sparse[v] > 0) & (sparse[v] < 80)
            md = (dense[v] > 0) & (dense[v] < 80)
            if m.sum() < 20:
                continue
            iso = IsotonicRegression(out_of_bounds="clip").fit(pos[v][m], np.log(sparse[v][m]))
            rows["ordinal target, oracle map (LiDAR)"].append(
                _abs_rel(np.exp(iso.predict(pos[v][m])), sparse[v][m]))
            rows["ordinal target, oracle map (dense GT)"].append(
                _abs_rel(np.exp(iso.predict(pos[v][md])), dense[v][md]))
            rows["aligned teacher (LiDAR)"].append(
                _abs_rel(np.clip(aligned[v][m], 0.5, 80.0), sparse[v][m]))
    out = {k: {"abs_rel": float(np.mean(r)), "images": len(r)} for k, r in rows.items()}
    for k, r in out.items():
        print(f"{k:<40} AbsRel {r['abs_rel']:.4f} ({r['images']} images)")
    return out
