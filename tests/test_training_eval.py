"""Evaluation: metric aggregation on known predictions, JSON layout, real keyframe via the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fsmde_gui.core.types import CAMERA_NAMES, DepthResult
from fsmde_gui.data.detect import open_dataset
from fsmde_gui.models.checkpoint import build_model, save_checkpoint
from fsmde_gui.evaluation.evaluate import METRIC_KEYS, evaluate_dataset, format_table

TINY_STUDENT = {"widths": [8, 16, 24, 32, 48], "depths": [1, 1, 1, 1],
                "decoder_widths": [32, 24, 16, 16], "bin_hidden": 32, "num_bins": 16,
                "input_size": [96, 64]}


class OracleEstimator:
    """Predicts ``factor`` x the GT (sparse where present, dense elsewhere)."""

    def __init__(self, factor: float):
        self.factor = factor

    def predict(self, frame):
        maps = []
        for v in frame.views:
            d = v.depth_dense.copy() if v.depth_dense is not None else np.full(v.hw, 10.0, np.float32)
            if v.depth_sparse is not None:
                d = np.where(v.depth_sparse > 0, v.depth_sparse, d)
            maps.append(d * self.factor)
        return DepthResult(depth=np.stack(maps).astype(np.float32), model_name="oracle")


def test_oracle_and_doubled_predictions(tiny_sim_root):
    ds = open_dataset(tiny_sim_root)
    exact = evaluate_dataset(ds, OracleEstimator(1.0), max_depth=80.0)
    assert exact["frames"] == 3
    assert exact["overall"]["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert exact["overall"]["a1"] == pytest.approx(1.0)
    assert set(exact["per_camera"]) == set(CAMERA_NAMES)
    assert all(m["images"] == 3 for m in exact["per_camera"].values())
    double = evaluate_dataset(ds, OracleEstimator(2.0), max_depth=80.0, consistency=False)
    # pred = 2 gt (before the 80 m cap on pred): AbsRel = 1 except where 2 gt > 80 m
    assert 0.5 < double["overall"]["abs_rel"] <= 1.0 + 1e-6
    assert double["overall"]["a1"] < 0.2
    # ... but after per-image median scaling the doubled prediction is exact
    assert double["overall"]["abs_rel_median"] == pytest.approx(0.0, abs=1e-6)
    assert "bins" not in double  # the oracle has no bins
    assert "consistency" not in double
    # consistent oracle depths agree across views better than doubled ones
    assert "mean" in exact["consistency"]
    assert set(METRIC_KEYS) <= set(exact["overall"])
    table = format_table(exact, "oracle")
    assert "overall" in table and "FL" in table and "abs_rel" in table


def test_first_frame_selects_the_tail_of_the_frames(tiny_sim_root):
    """``first_frame`` (``fsmde eval --first-frame``): a validation split at the end."""
    seen = []

    class Recording(OracleEstimator):
        def predict(self, frame):
            seen.append(frame.frame_index)
            return super().predict(frame)

    ds = open_dataset(tiny_sim_root)
    res = evaluate_dataset(ds, Recording(1.0), max_depth=80.0, consistency=False, first_frame=1)
    assert res["frames"] == 2 and seen == [1, 2]
    seen.clear()
    res = evaluate_dataset(ds, Recording(1.0), max_depth=80.0, consistency=False, first_frame=2,
                           max_frames=5)
    assert res["frames"] == 1 and seen == [2]


@pytest.mark.slow
def test_eval_cli_on_real_keyframe(keyframe_root, tmp_path):
    from fsmde_gui.cli import main

    ckpt = save_checkpoint(tmp_path / "s.pt", build_model("student", TINY_STUDENT), meta={})
    out = tmp_path / "eval.json"
    assert main(["eval", "--dataset", str(keyframe_root), "--student", str(ckpt),
                 "--max-depth", "80", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["frames"] == 1 and data["max_depth"] == 80.0
    assert set(data["per_camera"]) == set(CAMERA_NAMES)
    for m in data["per_camera"].values():
        assert m["images"] == 1 and m["count"] > 1000  # real LiDAR points per camera
        assert np.isfinite(m["abs_rel"]) and 0 <= m["a1"] <= 1
    assert np.isfinite(data["consistency"]["mean"])
    assert main(["eval", "--dataset", str(keyframe_root)]) == 2  # no model given


def test_write_json_is_strict_json(tmp_path):
    from fsmde_gui.evaluation.evaluate import write_json

    path = write_json(tmp_path / "r.json", {"consistency": {"A|B": float("nan"), "mean": 1.5},
                                            "x": np.float32(2.0)})
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"consistency": {"A|B": None, "mean": 1.5}, "x": 2.0}
    assert not list(tmp_path.glob(".*.tmp"))


def test_image_metrics_median_scaled_and_per_range_abs_rel():
    from fsmde_gui.evaluation.evaluate import EXTRA_KEYS, image_metrics

    gt = np.zeros((4, 6), np.float32)
    gt[0, :3] = [2.0, 5.0, 8.0]  # 0-10 m
    gt[1, :3] = [12.0, 20.0, 25.0]  # 10-30 m; nothing in 30-80 m
    m = image_metrics(2.0 * gt, gt, max_depth=80.0, min_depth=1e-3)
    assert set(EXTRA_KEYS) <= set(m)
    assert m["abs_rel"] == pytest.approx(1.0)
    assert m["abs_rel_median"] == pytest.approx(0.0, abs=1e-9)  # scale only: shape is exact
    assert m["abs_rel_0_10"] == pytest.approx(1.0) and m["abs_rel_10_30"] == pytest.approx(1.0)
    assert np.isnan(m["abs_rel_30_80"])
    pred = np.where(gt < 10, 1.1 * gt, 0.8 * gt).astype(np.float32)
    gt[2, 0], pred[2, 0] = 40.0, 30.0  # one far pixel, 25 % off
    m = image_metrics(pred, gt, max_depth=80.0, min_depth=1e-3)
    assert m["abs_rel_0_10"] == pytest.approx(0.1, rel=1e-5)
    assert m["abs_rel_10_30"] == pytest.approx(0.2, rel=1e-5)
    assert m["abs_rel_30_80"] == pytest.approx(0.25, rel=1e-5)
    assert m["abs_rel"] == pytest.approx((3 * 0.1 + 3 * 0.2 + 0.25) / 7, rel=1e-5)


def test_evaluate_student_reports_dense_and_bin_sections(tiny_sim_root, tmp_path):
    from fsmde_gui.evaluation.evaluate import load_estimator

    ckpt = save_checkpoint(tmp_path / "s.pt", build_model("student", TINY_STUDENT), meta={})
    res = evaluate_dataset(tiny_sim_root, load_estimator(str(ckpt)), max_depth=80.0,
                           consistency=False)
    o = res["overall"]
    assert o["images"] == 18 and np.isfinite(o["abs_rel_median"])
    assert {"abs_rel", "rmse", "a1", "abs_rel_median", "abs_rel_0_10"} <= set(res["dense"])
    assert res["dense"]["images"] == 18 and res["dense"]["count"] > o["count"]  # dense > LiDAR
    bins = res["bins"]
    assert bins["images"] == 18
    # a fresh student has log bins with the spread floor: 16 centres >= 17 % apart
    assert bins["distinct"] == 1.0
    assert 0.0 < bins["nearest_rel"] < 1.0
    assert 1.0 / 16 <= bins["mass_use"] <= 1.0
    table = format_table(res, "student")
    lines = table.splitlines()
    assert any(line.startswith("AbsRel median-scaled") for line in lines)
    assert any(line.startswith("dense GT:") and "median-scaled" in line for line in lines)
    assert any(line.startswith("bins: distinct centres 100.0%") for line in lines)


def test_eval_cli_refuses_a_first_frame_past_the_data(tiny_sim_root, capsys):
    """``--first-frame`` at or past the last frame: one line naming the folder and the frames
    it has (exit 2), not an empty table of NaNs."""
    from fsmde_gui.cli import main

    assert main(["eval", "--dataset", str(tiny_sim_root), "--student", "student_kd_lite",
                 "--first-frame", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fsmde eval: error: --first-frame 3: {tiny_sim_root} has 3 frame(s), "
                   f"numbered 0..2 across its scenes"]
