"""Targets over a student's depth bins: soft / linear (two-hot) assignment of depths to bin
centres and the teacher's scale-invariant ordinal bin probabilities (P1's CKD target).

Used by the CKD losses (:mod:`fsmde_gui.training.losses`) and by the app's bin plot (the
teacher curve), so they live with the models, not with the training code. Shapes: depth-like
maps ``(B, V, 1, h, w)``, centres ``(B, V, N)``, probabilities ``(B, V, N, h, w)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def soft_assign(depth: torch.Tensor, centers: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft-assign depths to bin centres: ``softmax_i(-|d - c_i| / tau)``.

    depth ``(B, V, 1, h, w)``, centers ``(B, V, N)`` -> probabilities ``(B, V, N, h, w)``.
    """
    diff = (depth - centers[..., None, None]).abs()  # (B,V,N,h,w) via broadcast of dim 2
    return torch.softmax(-diff / tau, dim=2)


def linear_assign(depth: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Expectation-preserving ("two-hot") assignment of depths to sorted bin centres.

    Each depth d between c_k and c_{k+1} gets q_k = (c_{k+1} - d) / (c_{k+1} - c_k) and
    q_{k+1} = 1 - q_k (depths outside the centres go wholly to the end bin), so that
    ``sum_i q_i c_i == d`` exactly: unlike the softmax assignment it adds no quantisation
    error to the distilled target. depth ``(B, V, 1, h, w)``, centers ``(B, V, N)`` ->
    ``(B, V, N, h, w)``.
    """
    B, V, _, h, w = depth.shape
    N = centers.shape[-1]
    c = centers.reshape(B * V, N).contiguous()
    d = depth.reshape(B * V, h * w).clamp(c[:, :1], c[:, -1:]).contiguous()
    hi = torch.searchsorted(c, d).clamp(1, N - 1)  # c[hi-1] <= d <= c[hi]
    lo = hi - 1
    c_lo, c_hi = c.gather(1, lo), c.gather(1, hi)
    w_lo = ((c_hi - d) / (c_hi - c_lo).clamp_min(1e-6)).clamp(0.0, 1.0)
    q = torch.zeros(B * V, N, h * w, dtype=depth.dtype, device=depth.device)
    q.scatter_add_(1, lo[:, None, :], w_lo[:, None, :])
    q.scatter_add_(1, hi[:, None, :], (1.0 - w_lo)[:, None, :])
    return q.reshape(B, V, N, h, w)


# ---------------------------------------------------------------------------- CKD
CKD_MODES = ("ordinal", "aligned")
CKD_NORMS = ("quantile", "log")


def ordinal_positions(relative: torch.Tensor, num_bins: int, norm: str = "quantile",
                      robust: float = 0.02) -> torch.Tensor:
    """Teacher *disparity* ``(B, V, 1, H, W)`` -> fractional bin index ``(B, V, 1, H, W)`` in
    ``[0, N-1]`` (0 = nearest), per image, with no GT and no metric alignment.

    ``norm="quantile"``: the pixel's rank among the image's pixels, near to far, over
    ``N - 1``; invariant to any monotone change of the teacher's output (scale, shift, gamma).
    ``norm="log"``: ``-log(disparity)`` min-max normalised between its ``robust`` and
    ``1 - robust`` quantiles (clipped); invariant to the teacher's scale, not to a shift.
    """
    B, V, _, H, W = relative.shape
    x = relative.detach().float().reshape(B * V, H * W)
    n = x.shape[1]
    if norm == "quantile":
        order = torch.argsort(x, dim=1, descending=True)  # largest disparity = nearest first
        ranks = torch.empty_like(order)
        ranks.scatter_(1, order, torch.arange(n, device=x.device).expand(B * V, n))
        u = ranks.float() / max(n - 1, 1)
    elif norm == "log":
        z = -torch.log(x.clamp_min(EPS))
        lo = torch.quantile(z, robust, dim=1, keepdim=True)
        hi = torch.quantile(z, 1.0 - robust, dim=1, keepdim=True)
        u = ((z - lo) / (hi - lo).clamp_min(EPS)).clamp(0.0, 1.0)
    else:
        raise ValueError(f"ordinal normalisation must be one of {CKD_NORMS}, got {norm!r}")
    return (u * (num_bins - 1)).reshape(B, V, 1, H, W)


def two_hot(positions: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Fractional bin indices ``(B, V, 1, h, w)`` -> two-hot probabilities ``(B, V, N, h, w)``
    (mass split linearly between the two nearest indices; sum 1; expectation of the index =
    the position)."""
    pos = positions.clamp(0.0, num_bins - 1.0)
    lo = pos.floor().clamp(max=num_bins - 2).long()
    frac = pos - lo.float()
    q = torch.zeros(*pos.shape[:2], num_bins, *pos.shape[3:], dtype=pos.dtype, device=pos.device)
    q.scatter_(2, lo, 1.0 - frac)
    q.scatter_add_(2, lo + 1, frac)
    return q


def ordinal_teacher_probs(relative: torch.Tensor, num_bins: int, hw: tuple[int, int],
                          norm: str = "quantile") -> torch.Tensor:
    """The teacher's scale-invariant bin probabilities at ``hw`` (h, w): the disparity
    (area-resampled when the size differs) through :func:`ordinal_positions` and
    :func:`two_hot`. ``(B, V, N, h, w)``, no gradient."""
    B, V, _, H, W = relative.shape
    rel = relative.detach().float()
    if (H, W) != tuple(hw):
        rel = F.interpolate(rel.reshape(B * V, 1, H, W), size=tuple(hw), mode="area")
        rel = rel.reshape(B, V, 1, *hw)
    return two_hot(ordinal_positions(rel, num_bins, norm), num_bins)
