"""Recipes briges-gate and semantic: one step on a synthetic batch, frozen bases, learning."""
from __future__ import annotations

import pytest
import torch

from fsmde_gui.core.errors import TrainingError
from fsmde_gui.models.checkpoint import save_checkpoint
from fsmde_gui.models.semantic_sim import SemanticSimConfig, SemanticSimNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet
from fsmde_gui.training.config import TrainConfig
from fsmde_gui.training.recipe_briges_gate import (BriGeSGateRecipe, affine_invariant_loss,
                                                   minmax_normalise)
from fsmde_gui.training.recipe_semantic import SemanticRecipe, balanced_cross_entropy
from fsmde_gui.training.recipes import get_recipe

torch.set_num_threads(1)


@pytest.fixture()
def base_paths(tmp_path):
    torch.manual_seed(0)
    depth = TeacherSimNet(TeacherConfig.from_dict(dict(
        widths=[8, 16, 24, 32, 48], depths=[1, 1, 1, 1], decoder_widths=[32, 24, 16, 8],
        input_size=[96, 64])))
    sem = SemanticSimNet(SemanticSimConfig(num_classes=13, widths=(8, 8, 16, 16),
                                           feature_channels=16))
    return (save_checkpoint(tmp_path / "depth.pt", depth),
            save_checkpoint(tmp_path / "sem.pt", sem))


def _batch(dense: bool = True):
    g = torch.Generator().manual_seed(0)
    depth = 2.0 + 30.0 * torch.rand(1, 6, 1, 64, 96, generator=g)
    depth[..., :10, :] = 0  # "sky"
    return {"images": torch.rand(1, 6, 3, 64, 96, generator=g),
            "depth_dense": depth if dense else torch.zeros_like(depth),
            "has_dense": torch.tensor([1.0 if dense else 0.0]),
            "semantic": torch.randint(0, 13, (1, 6, 64, 96), generator=g).to(torch.int16),
            "has_semantic": torch.tensor([1.0])}


def test_recipes_are_registered():
    assert get_recipe("briges-gate") is BriGeSGateRecipe
    assert get_recipe("semantic") is SemanticRecipe


def test_minmax_normalise_and_affine_invariance():
    x = torch.rand(2, 6, 1, 8, 8) * 5 + 3
    n = minmax_normalise(x)
    assert torch.allclose(n.amin(dim=(-2, -1)), torch.zeros(2, 6, 1), atol=1e-6)
    assert torch.allclose(n.amax(dim=(-2, -1)), torch.ones(2, 6, 1), atol=1e-4)
    gt = 1.0 + 20 * torch.rand(2, 6, 1, 8, 8)
    perfect = affine_invariant_loss(3.0 / gt + 0.7, gt, max_depth=80.0)
    wrong = affine_invariant_loss(gt, gt, max_depth=80.0)  # depth instead of disparity
    assert float(perfect["total"]) < 1e-3 < float(wrong["total"])


def test_briges_gate_step_trains_gate_only(base_paths):
    depth_path, sem_path = base_paths
    cfg = TrainConfig(recipe="briges-gate", image_size=(96, 64),
                      extra={"depth_model": str(depth_path), "semantic_model": str(sem_path),
                             "tau": 2.0})
    recipe = BriGeSGateRecipe(cfg, torch.device("cpu"))
    model = recipe.model
    params = list(recipe.parameters())
    assert {id(p) for p in params} == {id(p) for p in model.gate.parameters()}
    opt = torch.optim.AdamW(params, lr=1e-3)
    recipe.train()
    batch = _batch()
    losses = []
    for _ in range(4):
        terms = recipe.step(batch)
        assert set(terms) == {"ssi", "grad", "total"}
        opt.zero_grad()
        terms["total"].backward()
        assert all(p.grad is None for p in model.depth_model.parameters())
        assert all(p.grad is None for p in model.semantic_model.parameters())
        opt.step()
        losses.append(float(terms["total"].detach()))
    assert losses[-1] < losses[0]
    cfgd = recipe.model_config()
    assert cfgd["depth_model"] == str(depth_path.resolve()) and cfgd["gate"]["tau"] == 2.0
    with pytest.raises(TrainingError, match="dense"):
        recipe.step(_batch(dense=False))


