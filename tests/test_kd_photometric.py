"""kd with the optional photometric loss against the neighbouring frames (extra.photo_weight)."""
from __future__ import annotations

import pytest
import torch

from fsmde_gui.core.errors import DatasetError, TrainingError
from fsmde_gui.models.checkpoint import build_model, save_checkpoint
from fsmde_gui.training.dataset import SurroundTrainingSet
from fsmde_gui.training.recipes import get_recipe
from fsmde_gui.training.trainer import Trainer

from test_training_trainer import SMALL_TEACHER, make_cfg


@pytest.fixture()
def teacher_path(tmp_path):
    teacher = build_model("teacher_sim", dict(SMALL_TEACHER, input_size=[96, 64]))
    return str(save_checkpoint(tmp_path / "teacher.pt", teacher, meta={}))


def _batch(root, index):
    item = SurroundTrainingSet(root, (96, 64))[index]
    batch = {k: v[None] for k, v in item.items()}
    batch["clean_images"] = batch["images"]
    return batch


def test_photometric_term_joins_the_total_and_reaches_the_student(tiny_sim_root, tmp_path,
                                                                   teacher_path):
    torch.manual_seed(0)
    cfg = make_cfg(tiny_sim_root, tmp_path / "p", recipe="kd", teacher_checkpoint=teacher_path,
                   extra={"photo_weight": 2.0, "smooth_weight": 0.01})
    recipe = get_recipe("kd")(cfg, torch.device("cpu"))
    assert recipe.temporal.sources == [[1], [0, 2], [1]]
    terms = recipe.step(_batch(tiny_sim_root, 1))
    v = {k: float(t.detach()) for k, t in terms.items()}
    assert 0 < v["photo"] < 1 and v["smooth"] >= 0
    others = sum(v[k] * w for k, w in (("gt", 1.0), ("ckd_kl", 1.0), ("ckd_cross", 0.5),
                                       ("vrkd", 1.0), ("bin_chamfer", 0.1)))
    assert v["total"] == pytest.approx(others + 2.0 * v["photo"] + 0.01 * v["smooth"], rel=1e-5)
    recipe.model.zero_grad()
    terms["photo"].backward()  # the photometric term alone moves the student's weights
    grads = [p.grad for p in recipe.model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # the correct depth explains the next frame better than a wrong one (geometry check)
    out = {"depth": _batch(tiny_sim_root, 1)["depth_dense"].clamp_min(0.5)}
    good = recipe._photometric(_batch(tiny_sim_root, 1), out, {})
    out_bad = {"depth": torch.full_like(out["depth"], 3.0)}
    bad = recipe._photometric(_batch(tiny_sim_root, 1), out_bad, {})
    assert float(good) < float(bad)


def test_photometric_needs_consecutive_frames(tiny_sim_root, tmp_path, teacher_path):
    res = Trainer(make_cfg(tiny_sim_root, tmp_path / "t", recipe="kd", steps=2,
                           teacher_checkpoint=teacher_path, extra={"photo_weight": 1.0})).run()
    assert res["event"] == "done" and {"photo", "smooth"} <= set(res["losses"])
    cfg = make_cfg(tiny_sim_root, tmp_path / "one", recipe="kd", teacher_checkpoint=teacher_path,
                   max_frames=1, extra={"photo_weight": 1.0})
    with pytest.raises(DatasetError, match="extra.photo_weight needs consecutive frames"):
        get_recipe("kd")(cfg, torch.device("cpu"))
    with pytest.raises(TrainingError, match="unknown extra option"):
        get_recipe("kd")(make_cfg(tiny_sim_root, tmp_path / "x", recipe="kd",
                                  teacher_checkpoint=teacher_path, extra={"photo_wieght": 1}),
                         torch.device("cpu"))
