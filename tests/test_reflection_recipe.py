"""The reflection-ssl recipe end to end on the tiny simulator scene (few steps, low res)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from fsmde_gui.core.errors import TrainingError
from fsmde_gui.models.checkpoint import load_checkpoint
from fsmde_gui.training.config import TrainConfig
from fsmde_gui.training.recipes import get_recipe, recipe_names
from fsmde_gui.training.trainer import Trainer

SMALL = {"widths": [8, 16, 16, 24, 32], "decoder_widths": [24, 16, 16, 8], "bin_hidden": 16,
         "num_bins": 8, "depths": [1, 1, 1, 1]}


def _cfg(root, out, steps=2, **extra):
    return TrainConfig.from_dict(TrainConfig().to_dict() | {
        "recipe": "reflection-ssl", "dataset": str(root), "out": str(out), "steps": steps,
        "image_size": [64, 48], "student": SMALL, "checkpoint_every": 1, "log_every": 1,
        "num_threads": 2, "extra": {"intrinsic": {"widths": [8, 8, 8], "stem": 8}} | extra})


def test_recipe_is_registered():
    assert "reflection-ssl" in recipe_names()
    assert get_recipe("reflection-ssl").arch == "reflection_ssl"


@pytest.mark.slow
def test_train_resume_and_checkpoint(tiny_sim_root, tmp_path):
    events = []
    res = Trainer(_cfg(tiny_sim_root, tmp_path / "r", steps=2)).run(progress=events.append)
    assert res["event"] == "done" and res["step"] == 2
    for key in ("photo", "smooth", "recon", "albedo", "residual", "shading", "total"):
        assert np.isfinite(res["losses"][key]), key
    # resume: 2 more steps continue from the saved state (the step counter survives)
    res2 = Trainer(_cfg(tiny_sim_root, tmp_path / "r", steps=4), resume=True).run()
    assert res2["event"] == "done" and res2["step"] == 4
    model, meta = load_checkpoint(res2["final"], expected_arch="reflection_ssl")
    assert int(model.steps_seen) == 4 and meta["recipe"] == "reflection-ssl"
    out = model(torch.rand(1, 6, 3, 48, 64))
    assert out["residual"].shape == (1, 6, 3, 48, 64)


@pytest.mark.slow
def test_cancel_stops_early(tiny_sim_root, tmp_path):
    cancel = threading.Event()

    def progress(ev):
        if ev.get("step") == 1:
            cancel.set()

    res = Trainer(_cfg(tiny_sim_root, tmp_path / "c", steps=5)).run(progress=progress,
                                                                    cancel=cancel)
    assert res["event"] == "cancelled" and res["step"] == 1
    assert (tmp_path / "c" / "checkpoints" / "last.pt").exists()


@pytest.mark.slow
def test_gt_mask_is_excluded_and_pseudo_teacher_distils(tiny_sim_root, tmp_path):
    first = Trainer(_cfg(tiny_sim_root, tmp_path / "t", steps=1)).run()
    cfg = _cfg(tiny_sim_root, tmp_path / "k", steps=1, mask="gt", pseudo_teacher=first["final"])
    recipe = get_recipe("reflection-ssl")(cfg, torch.device("cpu"))
    from fsmde_gui.training.dataset import SurroundTrainingSet

    ds = SurroundTrainingSet(tiny_sim_root, (64, 48))
    item = ds[1]
    batch = {k: v[None] for k, v in item.items()}
    batch["clean_images"] = batch["images"]
    terms = recipe.step(batch)
    # the simulator scene has reflective pixels: they left the photometric loss
    gt_frac = float(recipe.temporal.reflection[1].float().mean())
    assert gt_frac > 0.02
    assert float(terms["masked_frac"]) == pytest.approx(gt_frac, rel=1e-6)
    assert "kd" in terms and float(terms["kd"].detach()) >= 0 and torch.isfinite(terms["total"])


def test_bad_options_are_clear_errors(tiny_sim_root, tmp_path):
    with pytest.raises(TrainingError, match="unknown extra option"):
        get_recipe("reflection-ssl")(_cfg(tiny_sim_root, tmp_path, bogus=1), torch.device("cpu"))
    with pytest.raises(TrainingError, match="predicted\\|gt\\|none"):
        get_recipe("reflection-ssl")(_cfg(tiny_sim_root, tmp_path, mask="maybe"),
                                     torch.device("cpu"))
    with pytest.raises(TrainingError, match="not found"):
        get_recipe("reflection-ssl")(_cfg(tiny_sim_root, tmp_path,
                                          pseudo_teacher=str(tmp_path / "nope.pt")),
                                     torch.device("cpu"))
