"""Scale-and-shift alignment of relative disparity to sparse metric GT."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_gui.models.alignment import AlignmentError, align_to_metric, fit_scale_shift


def _scene(seed=0, n=2, h=24, w=32):
    g = torch.Generator().manual_seed(seed)
    depth = 2.0 + 40.0 * torch.rand(n, h, w, generator=g, dtype=torch.float64)
    return depth


def test_exact_recovery_of_known_scale_and_shift():
    depth = _scene()
    true_s = torch.tensor([0.5, 3.0], dtype=torch.float64)
    true_t = torch.tensor([0.02, -0.01], dtype=torch.float64)
    # relative disparity r with 1/depth = s*r + t
    rel = (1.0 / depth - true_t[:, None, None]) / true_s[:, None, None]
    sparse = torch.zeros_like(depth)
    mask = torch.rand(depth.shape, generator=torch.Generator().manual_seed(1)) < 0.05
    sparse[mask] = depth[mask]
    out = align_to_metric(rel.float(), sparse.numpy().astype(np.float32), min_depth=0.5,
                          max_depth=80.0)
    assert out.sources == ["gt", "gt"]
    torch.testing.assert_close(out.scale, true_s, rtol=1e-4, atol=0)
    torch.testing.assert_close(out.shift, true_t, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.depth.double(), depth, rtol=1e-4, atol=1e-4)
    assert out.pairs()[1] == pytest.approx((3.0, -0.01), rel=1e-4, abs=1e-6)


def test_fit_scale_shift_plain_lsq():
    r = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    y = 2.0 * r + 1.0
    s, t, ok = fit_scale_shift(r, y, torch.ones_like(r, dtype=torch.bool))
    assert ok.item() and s.item() == pytest.approx(2.0) and t.item() == pytest.approx(1.0)
    s, t, ok = fit_scale_shift(r, y, torch.tensor([[True, False, False, False]]))
    assert not ok.item()


def test_depth_kind_and_clipping():
    depth = _scene(2, n=1)
    rel = (depth - 1.0) / 2.0  # affine-invariant depth
    out = align_to_metric(rel[0], depth[0], kind="depth", min_depth=5.0, max_depth=30.0)
    assert out.depth.shape == depth.shape[1:]
    assert out.depth.min() >= 5.0 and out.depth.max() <= 30.0
    inside = (depth[0] > 5) & (depth[0] < 30)
    torch.testing.assert_close(out.depth.double()[inside], depth[0][inside], rtol=1e-4, atol=1e-4)


def test_few_points_falls_back_to_median_scaling():
    depth = torch.full((1, 8, 8), 10.0, dtype=torch.float64)
    rel = torch.full((1, 8, 8), 0.5, dtype=torch.float64)  # 1/10 = 0.2 * 0.5
    sparse = torch.zeros_like(depth)
    sparse[0, 2, 3] = 10.0
    sparse[0, 5, 5] = 10.0
    out = align_to_metric(rel, sparse)
    assert out.sources == ["gt-median"]
    assert out.scale.item() == pytest.approx(0.2) and out.shift.item() == 0.0
    torch.testing.assert_close(out.depth, torch.full((1, 8, 8), 10.0))


def test_no_gt_uses_reference_and_no_reference_raises():
    rel = torch.rand(2, 8, 8) + 0.1
    ref = 1.0 / (4.0 * rel)  # reference disparity is 4x relative
    out = align_to_metric(rel, None, reference=ref)
    assert out.sources == ["reference-median"] * 2
    torch.testing.assert_close(out.scale, torch.full((2,), 4.0, dtype=torch.float64))
    with pytest.raises(AlignmentError, match="no usable metric GT"):
        align_to_metric(rel, torch.zeros(2, 8, 8))


def test_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match="gt_depth shape"):
        align_to_metric(torch.rand(2, 8, 8), torch.rand(2, 4, 4))
