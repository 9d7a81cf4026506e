"""Bring a teacher's relative output to metric depth with sparse metric GT (docs/METHOD.md, P1).

Per image, fit ``scale * relative + shift`` to the target by least squares on the pixels that
have GT. For ``kind="disparity"`` (all bundled teachers) the target is the GT's inverse depth
(``1 / d``), so the fit happens in inverse depth; for ``kind="depth"`` it is the depth itself.
Closed form (the 2x2 normal equations, in float64), batched over images.

Fallbacks, per image: with fewer than ``min_points`` GT pixels (default 10) the fit is not
trusted; the scale becomes a median ratio (shift 0) against the GT pixels there are, or, if
none, against a dense ``reference`` depth (e.g. the student's prediction). A fit that turns
the relation upside down (scale <= 0) falls back the same way. With neither GT nor reference
the image cannot be made metric and :class:`AlignmentError` is raised.

The result is metric depth clipped to ``[min_depth, max_depth]`` and a per-image
``(scale, shift)`` plus the source used (``"gt"``, ``"gt-median"``, ``"reference-median"``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import FsmdeError
from ..core.types import MAX_DEPTH_M


class AlignmentError(FsmdeError):
    """A relative map could not be aligned to metric depth (no GT, no reference)."""


@dataclass
class Alignment:
    depth: torch.Tensor  # (N, H, W) metric, clipped
    scale: torch.Tensor  # (N,) float64
    shift: torch.Tensor  # (N,) float64
    sources: list[str]

    def pairs(self) -> list[tuple[float, float]]:
        return [(float(s), float(t)) for s, t in zip(self.scale.tolist(), self.shift.tolist())]


def _as_tensor(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x


def fit_scale_shift(relative: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares ``scale, shift`` per image minimising ``sum_mask (s*r + t - y)^2``.

    ``relative``, ``target``, ``mask``: ``(N, ...)``. Returns ``scale (N,)``, ``shift (N,)``
    (float64) and ``ok (N,)``: False where fewer than 2 points or a degenerate system.
    """
    r = relative.reshape(relative.shape[0], -1).double()
    y = target.reshape(target.shape[0], -1).double()
    m = mask.reshape(mask.shape[0], -1).double()
    y = torch.where(m > 0, y, torch.zeros_like(y))
    n = m.sum(1)
    sr, sy = (m * r).sum(1), (m * y).sum(1)
    srr, sry = (m * r * r).sum(1), (m * r * y).sum(1)
    det = n * srr - sr * sr
    ok = (n >= 2) & (det.abs() > 1e-12 * (n * srr).clamp_min(1e-300))
    safe = torch.where(ok, det, torch.ones_like(det))
    scale = torch.where(ok, (n * sry - sr * sy) / safe, torch.zeros_like(det))
    shift = torch.where(ok, (sy - scale * sr) / n.clamp_min(1), torch.zeros_like(det))
    return scale, shift, ok


def _fit_points(r: torch.Tensor, y: torch.Tensor) -> tuple[float, float, bool]:
    """Least squares ``y ~ s r + t`` for 1-D point sets (float64)."""
    n = r.numel()
    if n < 2:
        return 0.0, 0.0, False
    r, y = r.double(), y.double()
    mr, my = r.mean(), y.mean()
    dr = r - mr
    var = (dr * dr).sum()
    if var <= 1e-12 * (r * r).sum().clamp_min(1e-300):
        return 0.0, 0.0, False
    scale = (dr * (y - my)).sum() / var
    return float(scale), float(my - scale * mr), True


def _median_ratio(r: torch.Tensor, y: torch.Tensor) -> float:
    med_r = r.double().median()
    return float(y.double().median() / med_r) if med_r.abs() > 0 else float("nan")


def _as_maps(depth, rel: torch.Tensor, single: bool, name: str) -> torch.Tensor | None:
    if depth is None:
        return None
    d = _as_tensor(depth).detach().to(rel.device)
    if single and d.ndim == 2:
        d = d[None]
    if d.shape != rel.shape:
        raise ValueError(f"{name} shape {tuple(d.shape)} != relative shape {tuple(rel.shape)}")
    return d


def align_to_metric(relative, gt_depth=None, *, kind: str = "disparity", reference=None,
                    min_depth: float = 0.5, max_depth: float = MAX_DEPTH_M,
                    min_points: int = 10) -> Alignment:
    """Align ``relative`` ``(N, H, W)`` (or ``(H, W)``, numpy or torch) to metric depth.

    ``gt_depth``: sparse metric depth of the same shape, 0 / non-finite = no value.
    ``reference``: dense metric depth used when an image has no usable GT.
    Only the GT pixels enter the fit (float64); the map is transformed in float32.
    """
    if kind not in ("disparity", "depth"):
        raise ValueError(f"kind must be 'disparity' or 'depth', got {kind!r}")
    rel = _as_tensor(relative).detach()
    single = rel.ndim == 2
    if single:
        rel = rel[None]
    if rel.ndim != 3:
        raise ValueError(f"relative must be (N, H, W) or (H, W), got {tuple(rel.shape)}")
    rel = rel.float()
    gt = _as_maps(gt_depth, rel, single, "gt_depth")
    ref = _as_maps(reference, rel, single, "reference")

    rel_np = rel.cpu().numpy()

    def points(maps, i):
        """(relative, target) at the valid pixels of image i (target in the fit's space)."""
        d = maps[i].cpu().numpy().reshape(-1)
        idx = np.flatnonzero(d > 0)  # sparse GT: only these pixels are looked at further
        dv = d[idx].astype(np.float64)
        r = rel_np[i].reshape(-1)[idx]
        keep = np.isfinite(dv) & np.isfinite(r)
        r, dv = torch.from_numpy(r[keep]), torch.from_numpy(dv[keep])
        return r, (1.0 / dv if kind == "disparity" else dv)

    n_img = rel.shape[0]
    scale = torch.zeros(n_img, dtype=torch.float64)
    shift = torch.zeros(n_img, dtype=torch.float64)
    sources = [""] * n_img
    for i in range(n_img):
        gt_pts = points(gt, i) if gt is not None else None
        if gt_pts is not None and gt_pts[0].numel() >= min_points:
            s, t, ok = _fit_points(*gt_pts)
            if ok and s > 0:
                scale[i], shift[i], sources[i] = s, t, "gt"
                continue
        for pts, name in ((gt_pts, "gt-median"),
                          (points(ref, i) if ref is not None else None, "reference-median")):
            if pts is None or pts[0].numel() == 0:
                continue
            ratio = _median_ratio(*pts)
            if np.isfinite(ratio) and ratio > 0:
                scale[i], shift[i], sources[i] = ratio, 0.0, name
                break
        if not sources[i]:
            n_gt = 0 if gt_pts is None else int(gt_pts[0].numel())
            raise AlignmentError(f"image {i}: no usable metric GT ({n_gt} points) and no "
                                 f"reference depth to align the relative {kind} to")

    s32, t32 = scale.float().to(rel.device), shift.float().to(rel.device)
    metric = rel * s32[:, None, None] + t32[:, None, None]
    if kind == "disparity":
        depth = torch.where(metric > 0, 1.0 / metric.clamp_min(1e-12),
                            torch.full_like(metric, max_depth))
    else:
        depth = metric
    depth = depth.nan_to_num(nan=max_depth, posinf=max_depth).clamp(min_depth, max_depth)
    if single:
        depth = depth[0]
    return Alignment(depth=depth, scale=scale, shift=shift, sources=sources)
