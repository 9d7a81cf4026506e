"""Everything the app shows about one frame, computed once (off the GUI thread) and cached.

``analyse_frame(frame, estimators)`` runs each depth model and then asks the core for the
per-camera metrics, the cross-view consistency, the overlaps of adjacent cameras and the
fused point clouds. A part whose engine piece is missing or fails is recorded in
``FrameAnalysis.unavailable[key] = "not available: <reason>"`` instead of raising, so each
panel can say why it is empty.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from ..core.adjacency import camera_adjacency, overlap_masks
from ..core.colormaps import colorize
from ..core.consistency import cross_view_consistency
from ..core.errors import FsmdeError
from ..core.fusion import fuse_depth_maps, fused_point_colors
from ..core.geometry import frame_camera_poses
from ..core.metrics import depth_metrics
from ..core.types import CAMERA_NAMES, MAX_DEPTH_M, SHORT_NAMES, DepthResult, SurroundFrame
from ..models.bin_targets import ordinal_teacher_probs, soft_assign
from .results import CameraMetrics, CloudRequest, FrameConsistency, FrameMetrics
from ..data.images import resize_linear, resize_nearest

MODELS = ("student", "teacher")
MAX_DEPTH = MAX_DEPTH_M
CLOUD_POINT_BUDGET = 60_000  # per model, keeps software-GL drawing and orbiting fluid
CONSISTENCY_WIDTH = 320  # source pixels per row that the shown consistency is computed from


@dataclass
class FrameAnalysis:
    frame: SurroundFrame
    results: dict[str, DepthResult] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    infer_ms: dict[str, float] = field(default_factory=dict)  # wall ms of predict() per model
    metrics: dict[str, FrameMetrics] = field(default_factory=dict)  # per model
    consistency: dict[str, FrameConsistency] = field(default_factory=dict)  # per model
    pairs: list[tuple[int, int]] = field(default_factory=list)
    overlaps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    entropy: Optional[np.ndarray] = None  # (6, H, W) student bin entropy, nats
    reflection: Optional[dict[str, Any]] = None  # {"mask", "score", "iou": [6] or None, "source"}
    clouds: dict[str, Any] = field(default_factory=dict)  # model -> core PointCloud
    cloud_colors: dict[CloudRequest, np.ndarray] = field(default_factory=dict)
    lidar_points: Optional[np.ndarray] = None  # (N, 3) ego
    depth_range: tuple[float, float] = (1.0, 60.0)
    compute_ms: float = 0.0
    reflection_fn: Optional[Callable] = None  # set while the (slow) reflection mask is deferred
    ckd_probs: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # per camera
    display_memo: dict[Any, Any] = field(default_factory=dict, repr=False)  # see memoized()

    @property
    def reflection_pending(self) -> bool:
        return self.reflection is None and self.reflection_fn is not None

    def ensure_reflection(self) -> None:
        """Compute the deferred reflection mask now (call off the GUI thread)."""
        fn = self.reflection_fn
        if self.reflection is None and fn is not None:
            _reflection(self, fn)
            self.reflection_fn = None

    # ------------------------------------------------------------------ convenience
    @property
    def hw(self) -> tuple[int, int]:
        return self.frame.views[0].hw

    def depth(self, model: str) -> Optional[np.ndarray]:
        r = self.results.get(model)
        return None if r is None else r.depth

    def gt(self, cam: int) -> Optional[np.ndarray]:
        return self.frame.views[cam].depth_gt

    def memoized(self, key, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per frame under ``key`` (drawn tiles, bin layout, box
        wireframes): the app fills these on a worker thread and the GUI thread reuses them.
        Shared results: never modify one in place."""
        memo = self.display_memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def note(self, key: str) -> Optional[str]:
        return self.unavailable.get(key)

    def metric_row(self, model: str, name: str) -> Optional[CameraMetrics]:
        """``model``'s metrics of camera ``name`` (or ``"mean"``); None when there are none."""
        m = self.metrics.get(model)
        return None if m is None else m.row(name)

    def consistency_value(self, model: str, name: str) -> Optional[float]:
        """``model``'s consistency of pair ``name`` ("CAM_A|CAM_B", or "mean"), metres."""
        c = self.consistency.get(model)
        return None if c is None else c.value(name)

    def cloud_color(self, model: str, scheme: str) -> Optional[np.ndarray]:
        """Per-point colours of ``model``'s fused cloud in ``scheme``, if computed."""
        return self.cloud_colors.get(CloudRequest(model, scheme))

    def pair_name(self, pair: tuple[int, int]) -> str:
        return f"{CAMERA_NAMES[pair[0]]}|{CAMERA_NAMES[pair[1]]}"

    def pair_label(self, pair: tuple[int, int]) -> str:
        return f"{SHORT_NAMES[CAMERA_NAMES[pair[0]]]}-{SHORT_NAMES[CAMERA_NAMES[pair[1]]]}"

    def values_at(self, cam: int, x: int, y: int) -> dict[str, Any]:
        """What the status bar shows for pixel (x, y) of camera ``cam``."""
        view = self.frame.views[cam]
        h, w = view.hw
        x = int(np.clip(x, 0, w - 1))
        y = int(np.clip(y, 0, h - 1))
        out: dict[str, Any] = {"camera": view.name, "x": x, "y": y}
        for m in MODELS:
            d = self.depth(m)
            out[m] = None if d is None else float(d[cam, y, x])
        gt = view.depth_gt
        out["gt"] = float(gt[y, x]) if gt is not None and gt[y, x] > 0 else None
        if view.semantic is not None:
            cid = int(view.semantic[y, x])
            names = self.frame.class_names
            out["class"] = names[cid] if names and cid < len(names) else str(cid)
        if self.reflection is not None:
            out["reflective"] = bool(self.reflection["mask"][cam, y, x])
        if view.reflection is not None:
            out["reflective_gt"] = bool(view.reflection[y, x])
        return out

    def bins_at(self, cam: int, x: int, y: int) -> Optional[dict[str, np.ndarray | float]]:
        """Bin distributions at a pixel: student probs over its metric centres, the teacher's
        scale-invariant probs soft-assigned to the same centres (as in CKD), GT depth."""
        s = self.results.get("student")
        if s is None or s.bin_probs is None or s.bin_centers is None:
            return None
        h, w = self.hw
        _, n, bh, bw = s.bin_probs.shape
        bx = int(np.clip(x * bw / w, 0, bw - 1))
        by = int(np.clip(y * bh / h, 0, bh - 1))
        centers = np.asarray(s.bin_centers[cam], np.float32)
        out: dict[str, Any] = {"centers": centers,
                               "student": np.asarray(s.bin_probs[cam, :, by, bx], np.float32),
                               "student_depth": float(s.depth[cam, y, x])}
        t = self.results.get("teacher")
        if t is not None:
            q = self.teacher_ckd_probs(cam)
            out["teacher"] = (q[:, by, bx] if q is not None else
                              teacher_bin_probs(np.array([t.depth[cam, y, x]], np.float32),
                                                centers)[:, 0])
            out["teacher_depth"] = float(t.depth[cam, y, x])
        gt = self.gt(cam)
        out["gt"] = float(gt[y, x]) if gt is not None and gt[y, x] > 0 else None
        return out

    def view_bin_mass(self) -> Optional[dict[str, np.ndarray]]:
        """Per camera: metric bin centres, and mean bin-probability mass (student, teacher).
        Computed once per frame (the app asks on a worker thread, then again to draw)."""
        return self.memoized("bin_mass", self._compute_bin_mass)

    def _compute_bin_mass(self) -> Optional[dict[str, np.ndarray]]:
        s = self.results.get("student")
        if s is None or s.bin_probs is None or s.bin_centers is None:
            return None
        centers = np.asarray(s.bin_centers, np.float32)
        out = {"centers": centers, "student": s.bin_probs.mean(axis=(2, 3))}
        t = self.results.get("teacher")
        if t is not None:
            _, _, bh, bw = s.bin_probs.shape
            mass = []
            for v in range(centers.shape[0]):
                q = self.teacher_ckd_probs(v)
                if q is None:
                    d = _resize(t.depth[v], (bh, bw))
                    q = teacher_bin_probs(d.reshape(-1), centers[v])
                mass.append(q.reshape(q.shape[0], -1).mean(axis=1))
            out["teacher"] = np.stack(mass)
        return out

    def teacher_ckd_probs(self, cam: int) -> Optional[np.ndarray]:
        """The teacher's scale-invariant bin probabilities of one view, as CKD distils them
        (its relative output, rank-normalised onto the ordinal grid, bin k = the student's
        bin k), at the student's probability resolution: ``(N, h, w)``; None without a
        relative teacher output. Cached per camera."""
        s, t = self.results.get("student"), self.results.get("teacher")
        if s is None or s.bin_probs is None or t is None or t.relative_depth is None:
            return None
        cache = self.ckd_probs
        if cam not in cache:
            _, n, bh, bw = s.bin_probs.shape
            rel = torch.from_numpy(np.ascontiguousarray(t.relative_depth[cam], np.float32))
            q = ordinal_teacher_probs(rel.reshape(1, 1, 1, *rel.shape), n, (bh, bw))
            cache[cam] = q[0, 0].numpy()
        return cache[cam]


