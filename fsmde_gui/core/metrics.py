"""Standard monocular depth metrics (Eigen et al.; as in SurroundDepth / FSM / VFDepth / P1).

Evaluated on valid GT pixels only (``min_depth < gt < max_depth``, finite, as in Monodepth2 /
SurroundDepth; sparse LiDAR GT has 0 elsewhere). The prediction is optionally median-scaled
(``median(gt) / median(pred)`` on those pixels: for scale-ambiguous models) and then clipped
to ``[min_depth, max_depth]``.
"""
from __future__ import annotations

import numpy as np

from .types import CAMERA_NAMES, MAX_DEPTH_M

__all__ = ["METRIC_NAMES", "LOWER_IS_BETTER", "depth_metrics", "depth_metrics_per_view",
           "average_metrics", "gt_pixels"]

METRIC_NAMES: tuple[str, ...] = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
LOWER_IS_BETTER = {"abs_rel": True, "sq_rel": True, "rmse": True, "rmse_log": True,
                   "a1": False, "a2": False, "a3": False}


def gt_pixels(gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = MAX_DEPTH_M) -> np.ndarray:
    """Flat indices (row-major, ascending) of the pixels of a GT map with a usable depth
    (finite, ``min_depth < gt < max_depth``). With ``min_depth >= 0`` the nonzero pixels are
    found first, so a sparse LiDAR map (a few thousand of 1.44 million pixels) costs one
    pass instead of one per condition."""
    flat = np.asarray(gt).reshape(-1)
    if min_depth < 0:  # 0 may be a usable value: test every pixel
        return np.flatnonzero(np.isfinite(flat) & (flat > min_depth) & (flat < max_depth))
    idx = np.flatnonzero(flat != 0)  # (numpy's nonzero of a bool mask is ~5x faster)
    g = flat[idx]
    return idx[np.isfinite(g) & (g > min_depth) & (g < max_depth)]


def depth_metrics(pred: np.ndarray, gt: np.ndarray, max_depth: float = MAX_DEPTH_M,
                  min_depth: float = 1e-3, median_scaling: bool = False) -> dict:
    """AbsRel, SqRel, RMSE, RMSElog, δ<1.25, δ<1.25², δ<1.25³ of ``pred`` against ``gt``
    (same shape, metres). Returns those keys plus ``count`` (valid pixels) and, with
    ``median_scaling``, ``scale`` (the factor applied). No valid pixel: metrics are nan.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    if not 0 <= min_depth < max_depth:
        raise ValueError(f"need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}")
    valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    g, p = gt[valid], pred[valid]
    out: dict = {}
    if g.size == 0:
        out = {k: float("nan") for k in METRIC_NAMES}
        out["count"] = 0
        if median_scaling:
            out["scale"] = float("nan")
        return out
    if median_scaling:
        med = np.median(p)
        scale = float(np.median(g) / med) if med > 0 else float("nan")
        p = p * scale
        out["scale"] = scale
    p = np.clip(p, min_depth, max_depth)
    thresh = np.maximum(g / p, p / g)
    diff = g - p
    out.update(
        abs_rel=float(np.mean(np.abs(diff) / g)),
        sq_rel=float(np.mean(diff ** 2 / g)),
        rmse=float(np.sqrt(np.mean(diff ** 2))),
        rmse_log=float(np.sqrt(np.mean((np.log(g) - np.log(p)) ** 2))),
        a1=float(np.mean(thresh < 1.25)),
        a2=float(np.mean(thresh < 1.25 ** 2)),
        a3=float(np.mean(thresh < 1.25 ** 3)),
        count=int(g.size),
    )
    return out


def average_metrics(items: list[dict]) -> dict:
    """Mean of each metric over items (images / views / frames) that have valid pixels,
    as the papers average per-image metrics; ``count`` is summed, ``num_images`` counted."""
    used = [m for m in items if m.get("count", 0) > 0]
    out = {k: (float(np.mean([m[k] for m in used])) if used else float("nan"))
           for k in METRIC_NAMES}
    out["count"] = int(sum(m.get("count", 0) for m in items))
    out["num_images"] = len(used)
    return out


def depth_metrics_per_view(pred: np.ndarray, gt: np.ndarray, names=CAMERA_NAMES,
                           **kwargs) -> dict[str, dict]:
    """``pred``, ``gt`` ``(V, H, W)`` -> ``{camera name: metrics}`` plus ``"mean"`` (the mean
    of the views with GT, see :func:`average_metrics`); ``kwargs`` go to :func:`depth_metrics`."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(f"need pred and gt of the same (V, H, W) shape, got {pred.shape}, "
                         f"{gt.shape}")
    if len(names) < len(pred):
        raise ValueError(f"{len(pred)} views but only {len(names)} names")
    per = {names[k]: depth_metrics(pred[k], gt[k], **kwargs) for k in range(len(pred))}
    per["mean"] = average_metrics(list(per.values()))
    return per
