"""Held-out scores of a reflection-aware model on a simulator dataset with reflection, albedo
and shading GT (``evaluate_reflection_model``; ``benchmarks/bench_reflection.py``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import DatasetError
from ..data.detect import open_dataset
from ..models.intrinsic import run_decomposition
from ..core.types import MAX_DEPTH_M


def scale_invariant_mse(pred: np.ndarray, gt: np.ndarray, valid: Optional[np.ndarray] = None
                        ) -> float:
    """min_a mean((a * pred - gt)^2) over ``valid`` (the albedo/shading scale is unobservable)."""
    p = np.asarray(pred, np.float64).reshape(-1)
    g = np.asarray(gt, np.float64).reshape(-1)
    if valid is not None:
        v = np.broadcast_to(np.asarray(valid, bool)[..., None] if np.ndim(valid) < np.ndim(pred)
                            else np.asarray(valid, bool), np.shape(pred)).reshape(-1)
        p, g = p[v], g[v]
    if p.size == 0:
        return float("nan")
    a = float((p * g).sum() / max((p * p).sum(), 1e-12))
    return float(np.mean((a * p - g) ** 2))


def _abs_rel(pred: np.ndarray, gt: np.ndarray, sel: np.ndarray) -> tuple[float, int]:
    sel = sel & (gt > 1e-3)
    n = int(sel.sum())
    if n == 0:
        return 0.0, 0
    return float(np.sum(np.abs(pred[sel] - gt[sel]) / gt[sel])), n


def evaluate_reflection_model(model, root: str | Path, max_frames: int = 0,
                              max_depth: float = MAX_DEPTH_M) -> dict:
    """Held-out evaluation of a ``reflection_ssl`` model on a simulator dataset.

    Runs at the model's input size (GT loaded at that size). Returns AbsRel on GT-reflective
    and non-reflective pixels (dense GT depth, capped at ``max_depth``, no median scaling:
    the depth is metric), predicted-mask IoU / precision / recall against the GT reflection
    mask, and scale-invariant MSE of albedo / shading against GT next to the trivial
    decomposition (albedo = image, shading = 1) as a reference.
    """
    ds = open_dataset(Path(root), image_size=tuple(model.input_size))
    keys = list(ds.iter_frames())
    if max_frames:
        keys = keys[:max_frames]
    sums = {"refl": [0.0, 0], "nonrefl": [0.0, 0]}
    tp = fp = fn = 0
    alb, shd, alb0, shd0 = [], [], [], []
    for s, f in keys:
        frame = ds.frame(s, f, load_gt=True)
        v0 = frame.views[0]
        if v0.depth_dense is None or v0.reflection is None:
            raise DatasetError(root, "reflection evaluation needs simulator GT (dense depth and "
                               "reflection masks)")
        out = run_decomposition(model, frame)
        gt = np.stack([v.depth_dense for v in frame.views]).astype(np.float32)
        refl = np.stack([v.reflection for v in frame.views]).astype(bool)
        valid = (gt > 0) & (gt <= max_depth)
        for key, sel in (("refl", valid & refl), ("nonrefl", valid & ~refl)):
            e, n = _abs_rel(out["depth"], gt, sel)
            sums[key][0] += e
            sums[key][1] += n
        pm = out["reflection_mask"]
        tp += int((pm & refl).sum())
        fp += int((pm & ~refl).sum())
        fn += int((~pm & refl).sum())
        if v0.albedo is not None and v0.shading is not None:
            img = frame.images.astype(np.float32) / 255.0
            ga = np.stack([v.albedo for v in frame.views])
            gs = np.stack([v.shading for v in frame.views])
            surf = gt > 0  # sky has no meaningful decomposition
            alb.append(scale_invariant_mse(out["albedo"], ga, surf))
            shd.append(scale_invariant_mse(out["shading"], gs, surf))
            alb0.append(scale_invariant_mse(img, ga, surf))
            shd0.append(scale_invariant_mse(np.ones_like(gs), gs, surf))
    mean = lambda xs: float(np.nanmean(xs)) if xs else float("nan")  # noqa: E731
    return {
        "frames": len(keys),
        "abs_rel_reflective": sums["refl"][0] / max(1, sums["refl"][1]),
        "abs_rel_non_reflective": sums["nonrefl"][0] / max(1, sums["nonrefl"][1]),
        "reflective_pixels": sums["refl"][1], "non_reflective_pixels": sums["nonrefl"][1],
        "mask_iou": tp / max(1, tp + fp + fn), "mask_precision": tp / max(1, tp + fp),
        "mask_recall": tp / max(1, tp + fn),
        "albedo_si_mse": mean(alb), "shading_si_mse": mean(shd),
        "albedo_si_mse_trivial": mean(alb0), "shading_si_mse_trivial": mean(shd0),
    }