def teacher_bin_probs(depth: np.ndarray, centers: np.ndarray, tau: float | None = None) -> np.ndarray:
    """Soft assignment of (metric-aligned) teacher depths to bin centres: (N, len(depth)).

    Uses the training code's ``soft_assign`` (CKD); tau defaults to the mean
    bin spacing so the distribution spans a few neighbouring bins.
    """
    centers = np.asarray(centers, np.float32)
    if tau is None:
        tau = float(np.mean(np.diff(centers))) if centers.size > 1 else 1.0
        tau = max(tau, 1e-3)
    d = torch.from_numpy(np.asarray(depth, np.float32)).reshape(1, 1, 1, 1, -1)
    c = torch.from_numpy(centers).reshape(1, 1, -1)
    return soft_assign(d, c, tau)[0, 0, :, 0, :].numpy()


def _resize(img: np.ndarray, hw: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``img`` at ``hw`` (H, W) with the data layer's resize helpers (linear or nearest)."""
    wh = (int(hw[1]), int(hw[0]))
    return resize_nearest(img, wh) if nearest else resize_linear(img, wh)


NOTE_CHARS = 200


def _reason(exc: BaseException) -> str:
    """One readable line: "not available: <why>" (long engine messages are cut)."""
    if isinstance(exc, ModuleNotFoundError):
        text = f"{exc.name} is not built yet"
    elif isinstance(exc, (ImportError, FsmdeError, FileNotFoundError)):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    if len(text) > NOTE_CHARS:
        text = text[:NOTE_CHARS - 1] + "…"
    return f"not available: {text}"


def _attempt(analysis: FrameAnalysis, key: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # every engine failure becomes a readable panel note
        analysis.unavailable[key] = _reason(exc)
        if not isinstance(exc, (ImportError, FsmdeError, FileNotFoundError)):
            traceback.print_exc()
        return None


def bin_entropy(probs: np.ndarray) -> np.ndarray:
    """(V, N, h, w) probabilities -> (V, h, w) entropy in nats."""
    p = np.clip(np.asarray(probs, np.float32), 1e-8, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def analyse_frame(frame: SurroundFrame, estimators: dict[str, Any],
                  estimator_notes: Optional[dict[str, str]] = None,
                  reflection_fn: Optional[Callable[[SurroundFrame], tuple]] = None,
                  pairs_cache: Optional[dict] = None, defer_reflection: bool = False) -> FrameAnalysis:
    """Run the models on ``frame`` and compute every derived quantity the panels show.

    ``defer_reflection``: a separate reflection predictor (seconds per frame on a CPU) is not
    run now; ``FrameAnalysis.ensure_reflection()`` runs it when the reflection view needs it."""
    t_start = time.perf_counter()
    a = FrameAnalysis(frame=frame)
    for key, note in (estimator_notes or {}).items():
        a.unavailable[key] = note
    h, w = frame.views[0].hw
    for name in MODELS:
        est = estimators.get(name)
        if est is None:
            a.unavailable.setdefault(name, f"not available: no {name} model loaded")
            continue
        t0 = time.perf_counter()
        res = _attempt(a, name, lambda: est.predict(frame))
        if res is not None:
            a.infer_ms[name] = (time.perf_counter() - t0) * 1000.0
            if res.depth.shape[-2:] != (h, w):
                res.depth = np.stack([_resize(d, (h, w)) for d in res.depth])
            a.results[name] = res
    _depth_range(a)
    _metrics(a)
    _geometry(a, pairs_cache)
    _entropy(a)
    has_model_mask = any(r.reflection_mask is not None for r in a.results.values())
    if defer_reflection and reflection_fn is not None and not has_model_mask:
        a.reflection_fn = reflection_fn
    else:
        _reflection(a, reflection_fn)
    _clouds(a)
    if frame.lidar_points_ego is not None:
        a.lidar_points = np.asarray(frame.lidar_points_ego, np.float32)
    else:
        a.unavailable["lidar"] = "not available: this frame has no LiDAR sweep"
    a.compute_ms = (time.perf_counter() - t_start) * 1000.0
    return a


def _depth_range(a: FrameAnalysis) -> None:
    """One shared depth colour range for every tile: from the GT if there is one, else models."""
    vals = []
    for v in a.frame.views:
        gt = v.depth_gt
        if gt is not None:
            vals.append(gt[gt > 0])
    if not any(len(x) for x in vals):
        for r in a.results.values():
            vals.append(r.depth[r.depth > 0].ravel()[::7])
    vals = [x for x in vals if len(x)]
    if vals:
        allv = np.concatenate(vals)
        lo, hi = np.percentile(allv, [1, 97])
        a.depth_range = (float(max(lo, 0.0)), float(min(max(hi, lo + 1.0), MAX_DEPTH)))


def _metrics(a: FrameAnalysis) -> None:
    if not any(v.depth_gt is not None for v in a.frame.views):
        a.unavailable["metrics"] = "not available: this frame has no depth GT"
        return
    for name, res in a.results.items():
        per = {}
        for c, view in enumerate(a.frame.views):
            gt = view.depth_gt
            if gt is None or not (gt > 0).any():
                continue
            m = _attempt(a, "metrics", lambda: depth_metrics(res.depth[c], gt, max_depth=MAX_DEPTH))
            if m is not None:
                per[view.name] = CameraMetrics.from_dict(m)
        if per:
            a.metrics[name] = FrameMetrics.from_cameras(per)


def _geometry(a: FrameAnalysis, pairs_cache: Optional[dict]) -> None:
    frame = a.frame
    Ks, c2e, hw = frame.intrinsics, frame.cam_to_ego, frame.views[0].hw
    cache_key = (hw, np.round(Ks, 3).tobytes(), np.round(c2e, 4).tobytes())
    cached = pairs_cache.get(cache_key) if pairs_cache is not None else None
    if cached is not None:
        a.pairs, a.overlaps = cached
    else:
        pairs = _attempt(a, "adjacency", lambda: camera_adjacency(Ks, c2e, hw))
        if pairs is not None:
            a.pairs = [tuple(int(i) for i in p) for p in pairs]
            for i, j in a.pairs:
                masks = _attempt(a, "adjacency", lambda: overlap_masks(Ks, c2e, hw, i, j))
                if masks is not None:
                    a.overlaps[(i, j)] = (np.asarray(masks[0], bool), np.asarray(masks[1], bool))
            if pairs_cache is not None and "adjacency" not in a.unavailable:
                pairs_cache[cache_key] = (a.pairs, a.overlaps)
    if not a.results:
        a.unavailable.setdefault("consistency", "not available: no depth model loaded")
        return
    poses = frame_camera_poses(frame)  # camera poses at the frame time (per-camera ego motion)
    # every k-th row and column of the source view (the means of a sample; a 640 px real
    # frame: k = 2, a quarter of the work; the 448 px simulator frames: every pixel)
    stride = max(1, round(hw[1] / CONSISTENCY_WIDTH))
    for name, res in a.results.items():
        pairs = a.pairs or None
        c = _attempt(a, "consistency", lambda: cross_view_consistency(res.depth, Ks, poses,
                                                                      pairs=pairs, stride=stride))
        if c is not None:
            a.consistency[name] = FrameConsistency.from_dict(c)


def _entropy(a: FrameAnalysis) -> None:
    s = a.results.get("student")
    if s is None:
        a.unavailable["entropy"] = a.unavailable.get("student", "not available: no student")
        return
    if s.bin_probs is None:
        a.unavailable["entropy"] = "not available: the student returned no bin probabilities"
        return
    ent = bin_entropy(s.bin_probs)
    a.entropy = np.stack([_resize(e, a.hw) for e in ent])


def _reflection(a: FrameAnalysis, reflection_fn) -> None:
    mask = score = None
    source = ""
    for name in MODELS:
        r = a.results.get(name)
        if r is not None and r.reflection_mask is not None:
            mask, score, source = r.reflection_mask, r.reflection_score, name
            break
    if mask is None and reflection_fn is not None:
        out = _attempt(a, "reflection", lambda: reflection_fn(a.frame))
        if out is not None:
            mask, score = out
            source = "reflection model"
    if mask is None:
        a.unavailable.setdefault("reflection", "not available: no reflection mask predictor")
        return
    mask = np.stack([_resize(m.astype(np.uint8), a.hw, nearest=True) for m in mask]).astype(bool)
    iou = None
    if a.frame.views[0].reflection is not None:
        iou = []
        for c, v in enumerate(a.frame.views):
            inter = np.logical_and(mask[c], v.reflection).sum()
            union = np.logical_or(mask[c], v.reflection).sum()
            iou.append(float(inter / union) if union else 1.0)
    a.reflection = {"mask": mask, "score": score, "iou": iou, "source": source}


def _stride_for(n_pixels: int) -> int:
    stride = 1
    while n_pixels / (stride * stride) > CLOUD_POINT_BUDGET:
        stride += 1
    return stride


def _clouds(a: FrameAnalysis) -> None:
    if not a.results:
        a.unavailable.setdefault("fusion", "not available: no depth model loaded")
        return
    frame = a.frame
    stride = _stride_for(6 * a.hw[0] * a.hw[1])
    Ks, c2e = frame.intrinsics, frame_camera_poses(frame)  # per-camera ego motion compensated
    # the other colourings are drawn only at the fused (every stride-th) pixels: the same
    # colours as full-size images subsampled, at 1 / stride^2 of the work
    sub = (slice(None), slice(None, None, stride), slice(None, None, stride))
    overlaps = {pair: (mi[sub[1:]], mj[sub[1:]]) for pair, (mi, mj) in a.overlaps.items()}
    images = frame.images  # (6, H, W, 3), stacked once for every model's cloud
    overlap_img = np.full(images[sub].shape, 0.35, np.float32)
    for (i, j), (mi, mj) in overlaps.items():
        overlap_img[i][mi] = (1.0, 0.85, 0.2)
        overlap_img[j][mj] = (1.0, 0.85, 0.2)
    for name, res in a.results.items():
        pc = _attempt(a, "fusion", lambda: fuse_depth_maps(res.depth, Ks, c2e, images=images,
                                                             stride=stride, max_depth=MAX_DEPTH))
        if pc is None:
            continue
        a.clouds[name] = pc
        depth = res.depth[sub]
        extra = {"overlap": overlap_img}
        if any(v.depth_gt is not None for v in frame.views):
            extra["error"] = _error_colours(depth, [v.depth_gt for v in frame.views], stride)
        cons = a.consistency.get(name)
        if cons and a.overlaps:
            extra["consistency"] = _consistency_colours(a, cons, overlaps, overlap_img.shape)
        for scheme, img in extra.items():  # the same points, other colours
            colors = _attempt(a, "fusion", lambda: fused_point_colors(depth, img, max_depth=MAX_DEPTH))
            if colors is not None and len(colors) == len(pc.points):
                a.cloud_colors[CloudRequest(name, scheme)] = np.asarray(colors, np.float32)


def _error_colours(depth: np.ndarray, gts: list, stride: int) -> np.ndarray:
    """(V, h, w, 3) float |depth - GT| colours (inferno, 0..5 m) at the fused pixels; black
    for a view without GT."""
    err = np.zeros((*depth.shape, 3), np.float32)
    for c, gt in enumerate(gts):
        if gt is None:
            continue
        gt = gt[::stride, ::stride]
        rgb = colorize(np.abs(depth[c] - gt), 0.0, 5.0, "inferno", valid=gt > 0,
                       invalid_color=(70, 70, 78))
        err[c] = rgb.astype(np.float32) / 255.0
    return err


def _consistency_colours(a: FrameAnalysis, cons, overlaps: dict, shape) -> np.ndarray:
    """Each overlap band in its pair's consistency colour (turbo, 0..max m), grey elsewhere."""
    img = np.full(shape, 0.3, np.float32)
    vmax = max(cons.finite_values() + [1e-3])
    for pair, (mi, mj) in overlaps.items():
        val = cons.value(a.pair_name(pair))
        if val is None or not np.isfinite(val):
            continue
        col = colorize(np.array([[val]]), 0.0, vmax, "turbo")[0, 0] / 255.0
        img[pair[0]][mi] = col
        img[pair[1]][mj] = col
    return img
