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
    gt_frac = float(item["reflection"].float().mean())
    assert gt_frac > 0.02
    assert float(terms["masked_frac"]) == pytest.approx(gt_frac, rel=1e-6)
    assert "kd" in terms and float(terms["kd"].detach()) >= 0 and torch.isfinite(terms["total"])


def test_temporal_neighbours_stream_from_the_training_set(tiny_sim_root, tmp_path):
    """The recipe keeps no decoded frames: neighbours are read per step through the training
    set (and its on-disk cache), with the per-camera poses and GT masks of the sample."""
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.training.dataset import SurroundTrainingSet
    from fsmde_gui.training.temporal import TemporalIndex

    cache = tmp_path / "cache"
    index = TemporalIndex(SurroundTrainingSet(tiny_sim_root, (64, 48), cache_dir=cache))
    assert index.sources == [[1], [0, 2], [1]]  # 1 scene x 3 frames
    assert not [k for k, v in vars(index).items() if isinstance(v, (list, dict)) and k != "sources"]
    sample = index.sample(2)
    frame = open_dataset(tiny_sim_root, image_size=(64, 48)).frame(*index.frames.keys[2], load_gt=True)
    assert torch.equal(sample["images"], torch.from_numpy(frame.images).permute(0, 3, 1, 2).float() / 255)
    want = np.stack([v.ego_to_world if v.ego_to_world is not None else frame.ego_to_world
                     for v in frame.views])
    assert sample["ego_to_world"].dtype == torch.float64 and np.array_equal(sample["ego_to_world"].numpy(), want)
    assert float(sample["has_reflection"]) == 1.0
    assert np.array_equal(sample["reflection"][:, 0].numpy(), np.stack([v.reflection for v in frame.views]))
    assert [p.name for p in cache.rglob("*.pt")] == ["0000002.pt"]  # read once, then cached
    cfg = _cfg(tiny_sim_root, tmp_path / "g", steps=1, mask="gt")
    cfg.cache_dir = str(cache)
    recipe = get_recipe("reflection-ssl")(cfg, torch.device("cpu"))  # checks sample 0 has GT
    assert recipe.temporal.frames.cache_dir == index.frames.cache_dir
    assert sorted(p.name for p in cache.rglob("*.pt")) == ["0000000.pt", "0000002.pt"]


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


def test_decomposition_prior_batches_and_loss(tiny_sim_root):
    from fsmde_gui.models.intrinsic import ReflectionSSLConfig, ReflectionSSLNet
    from fsmde_gui.training.decomposition_prior import DecompositionPrior

    prior = DecompositionPrior(tiny_sim_root, (64, 48), views=2, seed=0)
    assert len(prior) == 3
    a, b = prior.batch(5), prior.batch(5)
    assert a["images"].shape == (1, 2, 3, 48, 64) and a["specular"].shape == (2, 3, 48, 64)
    assert torch.equal(a["images"], b["images"])  # deterministic per step (resume-safe)
    # the GT layers explain the image: image ~= albedo * shading + specular (up to 8-bit
    # rounding and resizing each layer separately), far better than albedo alone
    recon = a["albedo"] * a["shading"] + a["specular"]
    err = float((recon.clamp(0, 1) - a["images"][0]).abs().mean())
    assert err < 0.04 and err < 0.5 * float((a["albedo"] - a["images"][0]).abs().mean())
    net = ReflectionSSLNet(ReflectionSSLConfig(student=SMALL | {"input_size": [64, 48]},
                                               intrinsic={"widths": [8, 8, 8], "stem": 8}))
    terms = prior.loss(net, 5)
    assert set(terms) >= {"prior", "prior_albedo", "prior_shading", "prior_residual"}
    terms["prior"].backward()
    assert net.intrinsic.out.weight.grad.abs().sum() > 0
    # depth's bin head takes no gradient from the prior (only the decomposition is supervised)
    head = [p for n, p in net.student.named_parameters() if "bin" in n]
    assert head and all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in head)


def test_decomposition_prior_in_the_recipe_and_missing_data(tiny_sim_root, tmp_path):
    cfg = _cfg(tiny_sim_root, tmp_path / "p", steps=1, decomp_data=str(tiny_sim_root),
               decomp_views=1)
    res = Trainer(cfg).run()
    assert res["event"] == "done" and np.isfinite(res["losses"]["prior"])
    with pytest.raises(Exception, match="decomposition prior data not found"):
        get_recipe("reflection-ssl")(_cfg(tiny_sim_root, tmp_path, decomp_data=str(tmp_path / "x")),
                                     torch.device("cpu"))
