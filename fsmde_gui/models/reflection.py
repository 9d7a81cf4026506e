"""Reflection masks from an intrinsic decomposition (docs/METHOD.md, P3).

A pixel is *reflective* when its non-Lambertian residual (image - albedo * shading) is an
outlier against the residual statistics of its own image. The test is the Mahalanobis
distance of the per-pixel residual (RGB, 3 degrees of freedom) to the image's residual mean
and covariance:

    d^2(x) = (r(x) - mu)^T Sigma^-1 (r(x) - mu)

Under a Gaussian model of the (diffuse, well-explained) residual, d^2 follows a chi-square
law with 3 dof, so

* ``mask``  = d^2 > chi2.ppf(quantile, dof)   (default quantile 0.99 -> d^2 > 11.34), and
* ``score`` = chi2.cdf(d^2, dof) in [0, 1]    (the soft reflection score),

with two guards that make the test usable on real residuals: the mean/covariance are
estimated robustly (reweighted MCD: a large reflective area would otherwise inflate Sigma
and hide itself), and a pixel only counts as reflective when its residual is
also large in absolute terms (``min_residual``), so images whose residual is almost zero
everywhere do not turn sensor noise into "reflections".

This module is the mask math only; :mod:`fsmde_gui.models.reflection_model` runs the shipped
reflection-aware model (``predict_reflection(frame)``) and evaluates it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import numpy as np
import torch

DEFAULT_QUANTILE = 0.99
DEFAULT_MIN_RESIDUAL = 0.03  # mean |residual| over RGB, image in [0, 1]
VARIANCE_FLOOR = 1e-4  # (0.01)^2: residual noise below this is treated as this


@lru_cache(maxsize=32)
def chi2_threshold(quantile: float = DEFAULT_QUANTILE, dof: int = 3) -> float:
    """The chi-square quantile used as the d^2 threshold (0.99, 3 dof -> 11.345)."""
    from scipy.stats import chi2

    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    return float(chi2.ppf(quantile, dof))


def chi2_cdf(d2: torch.Tensor, dof: int) -> torch.Tensor:
    """Chi-square CDF with ``dof`` degrees of freedom = regularised lower gamma P(k/2, x/2)."""
    return torch.special.gammainc(torch.full_like(d2, dof / 2.0), d2.clamp_min(0) / 2.0)


def mahalanobis_sq(features: torch.Tensor, weights: Optional[torch.Tensor] = None,
                   variance_floor: float = VARIANCE_FLOOR) -> torch.Tensor:
    """Squared Mahalanobis distance of each pixel's feature vector to the image statistics.

    Args:
        features: (B, C, H, W) per-pixel feature (e.g. RGB residual).
        weights: optional (B, 1, H, W) in [0, 1]: which pixels the mean/covariance are
            estimated from (inliers). All pixels when None.
        variance_floor: added to the covariance diagonal (keeps it invertible).
    Returns:
        (B, 1, H, W) d^2 >= 0.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    x = features.reshape(b, c, h * w).double()
    if weights is None:
        wts = torch.ones(b, 1, h * w, dtype=x.dtype, device=x.device)
    else:
        wts = weights.reshape(b, 1, h * w).to(x.dtype)
    n = wts.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (x * wts).sum(-1, keepdim=True) / n  # (B, C, 1)
    xc = x - mean
    cov = torch.einsum("bcn,bdn->bcd", xc * wts, xc) / n  # (B, C, C)
    cov = cov + variance_floor * torch.eye(c, dtype=x.dtype, device=x.device)
    sol = torch.linalg.solve(cov, xc)  # (B, C, N)
    d2 = (xc * sol).sum(1).clamp_min(0)
    return d2.reshape(b, 1, h, w).to(features.dtype)


