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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..core.adjacency import camera_adjacency
from ..core.atomic_io import atomic_write_text
from ..core.bin_stats import bin_stats, mean_bin_stats
from ..core.box_metrics import BACKGROUND, BoxDepthErrors
from ..core.consistency import cross_view_consistency
from ..core.geometry import frame_camera_poses  # per-camera ego motion (real rigs)
from ..core.metrics import depth_metrics, gt_pixels
from ..core.types import CAMERA_NAMES, MAX_DEPTH_M, SHORT_NAMES
from ..data.detect import open_dataset
from ..models.inference import DepthEstimator

METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
DEPTH_RANGES = ((0.0, 10.0), (10.0, 30.0), (30.0, 80.0))
"""AbsRel is also reported per GT-depth range (metres), as ``abs_rel_<lo>_<hi>``."""
RANGE_KEYS = tuple(f"abs_rel_{lo:g}_{hi:g}" for lo, hi in DEPTH_RANGES)
SHARE_KEYS = tuple(f"share_{lo:g}_{hi:g}" for lo, hi in DEPTH_RANGES)
"""``pooled``: each range's share of the GT points."""
EXTRA_KEYS = ("abs_rel_median",) + RANGE_KEYS
"""``abs_rel_median``: AbsRel after per-image median scaling (scale-free shape quality)."""
CONSISTENCY_WIDTH = 448
"""Cross-view consistency uses every k-th source pixel, k = round(image width / this): every
pixel of the simulator's 448-px images, every 4th row and column of nuScenes' 1600-px ones
(the mean distance over 90,000 points per view instead of 1.44 million)."""
PREFETCH = 2
"""Frames loaded (decoded, LiDAR projected) ahead of the one being evaluated, in a thread."""


def model_threads() -> Optional[int]:
    """torch's intra-op threads for the model step of :func:`evaluate_dataset`: the cores
    less the two that the loading and scoring threads keep busy beside it (at least 1; on a
    2-core machine two model threads would fight those two for the cores and wait on each
    other). None when ``FSMDE_NUM_THREADS`` is set: that setting holds."""
    if os.environ.get("FSMDE_NUM_THREADS", "").strip():
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 2)


@contextmanager
def _torch_threads(n: Optional[int]):
    """torch's intra-op thread count set to ``n`` inside the block (None: unchanged)."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def load_estimator(name_or_path: str, role: str | None = None):
    """A DepthEstimator from a checkpoint path or a registered model name; ``role``
    (``student`` / ``teacher``) refuses a model of another kind."""
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
    gt, pred = np.asarray(gt), np.asarray(pred)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    ok = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth) & np.isfinite(pred)
    g = gt[ok].astype(np.float64)  # sparse GT: a few thousand of 1.44 million pixels
    raw = pred[ok].astype(np.float64)
    m = depth_metrics(raw, g, max_depth=max_depth, min_depth=min_depth)
    m["abs_rel_median"] = depth_metrics(raw, g, max_depth=max_depth, min_depth=min_depth,
                                        median_scaling=True)["abs_rel"]
    sums, counts = range_sums(np.abs(g - np.clip(raw, min_depth, max_depth)) / g, g)
    for key, total, n in zip(RANGE_KEYS, sums, counts):
        m[key] = float(total / n) if n else float("nan")
    return m


def range_sums(err: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the per-point errors ``err`` in each of :data:`DEPTH_RANGES` of ``gt``."""
    sel = [(gt >= lo) & (gt < hi) for lo, hi in DEPTH_RANGES]
    return (np.array([err[s].sum() for s in sel], dtype=np.float64),
            np.array([int(s.sum()) for s in sel], dtype=np.int64))


