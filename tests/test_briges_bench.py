"""Region masks and error sums used by benchmarks/bench_briges.py."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root holds benchmarks/
from benchmarks.bench_briges import finish, instance_boundary_mask, region_errors


def test_instance_boundary_mask_radius():
    inst = np.zeros((9, 12), dtype=np.int32)
    inst[:, 6:] = 3  # one vertical edge between columns 5 and 6
    m0 = instance_boundary_mask(inst, radius=0)
    assert m0[:, 5].all() and m0[:, 6].all() and m0.sum() == 18
    m2 = instance_boundary_mask(inst, radius=2)
    assert m2[:, 3:9].all() and not m2[:, :3].any() and not m2[:, 9:].any()
    assert not instance_boundary_mask(np.ones((4, 4), dtype=np.int32)).any()


def test_region_errors_abs_rel_and_delta1():
    gt = np.array([[10.0, 10.0], [10.0, 0.0]])
    pred = np.array([[10.0, 12.0], [20.0, 5.0]])
    e = region_errors(pred, gt, np.ones_like(gt, dtype=bool))
    assert e["count"] == 3  # gt == 0 ignored
    r = finish(e)
    assert np.isclose(r["abs_rel"], (0 + 0.2 + 1.0) / 3)
    assert np.isclose(r["a1"], 2 / 3)
    only = finish(region_errors(pred, gt, np.array([[False, True], [False, False]])))
    assert only["count"] == 1 and np.isclose(only["abs_rel"], 0.2)
