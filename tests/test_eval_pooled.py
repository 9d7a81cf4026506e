"""AbsRel pooled over the GT points, overall and per depth range (``result["pooled"]``)."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.types import DepthResult
from fsmde_gui.data.detect import open_dataset
from fsmde_gui.evaluation.evaluate import PooledAbsRel, evaluate_dataset, format_table


def test_pooled_numbers_by_hand():
    pooled = PooledAbsRel(max_depth=80.0, min_depth=0.5)
    pooled.add(np.array([6.0, 12.0, 100.0, 1.0]), np.array([5.0, 20.0, 50.0, 0.1]))
    pooled.add(np.array([np.nan, 15.0]), np.array([4.0, 10.0]))
    r = pooled.result()  # 0.1 m is below min_depth, the NaN prediction is dropped
    assert r["points"] == 4
    # errors 0.2 (5 m), 0.4 (20 m), 0.6 (50 m, prediction clipped to 80), 0.5 (10 m)
    assert r["abs_rel"] == pytest.approx((0.2 + 0.4 + 0.6 + 0.5) / 4)
    assert r["abs_rel_0_10"] == pytest.approx(0.2) and r["share_0_10"] == 0.25
    assert r["abs_rel_10_30"] == pytest.approx(0.45) and r["share_10_30"] == 0.5
    assert r["abs_rel_30_80"] == pytest.approx(0.6) and r["share_30_80"] == 0.25
    assert np.isnan(PooledAbsRel(80.0, 0.5).result()["abs_rel"])


class FarTooFar:
    """1.2 x the LiDAR depth within 10 m, 1.5 x beyond (10 m where there is no GT)."""

    def predict(self, frame):
        d = [np.where(v.depth_sparse > 0, v.depth_sparse, 10.0) for v in frame.views]
        d = [np.where(x < 10, 1.2 * x, 1.5 * x) for x in d]
        return DepthResult(depth=np.stack(d).astype(np.float32), model_name="far-too-far")


def test_pooled_on_the_real_keyframe(keyframe_root):
    res = evaluate_dataset(open_dataset(keyframe_root), FarTooFar(), consistency=False)
    p = res["pooled"]
    assert p["points"] == res["overall"]["count"] > 10000
    assert p["abs_rel_0_10"] == pytest.approx(0.2, rel=1e-4)
    assert p["abs_rel_10_30"] == pytest.approx(0.5, rel=1e-4)
    assert p["share_0_10"] + p["share_10_30"] + p["share_30_80"] == pytest.approx(1.0)
    decomposed = sum(p["share" + k] * p["abs_rel" + k] for k in ("_0_10", "_10_30", "_30_80"))
    assert p["abs_rel"] == pytest.approx(decomposed, rel=1e-9)
    assert 0.2 < p["abs_rel"] < 0.5
    assert f"pooled over {p['points']} GT points" in format_table(res)