class PooledAbsRel:
    """AbsRel pooled over every GT point (not averaged per image), overall and per GT-depth
    range, with each range's share of the points. Pooled figures decompose exactly: where
    every point lies in a range, ``abs_rel = sum(share_r * abs_rel_r)``."""

    def __init__(self, max_depth: float, min_depth: float):
        self.lo, self.hi = min_depth, max_depth
        self.sums = np.zeros(len(DEPTH_RANGES) + 1)  # [all points, range 1, range 2, ...]
        self.counts = np.zeros(len(DEPTH_RANGES) + 1, dtype=np.int64)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
        ok = np.isfinite(gt) & np.isfinite(pred) & (gt > self.lo) & (gt < self.hi)
        g = gt[ok]
        err = np.abs(g - np.clip(pred[ok], self.lo, self.hi)) / g
        sums, counts = range_sums(err, g)
        self.sums += np.concatenate([[err.sum()], sums])
        self.counts += np.concatenate([[err.size], counts])

    def result(self) -> dict:
        means = [float(t / n) if n else float("nan") for t, n in zip(self.sums, self.counts)]
        out = {"abs_rel": means[0], "points": int(self.counts[0])}
        for k, (key, share) in enumerate(zip(RANGE_KEYS, SHARE_KEYS), start=1):
            out[key] = means[k]
            out[share] = float(self.counts[k] / max(1, self.counts[0]))
        return out


def rig_pairs(frame) -> list[tuple[int, int]]:
    """The adjacent camera pairs of the frame's rig, from its static calibration (cached per
    rig by :func:`~fsmde_gui.core.adjacency.camera_adjacency`; the per-frame motion-
    compensated poses would miss that cache on every real frame)."""
    return camera_adjacency(frame.intrinsics, frame.cam_to_ego, frame.views[0].hw)


