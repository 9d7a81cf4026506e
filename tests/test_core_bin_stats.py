"""Bin coverage figures (core/bin_stats.py) on known centres, probabilities and GT."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fsmde_gui.core.bin_stats import (BIN_STAT_KEYS, bin_stats, distinct_fraction, mass_use,
                                      mean_bin_stats, nearest_center_distance)


def test_distinct_fraction_collapsed_vs_log_spaced():
    spread = np.geomspace(1.0, 80.0, 15)
    collapsed = np.concatenate([np.full(17, 0.5), spread])  # 17 bins on one depth
    assert distinct_fraction(collapsed) == pytest.approx(16 / 32)
    rng = np.random.default_rng(0)
    assert distinct_fraction(rng.permutation(collapsed)) == pytest.approx(16 / 32)  # unsorted
    assert distinct_fraction(np.geomspace(0.5, 80.0, 32)) == 1.0
    # neighbours 1 % apart are below the 2 % step: every other one counts
    assert distinct_fraction(10.0 * 1.01 ** np.arange(10)) == pytest.approx(5 / 10)
    assert distinct_fraction(np.array([3.0])) == 1.0
    assert math.isnan(distinct_fraction(np.zeros(0)))


def test_nearest_center_distance_known_values():
    c = np.array([4.0, 1.0, 2.0])  # sorted internally
    gt = np.array([[1.5, 3.0, 10.0], [0.0, np.nan, 0.5]])  # 0 and nan are no GT
    rel = nearest_center_distance(c, gt)
    np.testing.assert_allclose(rel, [0.5 / 1.5, 1.0 / 3.0, 0.6, 1.0])
    np.testing.assert_allclose(nearest_center_distance(np.array([5.0]), np.array([10.0, 4.0])),
                               [0.5, 0.25])
    assert nearest_center_distance(c, np.zeros(4)).size == 0
    np.testing.assert_allclose(nearest_center_distance(c, c), 0.0)


def test_mass_use_uniform_one_hot_and_two_bins():
    N = 8
    assert mass_use(np.full((N, 4, 5), 1.0 / N)) == pytest.approx(1.0)
    one_hot = np.zeros((N, 4, 5))
    one_hot[3] = 1.0
    assert mass_use(one_hot) == pytest.approx(1.0 / N)
    # each pixel one-hot, but half the pixels in bin 0 and half in bin 5: mass spread on two
    split = np.zeros((N, 4, 5))
    split[0, :2] = 1.0
    split[5, 2:] = 1.0
    assert mass_use(split) == pytest.approx(2.0 / N)


def test_bin_stats_one_image_and_caps_gt_at_max_depth():
    c = np.array([1.0, 2.0, 4.0])
    probs = np.full((3, 2, 2), 1.0 / 3)
    gt = np.array([[1.5, 3.0], [100.0, 0.0]])  # 100 m is beyond max_depth: ignored
    s = bin_stats(c, probs, gt, max_depth=80.0)
    assert set(s) == set(BIN_STAT_KEYS)
    assert s["distinct"] == 1.0
    assert s["nearest_rel"] == pytest.approx(1.0 / 3.0)
    assert s["mass_use"] == pytest.approx(1.0)
    s = bin_stats(c, None, None)
    assert s["distinct"] == 1.0 and math.isnan(s["nearest_rel"]) and math.isnan(s["mass_use"])
    assert math.isnan(bin_stats(c, probs, np.zeros((2, 2)))["nearest_rel"])


def test_mean_bin_stats_nan_aware():
    rows = [{"distinct": 1.0, "nearest_rel": 0.1, "mass_use": float("nan")},
            {"distinct": 0.5, "nearest_rel": float("nan"), "mass_use": float("nan")},
            {"distinct": 0.0, "nearest_rel": 0.3, "mass_use": float("nan")}]
    m = mean_bin_stats(rows)
    assert m["images"] == 3
    assert m["distinct"] == pytest.approx(0.5)
    assert m["nearest_rel"] == pytest.approx(0.2)
    assert math.isnan(m["mass_use"])
    empty = mean_bin_stats([])
    assert empty["images"] == 0 and all(math.isnan(empty[k]) for k in BIN_STAT_KEYS)