def robust_mahalanobis_sq(features: torch.Tensor, valid: Optional[torch.Tensor] = None,
                          iterations: int = 3, quantile: float = DEFAULT_QUANTILE,
                          variance_floor: float = VARIANCE_FLOOR) -> torch.Tensor:
    """d^2 against a *robust* mean/covariance (reweighted minimum-covariance-determinant).

    A plain covariance over the whole image is inflated by the outliers themselves: with a
    highlight covering 20 % of the image their d^2 can never exceed ~(1-p)/p = 4, so nothing
    would be detected. As in FastMCD: start from the half of the pixels closest to the
    per-channel median, refine that half a few times (C-steps), rescale the covariance for
    consistency (median d^2 = chi2 median), then re-estimate once on all chi-square inliers.
    """
    b, c, h, w = features.shape
    thr = chi2_threshold(quantile, c)
    flat = features.reshape(b, c, -1)
    vmask = (valid.reshape(b, 1, -1).bool() if valid is not None
             else torch.ones(b, 1, flat.shape[-1], dtype=torch.bool, device=features.device))
    out = []
    for i in range(b):
        x = flat[i][:, vmask[i, 0]]  # (C, n)
        if x.shape[1] < c + 2:
            out.append(torch.zeros(h * w, dtype=features.dtype, device=features.device))
            continue
        med = x.median(dim=1, keepdim=True).values
        mad = (x - med).abs().median(dim=1, keepdim=True).values * 1.4826
        d0 = (((x - med) / (mad + variance_floor ** 0.5)) ** 2).sum(0)
        half = d0 <= d0.median()
        for _ in range(max(1, iterations)):  # C-steps on the best half
            d = mahalanobis_sq(x.reshape(1, c, 1, -1), half.reshape(1, 1, 1, -1).float(),
                               variance_floor).reshape(-1)
            half = d <= d.median()
        chi_med = chi2_threshold(0.5, c)
        scale = float(d.median()) / chi_med if float(d.median()) > 0 else 1.0
        inlier = (d / max(scale, 1e-12)) <= thr  # reweighting step
        full = flat[i].reshape(1, c, 1, -1)
        wts = torch.zeros(1, 1, 1, flat.shape[-1], device=features.device)
        idx = vmask[i, 0].nonzero().reshape(-1)
        wts[0, 0, 0, idx] = inlier.float()
        out.append(mahalanobis_sq(full, wts, variance_floor).reshape(-1))
    return torch.stack(out).reshape(b, 1, h, w)


def reflection_mask_from_residual(residual: torch.Tensor, quantile: float = DEFAULT_QUANTILE,
                                  min_residual: float = DEFAULT_MIN_RESIDUAL,
                                  iterations: int = 3, valid: Optional[torch.Tensor] = None,
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel reflective mask and soft score from a non-Lambertian residual.

    Args:
        residual: (B, 3, H, W) residual / specular component (image units, 0..1).
        quantile: chi-square quantile of the outlier test (3 dof).
        min_residual: a reflective pixel's mean |residual| must also exceed this.
        iterations: C-steps of the robust (MCD) estimate.
        valid: optional (B, 1, H, W) bool: pixels that take part (others are never masked).
    Returns:
        ``mask`` (B, 1, H, W) bool and ``score`` (B, 1, H, W) float in [0, 1] (chi2 CDF of
        d^2; pixels below ``min_residual`` or outside ``valid`` get 0).
    """
    with torch.no_grad():
        res = residual.detach().float()
        dof = res.shape[1]
        thr = chi2_threshold(quantile, dof)
        d2 = robust_mahalanobis_sq(res, valid=valid, iterations=iterations, quantile=quantile)
        big = res.abs().mean(1, keepdim=True) > min_residual
        gate = big if valid is None else big & valid.bool()
        mask = (d2 > thr) & gate
        score = chi2_cdf(d2, dof) * gate.float()
    return mask, score


def mask_scores(pred: np.ndarray, gt: np.ndarray) -> dict:
    """IoU / precision / recall of a boolean mask against GT (any shape, same shape)."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {gt.shape}")
    tp = float(np.logical_and(pred, gt).sum())
    fp = float(np.logical_and(pred, ~gt).sum())
    fn = float(np.logical_and(~pred, gt).sum())
    return {
        "iou": tp / (tp + fp + fn) if tp + fp + fn > 0 else 1.0,
        "precision": tp / (tp + fp) if tp + fp > 0 else 1.0,
        "recall": tp / (tp + fn) if tp + fn > 0 else 1.0,
        "pred_fraction": float(pred.mean()) if pred.size else 0.0,
        "gt_fraction": float(gt.mean()) if gt.size else 0.0,
    }


def reflection_outputs(residual: torch.Tensor, hw: tuple[int, int],
                       quantile: float = DEFAULT_QUANTILE,
                       min_residual: float = DEFAULT_MIN_RESIDUAL) -> tuple[np.ndarray, np.ndarray]:
    """Mask (V, H, W) bool and score (V, H, W) float32 at image size ``hw`` from a model's
    residual (V, 3, h, w) (what ``DepthEstimator`` puts into ``DepthResult``)."""
    import torch.nn.functional as F

    mask, score = reflection_mask_from_residual(residual.float().cpu(), quantile=quantile,
                                                min_residual=min_residual)
    if tuple(mask.shape[-2:]) != tuple(hw):
        # mask == (score > quantile) at the model size; keep that identity at image size
        score = F.interpolate(score, size=tuple(hw), mode="bilinear", align_corners=False)
        mask = score > quantile
    return mask[:, 0].numpy(), score[:, 0].clamp(0, 1).numpy().astype(np.float32)
