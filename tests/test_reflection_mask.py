"""Mask math of the reflection test: Mahalanobis distance of the residual, chi-square cut."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from fsmde_gui.models.reflection import (chi2_cdf, chi2_threshold, mahalanobis_sq, mask_scores,
                                         reflection_mask_from_residual)


def _synthetic_residual(seed=0, h=96, w=128):
    g = torch.Generator().manual_seed(seed)
    # correlated diffuse residual: small noise mixed across channels
    mix = torch.tensor([[1.0, 0.6, 0.3], [0.0, 0.8, 0.4], [0.0, 0.0, 0.5]])
    noise = torch.randn(1, 3, h, w, generator=g) * 0.02
    res = torch.einsum("cd,bdhw->bchw", mix, noise) + 0.01
    gt = torch.zeros(1, 1, h, w, dtype=torch.bool)
    gt[..., 20:60, 30:80] = True  # ~16% of the image: a big specular highlight
    gt[..., 70:90, 100:120] = True
    highlight = torch.tensor([0.35, 0.30, 0.25]).view(1, 3, 1, 1)
    res = torch.where(gt, res + highlight + 0.05 * torch.rand(1, 3, h, w, generator=g), res)
    return res, gt


def test_chi2_helpers_match_scipy():
    assert chi2_threshold(0.99, 3) == pytest.approx(11.3449, abs=1e-3)
    x = torch.tensor([0.5, 2.0, 7.8, 11.34, 30.0], dtype=torch.float64)
    np.testing.assert_allclose(chi2_cdf(x, 3).numpy(), chi2.cdf(x.numpy(), 3), atol=1e-6)
    with pytest.raises(ValueError):
        chi2_threshold(1.5, 3)


def test_mahalanobis_matches_numpy():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(2, 3, 8, 9, generator=g, dtype=torch.float64)
    d2 = mahalanobis_sq(f, variance_floor=0.0)
    x = f[1].reshape(3, -1).numpy()
    mu = x.mean(1, keepdims=True)
    cov = (x - mu) @ (x - mu).T / x.shape[1]
    ref = np.einsum("cn,cd,dn->n", x - mu, np.linalg.inv(cov), x - mu)
    np.testing.assert_allclose(d2[1, 0].reshape(-1).numpy(), ref, rtol=1e-8)
    # whitened data: mean d^2 equals the dof
    assert float(d2[1].mean()) == pytest.approx(3.0, rel=1e-6)


def test_known_outlier_region_is_detected():
    res, gt = _synthetic_residual()
    mask, score = reflection_mask_from_residual(res)
    assert mask.shape == gt.shape and mask.dtype == torch.bool
    s = mask_scores(mask.numpy(), gt.numpy())
    assert s["iou"] > 0.9, s
    # soft score: ~1 in the highlight, low on average elsewhere
    assert float(score[gt].mean()) > 0.99
    assert float(score[~gt].mean()) < 0.6
    assert float(score.min()) >= 0.0 and float(score.max()) <= 1.0


def test_plain_covariance_hides_a_large_highlight_robust_one_does_not():
    res, gt = _synthetic_residual(seed=3)
    plain = mahalanobis_sq(res) > chi2_threshold(0.99, 3)  # whole-image statistics
    assert mask_scores(plain.numpy(), gt.numpy())["iou"] < 0.3
    robust = reflection_mask_from_residual(res)[0]
    assert mask_scores(robust.numpy(), gt.numpy())["iou"] > 0.9


def test_flat_residual_gives_no_reflections():
    # residual ~0 everywhere (a purely Lambertian image): noise must not become a mask
    res = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 1e-3
    mask, score = reflection_mask_from_residual(res)
    assert int(mask.sum()) == 0
    assert float(score.max()) == 0.0


def test_valid_mask_restricts_detection():
    res, gt = _synthetic_residual()
    valid = torch.ones_like(gt)
    valid[..., :, :64] = False
    mask, _ = reflection_mask_from_residual(res, valid=valid)
    assert not bool(mask[..., :, :64].any())
    assert bool(mask[..., 20:60, 64:80].all())


def test_mask_scores_values():
    p = np.array([1, 1, 0, 0], bool)
    g = np.array([1, 0, 1, 0], bool)
    s = mask_scores(p, g)
    assert s["iou"] == pytest.approx(1 / 3) and s["precision"] == 0.5 and s["recall"] == 0.5
    with pytest.raises(ValueError):
        mask_scores(p, g[:3])