def prefetched_frames(dataset, keys, depth: int = PREFETCH):
    """``(scene, index, frame)`` for ``keys`` in order, each loaded (``load_gt=True``) by one
    background thread up to ``depth`` frames ahead, so decoding and LiDAR projection overlap
    with inference. Stops loading when the consumer stops iterating."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-load") as pool:
        pending = [pool.submit(dataset.frame, s, i, load_gt=True) for s, i in keys[:depth]]
        try:
            for n, (scene, index) in enumerate(keys):
                frame = pending.pop(0).result()
                if n + depth < len(keys):
                    s, i = keys[n + depth]
                    pending.append(pool.submit(dataset.frame, s, i, load_gt=True))
                yield scene, index, frame
        finally:
            for f in pending:
                f.cancel()


class FrameScores:
    """Per-frame metrics accumulated over a dataset (one frame at a time, in order)."""

    def __init__(self, max_depth: float, min_depth: float, consistency: bool):
        self.max_depth, self.min_depth, self.consistency = max_depth, min_depth, consistency
        self.per_cam: dict[str, list[dict]] = {name: [] for name in CAMERA_NAMES}
        self.dense_rows: list[dict] = []
        self.bin_rows: list[dict] = []
        self.cons_rows: list[dict] = []
        self.boxes = BoxDepthErrors(max_depth, min_depth)
        self.pooled = PooledAbsRel(max_depth, min_depth)

    def add(self, frame, result) -> bool:
        lo, hi = self.min_depth, self.max_depth
        box_pixels = {}  # the views' usable sparse-GT pixels, for the object-level figures
        for v, view in enumerate(frame.views):
            gt = view.depth_sparse if view.depth_sparse is not None else view.depth_gt
            if gt is None:
                continue
            # the GT pixels any figure below may use (finite, 0 < g < hi: sparse LiDAR GT is
            # a few thousand of 1.44 million pixels); the figures of these values are those
            # of the whole maps
            idx = gt_pixels(gt, min(lo, 0.0), hi)
            g = np.asarray(gt).reshape(-1)[idx]
            usable = g > lo
            if view.depth_sparse is not None:  # self.boxes has the same depth range
                box_pixels[v] = idx[usable]
            if not usable.any():
                continue
            pred = np.asarray(result.depth[v]).reshape(-1)[idx]
            self.per_cam[view.name].append(image_metrics(pred, g, hi, lo))
            self.pooled.add(pred, g)
            if view.depth_sparse is not None and view.depth_dense is not None:
                self.dense_rows.append(image_metrics(result.depth[v], view.depth_dense, hi, lo))
            if result.bin_centers is not None:
                probs = result.bin_probs[v] if result.bin_probs is not None else None
                self.bin_rows.append(bin_stats(result.bin_centers[v], probs, g, hi))
        self.boxes.add(frame, result.depth, box_pixels)
        if self.consistency:
            stride = max(1, round(frame.views[0].hw[1] / CONSISTENCY_WIDTH))
            self.cons_rows.append(cross_view_consistency(
                result.depth, frame.intrinsics, frame_camera_poses(frame),
                pairs=rig_pairs(frame), stride=stride))
        return True


def evaluate_dataset(dataset, estimator, max_depth: float = MAX_DEPTH_M, min_depth: float = 1e-3,
                     max_frames: int = 0, consistency: bool = True,
                     progress: Optional[Callable[[int, int], None]] = None,
                     cancel=None, frame_stride: int = 1, first_frame: int = 0) -> dict:
    """Evaluate ``estimator`` (``predict(frame) -> DepthResult``) on a SurroundDataset (or a
    dataset folder). Returns ``{"overall", "per_camera", "consistency", "frames", ...}``
    (plus ``per_category`` when the frames have 3D boxes). ``frame_stride`` k > 1 evaluates
    every k-th frame (consecutive frames are near-duplicates), from frame ``first_frame``
    (in the dataset's frame order: scene by scene, in time). ``progress(done, total)`` is
    called once before the first frame (0) and after each."""
    if isinstance(dataset, (str, Path)):
        dataset = open_dataset(dataset)
    keys = list(dataset.iter_frames())[max(0, int(first_frame))::max(1, int(frame_stride))]
    if max_frames:
        keys = keys[:max_frames]
    scores = FrameScores(max_depth, min_depth, consistency)
    infer_ms: list[float] = []
    t0 = time.perf_counter()
    if progress is not None:
        progress(0, len(keys))
    frames = prefetched_frames(dataset, keys)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-score") as scorer, \
            _torch_threads(model_threads()):
        scoring = []  # frame n is scored while frame n + 1 runs through the model
        for n, (scene, index, frame) in enumerate(frames):
            if cancel is not None and cancel.is_set():
                frames.close()
                break
            t = time.perf_counter()
            result = estimator.predict(frame)
            infer_ms.append((time.perf_counter() - t) * 1000)
            scoring = [f for f in scoring if not f.done() or f.result()]  # re-raise errors
            while len(scoring) >= PREFETCH:
                scoring.pop(0).result()
            scoring.append(scorer.submit(scores.add, frame, result))
            if progress is not None:
                progress(n + 1, len(keys))
        for f in scoring:
            f.result()
    per_cam, dense_rows, bin_rows, cons_rows, boxes = (
        scores.per_cam, scores.dense_rows, scores.bin_rows, scores.cons_rows, scores.boxes)
    all_rows = [r for rows in per_cam.values() for r in rows]
    out = {
        "frames": len(infer_ms),
        "max_depth": float(max_depth),
        "overall": _mean(all_rows),
        "per_camera": {name: _mean(rows) for name, rows in per_cam.items()},
        "mean_inference_ms": float(np.mean(infer_ms)) if infer_ms else float("nan"),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    if scores.pooled.counts[0]:
        out["pooled"] = scores.pooled.result()
    if dense_rows:
        out["dense"] = _mean(dense_rows)
    if bin_rows:
        out["bins"] = mean_bin_stats(bin_rows)
    if boxes.frames:
        out["per_category"] = boxes.result()
    if consistency:
        pairs = sorted({k for row in cons_rows for k in row if k != "mean"})
        cons = {k: _nanmean([row[k] for row in cons_rows if k in row]) for k in pairs}
        cons["mean"] = _nanmean([row["mean"] for row in cons_rows]) \
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
    pooled = result.get("pooled")
    if pooled:
        ranges = "  ".join(f"{k[8:].replace('_', '-')} m {pooled[k]:.4f} ({pooled[share]:.0%})"
                           for k, share in zip(RANGE_KEYS, SHARE_KEYS))
        lines.append(f"pooled over {pooled['points']} GT points: AbsRel {pooled['abs_rel']:.4f}; "
                     f"{ranges}")
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
    return atomic_write_text(Path(path), json.dumps(json_safe(data), indent=2, allow_nan=False))
