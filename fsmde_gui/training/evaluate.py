"""Evaluation as in P1: depth metrics per camera and overall against LiDAR (sparse) GT with a
depth cap, plus cross-view consistency of the predicted depths per adjacent camera pair.

Per-image metrics are averaged over images (per camera: over frames; overall: over all
images), as in SurroundDepth / P1. Teachers are evaluated after the per-image scale+shift
alignment to the same sparse GT that ``DepthEstimator`` performs - an optimistic setting
(reported as such). On data with 3D boxes, ``per_category`` gives the error on the LiDAR
points inside the boxes of each class (:mod:`fsmde_gui.core.box_metrics`).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..core.bin_stats import bin_stats, mean_bin_stats
from ..core.box_metrics import BACKGROUND, BoxDepthErrors
from ..core.consistency import cross_view_consistency
from ..core.geometry import frame_camera_poses  # per-camera ego motion (real rigs)
from ..core.types import CAMERA_NAMES, SHORT_NAMES

METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
DEPTH_RANGES = ((0.0, 10.0), (10.0, 30.0), (30.0, 80.0))
"""AbsRel is also reported per GT-depth range (metres), as ``abs_rel_<lo>_<hi>``."""
RANGE_KEYS = tuple(f"abs_rel_{lo:g}_{hi:g}" for lo, hi in DEPTH_RANGES)
EXTRA_KEYS = ("abs_rel_median",) + RANGE_KEYS
"""``abs_rel_median``: AbsRel after per-image median scaling (scale-free shape quality)."""


def load_estimator(name_or_path: str, role: str | None = None):
    """A DepthEstimator from a checkpoint path or a registered model name; ``role``
    (``student`` / ``teacher``) refuses a model of another kind."""
    from ..models.inference import DepthEstimator

    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        return DepthEstimator.from_checkpoint(p, role=role)
    return DepthEstimator.from_name(name_or_path, role=role)


def _nanmean(values: list[float]) -> float:
    v = np.asarray(values, np.float64)
    return float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")


def _mean(rows: list[dict]) -> dict:
    if not rows:
        return {k: float("nan") for k in METRIC_KEYS + EXTRA_KEYS} | {"count": 0, "images": 0}
    out = {k: float(np.mean([r[k] for r in rows])) for k in METRIC_KEYS}
    out.update({k: _nanmean([r[k] for r in rows]) for k in EXTRA_KEYS if k in rows[0]})
    out["count"] = int(sum(r.get("count", 0) for r in rows))
    out["images"] = len(rows)
    return out


def image_metrics(pred: np.ndarray, gt: np.ndarray, max_depth: float, min_depth: float) -> dict:
    """The P1 metrics of one image plus median-scaled AbsRel and AbsRel per depth range."""
    from ..core.metrics import depth_metrics

    m = depth_metrics(pred, gt, max_depth=max_depth, min_depth=min_depth)
    m["abs_rel_median"] = depth_metrics(pred, gt, max_depth=max_depth, min_depth=min_depth,
                                        median_scaling=True)["abs_rel"]
    g = np.asarray(gt, np.float64)
    p = np.clip(np.asarray(pred, np.float64), min_depth, max_depth)
    ok = np.isfinite(g) & (g > min_depth) & (g < max_depth) & np.isfinite(p)
    for key, (lo, hi) in zip(RANGE_KEYS, DEPTH_RANGES):
        sel = ok & (g >= lo) & (g < hi)
        m[key] = float(np.mean(np.abs(g[sel] - p[sel]) / g[sel])) if sel.any() else float("nan")
    return m


def evaluate_dataset(dataset, estimator, max_depth: float = 80.0, min_depth: float = 1e-3,
                     max_frames: int = 0, consistency: bool = True,
                     progress: Optional[Callable[[int, int], None]] = None,
                     cancel=None, frame_stride: int = 1) -> dict:
    """Evaluate ``estimator`` (``predict(frame) -> DepthResult``) on a SurroundDataset (or a
    dataset folder). Returns ``{"overall", "per_camera", "consistency", "frames", ...}``
    (plus ``per_category`` when the frames have 3D boxes). ``frame_stride`` k > 1 evaluates
    every k-th frame (consecutive frames are near-duplicates). ``progress(done, total)`` is
    called once before the first frame (0) and after each."""
    if isinstance(dataset, (str, Path)):
        from ..data.detect import open_dataset

        dataset = open_dataset(dataset)
    keys = list(dataset.iter_frames())[::max(1, int(frame_stride))]
    if max_frames:
        keys = keys[:max_frames]
    per_cam: dict[str, list[dict]] = {name: [] for name in CAMERA_NAMES}
    dense_rows: list[dict] = []
    bin_rows: list[dict] = []
    cons_rows: list[dict] = []
    infer_ms: list[float] = []
    boxes = BoxDepthErrors(max_depth, min_depth)
    t0 = time.perf_counter()
    if progress is not None:
        progress(0, len(keys))
    for n, (scene, index) in enumerate(keys):
        if cancel is not None and cancel.is_set():
            break
        frame = dataset.frame(scene, index, load_gt=True)
        t = time.perf_counter()
        result = estimator.predict(frame)
        infer_ms.append((time.perf_counter() - t) * 1000)
        for v, view in enumerate(frame.views):
            gt = view.depth_sparse if view.depth_sparse is not None else view.depth_gt
            if gt is None or not np.any((gt > min_depth) & (gt < max_depth)):
                continue
            per_cam[view.name].append(image_metrics(result.depth[v], gt, max_depth, min_depth))
            if view.depth_sparse is not None and view.depth_dense is not None:
                dense_rows.append(image_metrics(result.depth[v], view.depth_dense, max_depth,
                                                min_depth))
            if result.bin_centers is not None:
                probs = result.bin_probs[v] if result.bin_probs is not None else None
                bin_rows.append(bin_stats(result.bin_centers[v], probs, gt, max_depth))
        boxes.add(frame, result.depth)
        if consistency:
            cons_rows.append(cross_view_consistency(result.depth, frame.intrinsics,
                                                    frame_camera_poses(frame)))
        if progress is not None:
            progress(n + 1, len(keys))
    all_rows = [r for rows in per_cam.values() for r in rows]
    out = {
        "frames": len(infer_ms),
        "max_depth": float(max_depth),
        "overall": _mean(all_rows),
        "per_camera": {name: _mean(rows) for name, rows in per_cam.items()},
        "mean_inference_ms": float(np.mean(infer_ms)) if infer_ms else float("nan"),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    if dense_rows:
        out["dense"] = _mean(dense_rows)
    if bin_rows:
        out["bins"] = mean_bin_stats(bin_rows)
    if boxes.frames:
        out["per_category"] = boxes.result()
    if consistency:
        pairs = sorted({k for row in cons_rows for k in row if k != "mean"})
        cons = {k: float(np.nanmean([row[k] for row in cons_rows if k in row])) for k in pairs}
        cons["mean"] = float(np.nanmean([row["mean"] for row in cons_rows])) \
            if cons_rows else float("nan")
        out["consistency"] = cons
    return out


def format_table(result: dict, title: str = "") -> str:
    """A fixed-width table: one row per camera plus the overall row and consistency."""
    head = f"{'camera':<8}" + "".join(f"{k:>10}" for k in METRIC_KEYS) + f"{'images':>8}"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    rows = [(SHORT_NAMES.get(n, n), m) for n, m in result["per_camera"].items()]
    rows.append(("overall", result["overall"]))
    for label, m in rows:
        lines.append(f"{label:<8}" + "".join(f"{m[k]:>10.4f}" for k in METRIC_KEYS)
                     + f"{m.get('images', 0):>8d}")
    o = result["overall"]
    if "abs_rel_median" in o:
        ranges = "  ".join(f"{k[8:].replace('_', '-')} m {o[k]:.4f}" for k in RANGE_KEYS)
        lines.append(f"AbsRel median-scaled {o['abs_rel_median']:.4f}; by GT range: {ranges}")
    dense = result.get("dense")
    if dense:
        lines.append(f"dense GT: AbsRel {dense['abs_rel']:.4f}  RMSE {dense['rmse']:.3f}  "
                     f"δ1 {dense['a1']:.3f}  median-scaled AbsRel {dense['abs_rel_median']:.4f}")
    bins = result.get("bins")
    if bins:
        lines.append(f"bins: distinct centres {bins['distinct']:.1%}, median GT-to-nearest-"
                     f"centre {bins['nearest_rel']:.1%}, mass use {bins['mass_use']:.2f}")
    cats = result.get("per_category")
    if cats:
        lines.append("by object class (LiDAR points inside the 3D boxes; pooled):")
        lines.append(f"  {'class':<22}{'AbsRel':>9}{'RMSE':>9}{'δ1':>8}{'points':>9}"
                     f"{'boxes':>7}{'objects':>9}")
        for name, m in cats.items():
            label = "(no box)" if name == BACKGROUND else name
            lines.append(f"  {label:<22}{m['abs_rel']:>9.4f}{m['rmse']:>9.3f}{m['a1']:>8.3f}"
                         f"{m['points']:>9d}{m['boxes']:>7d}{m['objects']:>9d}")
    cons = result.get("consistency")
    if cons:
        pairs = ", ".join(f"{k}={v:.3f}" for k, v in cons.items() if k != "mean")
        lines.append(f"cross-view inconsistency (m): mean {cons['mean']:.3f}  [{pairs}]")
    return "\n".join(lines)


def json_safe(value):
    """Replace non-finite floats (a camera pair without overlap matches) by None (JSON null)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def write_json(path: str | Path, data: dict) -> Path:
    """Atomic, strict JSON write (``core.atomic_io``: checked, fsync'ed temp file + rename;
    NaN/inf written as null)."""
    from ..core.atomic_io import atomic_write_text

    return atomic_write_text(Path(path), json.dumps(json_safe(data), indent=2, allow_nan=False))
