"""The evaluation pipeline: frames loaded ahead in a thread, scored in another, metrics on GT
pixels only (identical to full-image metrics), consistency stride by image width; and the
real fine-tune spec of the model zoo."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from fsmde_gui.core.errors import FsmdeError
from fsmde_gui.core.metrics import depth_metrics
from fsmde_gui.training import model_zoo
from fsmde_gui.evaluation.evaluate import (CONSISTENCY_WIDTH, evaluate_dataset, image_metrics,
                                         prefetched_frames)


def test_gt_pixel_metrics_equal_full_image_metrics():
    rng = np.random.default_rng(0)
    gt = np.zeros((90, 160), np.float32)
    idx = rng.choice(gt.size, 900, replace=False)
    gt.flat[idx] = rng.uniform(1, 90, 900)  # some beyond the 80 m cap
    pred = rng.uniform(0.5, 85, gt.shape).astype(np.float32)
    pred[0, :5] = np.nan
    m = image_metrics(pred, gt, 80.0, 1e-3)
    full = depth_metrics(pred, gt, max_depth=80.0, min_depth=1e-3)
    med = depth_metrics(pred, gt, max_depth=80.0, min_depth=1e-3, median_scaling=True)
    for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3", "count"):
        assert m[k] == pytest.approx(full[k], rel=1e-12)
    assert m["abs_rel_median"] == pytest.approx(med["abs_rel"], rel=1e-12)
    with pytest.raises(ValueError, match="differ in shape"):
        image_metrics(pred[:, :10], gt, 80.0, 1e-3)


class _Recorder:
    """A dataset stand-in that records which thread loads which frame."""

    def __init__(self, n):
        self.n, self.loaded = n, []

    def frame(self, scene, index, load_gt=True):
        self.loaded.append((index, threading.current_thread().name))
        return f"frame{index}"


def test_frames_are_loaded_ahead_in_order_and_stop_with_the_consumer():
    ds = _Recorder(10)
    keys = [("s", i) for i in range(10)]
    out = [f for _, _, f in prefetched_frames(ds, keys, depth=2)]
    assert out == [f"frame{i}" for i in range(10)]
    assert all(name.startswith("eval-load") for _, name in ds.loaded)
    ds = _Recorder(10)
    gen = prefetched_frames(ds, keys, depth=2)
    next(gen)
    gen.close()  # the consumer stopped (cancel): no more than the look-ahead was loaded
    assert len(ds.loaded) <= 3


def test_eval_on_the_real_keyframe_scores_every_view(keyframe_root):
    from fsmde_gui.evaluation.evaluate import load_estimator

    res = evaluate_dataset(keyframe_root, load_estimator("student_kd"), max_depth=80.0)
    assert res["frames"] == 1 and res["overall"]["images"] == 6
    assert 0.05 < res["overall"]["abs_rel"] < 1.0
    assert np.isfinite(res["consistency"]["mean"])
    assert round(1600 / CONSISTENCY_WIDTH) == 4 and round(448 / CONSISTENCY_WIDTH) == 1


def test_real_fine_tune_spec_needs_a_real_folder(tmp_path):
    spec = next(s for s in model_zoo.specs() if s.name == "student_kd_real")
    assert spec.real_data and spec.init_from == "student_kd" and spec.depends_on == "teacher_sim"
    assert spec.eval_folder == "resources/nuscenes-keyframe"
    with pytest.raises(FsmdeError, match="--real-data"):
        model_zoo.training_folder(spec, tmp_path, None, print)
    with pytest.raises(FsmdeError, match="does not exist"):
        model_zoo.training_folder(spec, tmp_path, tmp_path / "missing", print)
    assert model_zoo.training_folder(spec, tmp_path, tmp_path, print) == tmp_path


def test_models_without_real_data_skip_the_real_spec(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(model_zoo, "build_model", lambda spec, *a, **k: built.append(spec.name))
    said = []
    model_zoo.build_all(tmp_path / "models", None, tmp_path / "data", tmp_path / "runs",
                        say=said.append)
    assert "student_kd_real" not in built and "student_kd" in built
    assert any("skipping student_kd_real" in line and "--real-data" in line for line in said)
