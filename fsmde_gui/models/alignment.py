"""Bring a teacher's relative output to metric depth with sparse metric GT (METHOD.md, P1).

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


def _median_ratio(relative: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    r = relative[mask].double()
    y = target[mask].double()
    med_r = r.median()
    return float(y.median() / med_r) if med_r.abs() > 0 else float("nan")


def align_to_metric(relative, gt_depth=None, *, kind: str = "disparity", reference=None,
                    min_depth: float = 0.5, max_depth: float = 80.0,
                    min_points: int = 10) -> Alignment:
    """Align ``relative`` ``(N, H, W)`` (or ``(H, W)``, numpy or torch) to metric depth.

    ``gt_depth``: sparse metric depth of the same shape, 0 / non-finite = no value.
    ``reference``: dense metric depth used when an image has no usable GT.
    """
    if kind not in ("disparity", "depth"):
        raise ValueError(f"kind must be 'disparity' or 'depth', got {kind!r}")
    rel = _as_tensor(relative).detach()
    single = rel.ndim == 2
    if single:
        rel = rel[None]
    if rel.ndim != 3:
        raise ValueError(f"relative must be (N, H, W) or (H, W), got {tuple(rel.shape)}")
    rel64 = rel.double()

    def prepare(depth, name):
        if depth is None:
            return None, None
        d = _as_tensor(depth).detach().to(rel.device).double()
        if single and d.ndim == 2:
            d = d[None]
        if d.shape != rel.shape:
            raise ValueError(f"{name} shape {tuple(d.shape)} != relative shape {tuple(rel.shape)}")
        valid = torch.isfinite(d) & (d > 0) & torch.isfinite(rel64)
        d = torch.where(valid, d, torch.ones_like(d))
        target = 1.0 / d if kind == "disparity" else d
        return target, valid

    gt_t, gt_valid = prepare(gt_depth, "gt_depth")
    ref_t, ref_valid = prepare(reference, "reference")

    n_img = rel.shape[0]
    scale = torch.zeros(n_img, dtype=torch.float64)
    shift = torch.zeros(n_img, dtype=torch.float64)
    sources = [""] * n_img
    if gt_t is not None:
        s, t, ok = fit_scale_shift(rel64, gt_t, gt_valid)
        counts = gt_valid.reshape(n_img, -1).sum(1)
        for i in range(n_img):
            if ok[i] and counts[i] >= min_points and s[i] > 0:
                scale[i], shift[i], sources[i] = s[i].item(), t[i].item(), "gt"
    for i in range(n_img):
        if sources[i]:
            continue
        for target, valid, name in ((gt_t, gt_valid, "gt-median"),
                                    (ref_t, ref_valid, "reference-median")):
            if target is None or not bool(valid[i].any()):
                continue
            ratio = _median_ratio(rel64[i], target[i], valid[i])
            if np.isfinite(ratio) and ratio > 0:
                scale[i], shift[i], sources[i] = ratio, 0.0, name
                break
        if not sources[i]:
            raise AlignmentError(
                f"image {i}: no usable metric GT ({0 if gt_valid is None else int(gt_valid[i].sum())}"
                f" points) and no reference depth to align the relative {kind} to")

    metric = rel64 * scale[:, None, None] + shift[:, None, None]
    if kind == "disparity":
        depth = torch.where(metric > 0, 1.0 / metric.clamp_min(1e-12),
                            torch.full_like(metric, max_depth))
    else:
        depth = metric
    depth = depth.nan_to_num(nan=max_depth, posinf=max_depth).clamp(min_depth, max_depth).float()
    if single:
        depth = depth[0]
    return Alignment(depth=depth, scale=scale, shift=shift, sources=sources)