def test_briges_gate_reports_missing_base_and_bad_options(base_paths, tmp_path):
    cfg = TrainConfig(recipe="briges-gate", extra={"depth_model": str(tmp_path / "nope.pt")})
    with pytest.raises(TrainingError, match="nope.pt"):
        BriGeSGateRecipe(cfg, torch.device("cpu"))
    cfg = TrainConfig(recipe="briges-gate", extra={"temperature": 2})
    with pytest.raises(TrainingError, match="unknown option"):
        BriGeSGateRecipe(cfg, torch.device("cpu"))
    depth_path, sem_path = base_paths
    cfg = TrainConfig(recipe="briges-gate", extra={"depth_model": str(depth_path),
                                                   "semantic_model": str(sem_path), "tau": 0})
    with pytest.raises(TrainingError, match="tau"):
        BriGeSGateRecipe(cfg, torch.device("cpu"))


def test_semantic_recipe_learns_a_fixed_batch(tmp_path):
    cfg = TrainConfig(recipe="semantic", dataset=str(tmp_path), extra={"feature_channels": 16})
    recipe = SemanticRecipe(cfg, torch.device("cpu"))
    assert recipe.num_classes == 13  # no classes.json -> the simulator's classes
    opt = torch.optim.AdamW(recipe.parameters(), lr=5e-3)
    batch = _batch()
    # learnable labels: blocky images, class = colour channel with the largest value
    blocks = torch.rand(6, 3, 8, 12, generator=torch.Generator().manual_seed(1))
    batch["images"] = torch.nn.functional.interpolate(blocks, size=(64, 96), mode="nearest")[None]
    batch["semantic"] = batch["images"].argmax(2).to(torch.int16)
    recipe.train()
    first = None
    for _ in range(15):
        terms = recipe.step(batch)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        first = first or (float(terms["ce"].detach()), float(terms["acc"]))
    assert float(terms["ce"].detach()) < first[0]
    assert float(terms["acc"]) > max(first[1], 0.5)


def test_balanced_cross_entropy_ignores_and_weights():
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    labels = torch.tensor([[[0, 0], [0, -1]]])
    loss = balanced_cross_entropy(logits, labels, 3)
    assert torch.isclose(loss, torch.log(torch.tensor(3.0)))
    none = balanced_cross_entropy(logits, torch.full((1, 2, 2), -1), 3)
    assert float(none.detach()) == 0.0 and none.requires_grad  # a zero that still backpropagates


def test_depth_model_defaults_to_teacher_checkpoint_and_semantic_found_beside(base_paths,
                                                                              monkeypatch):
    import shutil

    depth_path, sem_path = base_paths
    shutil.copy(sem_path, depth_path.parent / "semantic_sim.pt")
    cfg = TrainConfig(recipe="briges-gate", teacher_checkpoint=str(depth_path))
    recipe = BriGeSGateRecipe(cfg, torch.device("cpu"))
    conf = recipe.model_config()
    assert conf["depth_model"] == str(depth_path.resolve())
    assert conf["semantic_model"] == str((depth_path.parent / "semantic_sim.pt").resolve())
    # inside the models folder the base models are stored by name (portable checkpoints)
    monkeypatch.setenv("FSMDE_MODELS_DIR", str(depth_path.parent))
    recipe = BriGeSGateRecipe(cfg, torch.device("cpu"))
    assert recipe.model_config()["depth_model"] == "depth"
    assert recipe.model_config()["semantic_model"] == "semantic_sim"


def test_views_per_step_subsamples_views(base_paths, monkeypatch):
    depth_path, sem_path = base_paths
    cfg = TrainConfig(recipe="briges-gate", image_size=(96, 64),
                      extra={"depth_model": str(depth_path), "semantic_model": str(sem_path),
                             "views_per_step": 2})
    recipe = BriGeSGateRecipe(cfg, torch.device("cpu"))
    seen = []
    real_forward = recipe.model.forward
    monkeypatch.setattr(recipe.model, "forward", lambda x: seen.append(x.shape) or real_forward(x))
    terms = recipe.step(_batch())
    assert seen == [(1, 2, 3, 64, 96)] and torch.isfinite(terms["total"])
    with pytest.raises(TrainingError, match="views_per_step"):
        BriGeSGateRecipe(TrainConfig(extra={"depth_model": str(depth_path),
                                            "semantic_model": str(sem_path),
                                            "views_per_step": 0}), torch.device("cpu"))
