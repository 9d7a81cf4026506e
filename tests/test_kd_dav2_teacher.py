"""The kd recipe distils real Depth Anything V2 weights from a local folder
(``teacher_checkpoint=dav2:<folder>``), tested on a tiny random transformers config."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.models.depth_anything import DepthAnythingTeacher
from fsmde_gui.training.kd_teacher import load_kd_teacher, teacher_feature
from fsmde_gui.training.trainer import Trainer

from test_models_depth_anything import _tiny_model
from test_training_trainer import make_cfg


@pytest.fixture(scope="module")
def dav2_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dav2_teacher")
    _tiny_model().save_pretrained(folder)
    # short side 112: the 96x64 training images become 168x112 -> 12x8 patch tokens, larger
    # than the student's 6x4 level-2 map, so VRKD's teacher map is pooled
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "size": {"shortest_edge": 112}, "ensure_multiple_of": 14}))
    return folder


def test_kd_trains_from_a_depth_anything_folder(tiny_sim_root, dav2_dir, tmp_path):
    cfg = make_cfg(tiny_sim_root, tmp_path, recipe="kd", steps=2,
                   teacher_checkpoint=f"dav2:{dav2_dir}")
    trainer = Trainer(cfg)
    res = trainer.run()
    assert res["event"] == "done"
    assert {"gt", "ckd_kl", "ckd_cross", "vrkd"} <= set(res["losses"])
    assert all(v == v and v >= 0 for v in res["losses"].values())
    recipe = trainer.recipe
    assert isinstance(recipe.teacher, DepthAnythingTeacher)
    assert recipe.teacher_meta["arch"] == "dav2"
    assert not any(p.requires_grad for p in recipe.teacher.parameters())
    rel, feat = next(iter(recipe._teacher_cache.values()))
    assert rel.shape == (6, 1, 64, 96)
    assert feat.shape == (6, 32, 4, 6)  # the tiny ViT's 32 channels on the student's grid


def test_teacher_feature_pools_only_larger_maps():
    torch.manual_seed(0)
    big, same = torch.rand(1, 6, 8, 12, 20), torch.rand(1, 6, 8, 4, 6)
    assert teacher_feature([same, big], (4, 6)) is same  # teacher_sim: the map itself
    pooled = teacher_feature([big], (4, 6))
    expected = F.adaptive_avg_pool2d(big.flatten(0, 1), (4, 6)).unflatten(0, (1, 6))
    assert pooled.shape == (1, 6, 8, 4, 6) and torch.allclose(pooled, expected)


def test_missing_dav2_folder_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere"):
        load_kd_teacher(f"dav2:{tmp_path / 'nowhere'}")
