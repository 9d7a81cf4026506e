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

``predict_reflection(frame)`` runs the shipped reflection-aware model
(``models/student_reflection_ssl.*``) on any SurroundFrame and returns the mask and score at
the frame's resolution.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
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


def default_reflection_model_path() -> Path:
    """The shipped reflection-aware model (``models/student_reflection_ssl.pt``)."""
    from .registry import model_path

    return Path(model_path("student_reflection_ssl"))


def predict_reflection(frame, checkpoint: Optional[str | Path] = None,
                       quantile: float = DEFAULT_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """Reflection mask and soft score of every view of ``frame`` (any source, any size).

    Runs the intrinsic branch of the reflection-aware model (shipped checkpoint unless
    ``checkpoint`` is given) and applies :func:`reflection_mask_from_residual` per view.
    Returns ``mask`` (6, H, W) bool and ``score`` (6, H, W) float32 at the frame's size.
    """
    from .intrinsic import load_reflection_model, run_decomposition

    model = load_reflection_model(checkpoint or default_reflection_model_path())
    out = run_decomposition(model, frame, quantile=quantile)
    return out["reflection_mask"], out["reflection_score"]


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
                              max_depth: float = 80.0) -> dict:
    """Held-out evaluation of a ``reflection_ssl`` model on a simulator dataset.

    Runs at the model's input size (GT loaded at that size). Returns AbsRel on GT-reflective
    and non-reflective pixels (dense GT depth, capped at ``max_depth``, no median scaling:
    the depth is metric), predicted-mask IoU / precision / recall against the GT reflection
    mask, and scale-invariant MSE of albedo / shading against GT next to the trivial
    decomposition (albedo = image, shading = 1) as a reference.
    """
    from ..core.errors import DatasetError
    from ..data.detect import open_dataset
    from .intrinsic import run_decomposition

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
