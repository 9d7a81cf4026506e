"""Pseudo-depth generation and distillation (docs/METHOD.md, P3).

A teacher pass produces a dense pseudo depth; the student learns from it where the
photometric loss cannot teach it: on reflective pixels (excluded from the photometric loss)
and wherever that loss is unreliable (no source sees the pixel, or the best reprojection
error stays high).

Teachers (``make_pseudo_teacher(spec)``):

* a ``reflection_ssl`` checkpoint (metric depth: the reflection-trained model acting as
  teacher, as in P3) - used as it is;
* the bundled relative teacher (``teacher_sim``, disparity) or any ``output_kind ==
  "disparity"`` model: its disparity is aligned per view (robust scale + shift in inverse
  depth, quantile matching) to the *student's own current depth on reliable pixels* - so the pseudo
  depth inherits the student's metric scale (which comes from the known ego motion) and
  no LiDAR is used anywhere in this recipe.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import nn

from ..core.errors import TrainingError
from ..models.checkpoint import load_checkpoint
from ..models.registry import resolve_model
from .photometric import masked_mean
from ..core.types import MAX_DEPTH_M


def align_disparity_to_depth(disparity: torch.Tensor, depth: torch.Tensor, weight: torch.Tensor,
                             min_depth: float = 0.5, max_depth: float = MAX_DEPTH_M,
                             min_pixels: int = 32, quantiles: tuple[float, float] = (0.2, 0.8)
                             ) -> torch.Tensor:
    """Per-image affine map ``s * disparity + t ~= 1 / depth`` fitted on ``weight`` pixels.

    Robust by construction (the reference depth is the student's own, still noisy): the
    scale matches the inter-quantile ranges (``quantiles``) of the two inverse depths and the
    shift their medians, so ``s > 0`` always and a few wild pixels cannot flip or flatten the
    map (a least-squares fit did, sending most pseudo depth to ``max_depth``). Shapes
    (N, 1, H, W); returns metric depth clamped to [min_depth, max_depth]. Images with fewer
    than ``min_pixels`` reliable pixels use all pixels.
    """
    n = disparity.shape[0]
    x = disparity.reshape(n, -1).double()
    y = (1.0 / depth.clamp_min(1e-3)).reshape(n, -1).double()
    w = weight.reshape(n, -1) > 0.5
    lo, hi = quantiles
    out = []
    for i in range(n):
        sel = w[i] if int(w[i].sum()) >= min_pixels else torch.ones_like(w[i])
        xi, yi = x[i][sel], y[i][sel]
        qx = torch.quantile(xi, torch.tensor([lo, 0.5, hi], dtype=xi.dtype))
        qy = torch.quantile(yi, torch.tensor([lo, 0.5, hi], dtype=yi.dtype))
        if float(qx[2] - qx[0]) > 1e-9 and float(qy[2] - qy[0]) > 0:
            s = (qy[2] - qy[0]) / (qx[2] - qx[0])
            t = qy[1] - s * qx[1]
        else:  # flat teacher or reference: median ratio, no shift
            s = qy[1] / qx[1].clamp_min(1e-9)
            t = torch.zeros((), dtype=x.dtype)
        out.append(s * x[i] + t)
    inv = torch.stack(out).reshape(disparity.shape).float()
    return (1.0 / inv.clamp_min(1.0 / max_depth)).clamp(min_depth, max_depth)


def distillation_mask(reflective: torch.Tensor, terms: dict,
                      error_quantile: float = 0.9) -> torch.Tensor:
    """Where the student learns from pseudo depth: reflective | no valid source | the
    ``1 - error_quantile`` fraction of pixels with the highest remaining photometric error."""
    err = terms["min_error"].detach()
    n = err.shape[0]
    thr = torch.quantile(err.reshape(n, -1).float(), error_quantile, dim=1).view(n, 1, 1, 1)
    unreliable = (err > thr) | ~terms["valid"]
    return reflective.bool() | unreliable


def pseudo_depth_loss(depth: torch.Tensor, pseudo: torch.Tensor, mask: torch.Tensor
                      ) -> torch.Tensor:
    """Mean |log d - log d_pseudo| over ``mask`` (the pseudo depth is a constant target)."""
    diff = (torch.log(depth.clamp_min(1e-3)) - torch.log(pseudo.detach().clamp_min(1e-3))).abs()
    return masked_mean(diff, mask)


class PseudoDepthTeacher:
    """Frozen teacher producing pseudo depth for (B, V, 3, H, W) images."""

    def __init__(self, model: nn.Module, kind: str, name: str = ""):
        if kind not in ("metric", "disparity"):
            raise ValueError(f"pseudo-depth teacher kind must be metric|disparity, got {kind!r}")
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.kind = kind
        self.name = name
        self._cache: dict[int, torch.Tensor] = {}

    def to(self, device) -> "PseudoDepthTeacher":
        self.model.to(device)
        return self

    @torch.no_grad()
    def raw(self, images: torch.Tensor, keys: Optional[list[int]] = None) -> torch.Tensor:
        """(B, V, 1, H, W) teacher output (metric depth or disparity), cached per key."""
        if keys is not None and all(k in self._cache for k in keys):
            return torch.stack([self._cache[k] for k in keys]).to(images.device)
        if self.kind == "metric":
            try:
                out = self.model(images, decompose=False)
            except TypeError:
                out = self.model(images)
            raw = out["depth"].float()
        else:
            raw = self.model(images)["relative"].float()
        if raw.shape[-2:] != images.shape[-2:]:
            b, v = raw.shape[:2]
            raw = nn.functional.interpolate(raw.flatten(0, 1), size=images.shape[-2:],
                                            mode="bilinear", align_corners=False
                                            ).reshape(b, v, 1, *images.shape[-2:])
        if keys is not None:
            for k, r in zip(keys, raw):
                self._cache[k] = r.detach().cpu()
        return raw

    def pseudo_depth(self, images: torch.Tensor, student_depth: torch.Tensor,
                     reliable: torch.Tensor, keys: Optional[list[int]] = None,
                     min_depth: float = 0.5, max_depth: float = MAX_DEPTH_M) -> torch.Tensor:
        """(B, V, 1, H, W) metric pseudo depth (disparity teachers aligned to the student on
        ``reliable`` pixels, (B, V, 1, H, W) bool)."""
        raw = self.raw(images, keys)
        if self.kind == "metric":
            return raw.clamp(min_depth, max_depth)
        b, v = raw.shape[:2]
        aligned = align_disparity_to_depth(raw.flatten(0, 1), student_depth.detach().flatten(0, 1),
                                           reliable.flatten(0, 1).float(), min_depth, max_depth)
        return aligned.reshape(raw.shape)


def make_pseudo_teacher(spec: str, device: torch.device | str = "cpu"
                        ) -> Optional[PseudoDepthTeacher]:
    """``spec``: "" / "none" -> None; a model name (``teacher_sim``,
    ``student_reflection_ssl``) or a checkpoint path -> a frozen teacher."""
    if not spec or spec.lower() == "none":
        return None
    path = resolve_model(spec)
    if not Path(path).exists():
        raise TrainingError(f"{path}: pseudo-depth teacher checkpoint not found "
                            f"(set extra.pseudo_teacher to a checkpoint path, a model name or none)")
    model, meta = load_checkpoint(path)
    kind = "disparity" if getattr(model, "output_kind", "metric") == "disparity" else "metric"
    return PseudoDepthTeacher(model, kind, name=str(path)).to(device)
