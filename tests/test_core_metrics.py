"""Depth metrics with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.metrics import (METRIC_NAMES, average_metrics, depth_metrics,
                                    depth_metrics_per_view)
from fsmde_gui.core.types import CAMERA_NAMES


@pytest.fixture
def gt():
    return np.random.default_rng(0).uniform(2, 70, (40, 60))


def test_perfect_prediction(gt):
    m = depth_metrics(gt, gt)
    assert m["abs_rel"] == 0 and m["sq_rel"] == 0 and m["rmse"] == 0 and m["rmse_log"] == 0
    assert m["a1"] == m["a2"] == m["a3"] == 1.0
    assert m["count"] == gt.size
    assert set(m) == set(METRIC_NAMES) | {"count"}


def test_ten_percent_too_far(gt):
    m = depth_metrics(1.1 * gt, gt, max_depth=100)
    assert m["abs_rel"] == pytest.approx(0.1)
    assert m["sq_rel"] == pytest.approx(np.mean(0.01 * gt))
    assert m["rmse"] == pytest.approx(0.1 * np.sqrt(np.mean(gt ** 2)))
    assert m["rmse_log"] == pytest.approx(np.log(1.1))
    assert m["a1"] == 1.0
    # 1.3x: outside delta < 1.25 but inside 1.25^2
    m = depth_metrics(1.3 * gt, gt, max_depth=100)
    assert (m["a1"], m["a2"], m["a3"]) == (0.0, 1.0, 1.0)
    m = depth_metrics(gt / 1.6, gt, max_depth=100)
    assert (m["a1"], m["a2"], m["a3"]) == (0.0, 0.0, 1.0)


def test_hand_computed_values():
    gt = np.array([[2.0, 4.0], [10.0, 0.0]])  # 0 = no LiDAR return
    pred = np.array([[3.0, 4.0], [8.0, 123.0]])
    m = depth_metrics(pred, gt)
    assert m["count"] == 3
    assert m["abs_rel"] == pytest.approx((0.5 + 0 + 0.2) / 3)
    assert m["sq_rel"] == pytest.approx((1 / 2 + 0 + 4 / 10) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert m["rmse_log"] == pytest.approx(np.sqrt((np.log(2 / 3) ** 2 + np.log(10 / 8) ** 2) / 3))
    # ratios 1.5, 1.0, 1.25: delta < 1.25 is strict, so only the exact pixel passes delta_1
    assert m["a1"] == pytest.approx(1 / 3)
    assert m["a2"] == 1.0 and m["a3"] == 1.0


def test_caps_clipping_and_invalid_gt():
    gt = np.array([1.0, 50.0, 90.0, 0.0, np.nan, 20.0])
    pred = np.array([1.0, 200.0, 90.0, 5.0, 5.0, 0.0])
    m = depth_metrics(pred, gt, max_depth=80.0, min_depth=0.5)
    # valid: gt 1 (exact), gt 50 (pred clipped to 80), gt 20 (pred clipped to 0.5)
    assert m["count"] == 3
    assert m["abs_rel"] == pytest.approx((0 + 30 / 50 + 19.5 / 20) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0 + 30 ** 2 + 19.5 ** 2) / 3))
    m = depth_metrics(np.zeros(3), np.zeros(3))
    assert m["count"] == 0 and all(np.isnan(m[k]) for k in METRIC_NAMES)
    # the cap is strict (gt < max_depth), as in the standard protocol
    assert depth_metrics(np.array([80.0, 79.9]), np.array([80.0, 79.9]))["count"] == 1
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="min_depth"):
        depth_metrics(np.ones(3), np.ones(3), min_depth=5, max_depth=1)


def test_median_scaling_removes_a_global_scale(gt):
    m = depth_metrics(0.37 * gt, gt, max_depth=100, median_scaling=True)
    assert m["scale"] == pytest.approx(1 / 0.37)
    assert m["abs_rel"] == pytest.approx(0, abs=1e-12) and m["a1"] == 1.0
    m_raw = depth_metrics(0.37 * gt, gt, max_depth=100)
    assert m_raw["abs_rel"] == pytest.approx(0.63)


def test_per_view_and_average():
    rng = np.random.default_rng(1)
    gt = rng.uniform(2, 60, (6, 20, 30))
    pred = gt * np.array([1.0, 1.1, 1.2, 1.0, 1.0, 1.0])[:, None, None]
    gt[5] = 0  # a view without GT is left out of the mean
    res = depth_metrics_per_view(pred, gt)
    assert list(res) == list(CAMERA_NAMES) + ["mean"]
    assert res["CAM_FRONT"]["abs_rel"] == pytest.approx(0.1)
    assert res["CAM_BACK_RIGHT"]["count"] == 0
    assert res["mean"]["abs_rel"] == pytest.approx(0.3 / 5)
    assert res["mean"]["num_images"] == 5 and res["mean"]["count"] == 5 * 600
    assert average_metrics([])["count"] == 0
