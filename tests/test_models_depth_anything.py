"""Depth Anything V2 adapter on a tiny random transformers config saved by the test itself."""
from __future__ import annotations

import json

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.models.depth_anything import (DepthAnythingTeacher, build_depth_anything_v2_small,
                                             count_parameters, resize_to_patch_multiple)

transformers = pytest.importorskip("transformers")


def _tiny_model(kind: str = "relative"):
    torch.manual_seed(0)
    backbone = transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        patch_size=14, image_size=56, out_features=["stage1", "stage2"],
        reshape_hidden_states=False)
    cfg = transformers.DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[16, 32], reassemble_factors=[2, 1],
        fusion_hidden_size=16, head_hidden_size=8, reassemble_hidden_size=32,
        depth_estimation_type=kind, max_depth=20)
    model = transformers.DepthAnythingForDepthEstimation(cfg).eval()
    with torch.no_grad():  # make the ReLU head output clearly positive and image-dependent
        model.head.conv3.bias.fill_(0.5)
    return model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_dav2")
    _tiny_model().save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "size": {"height": 56, "width": 56}, "ensure_multiple_of": 14,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    return folder


def test_load_from_local_folder_shapes_and_features(tiny_dir):
    teacher = DepthAnythingTeacher.from_pretrained(tiny_dir)
    assert teacher.short_side == 56 and teacher.output_kind == "disparity"
    assert torch.allclose(teacher.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    with torch.inference_mode():
        out = teacher(torch.rand(1, 6, 3, 60, 110))
    assert out["relative"].shape == (1, 6, 1, 60, 110)
    assert (out["relative"] > 0).all()
    # 60x110 -> short side 56 -> 56x103 -> multiples of 14: 56x98 -> 4x7 patches
    assert [tuple(f.shape) for f in out["features"]] == [(1, 6, 32, 4, 7)] * 2


def test_matches_raw_model_when_no_resize_needed(tiny_dir):
    teacher = DepthAnythingTeacher.from_pretrained(tiny_dir)
    x = torch.rand(1, 6, 3, 56, 84)
    with torch.inference_mode():
        ours = teacher(x)["relative"][0, :, 0]
        pixels = (x[0] - 0.5) / 0.25
        raw = teacher.model(pixel_values=pixels).predicted_depth
    torch.testing.assert_close(ours, raw.clamp_min(0) + 1e-6)


def test_metric_model_is_turned_into_disparity(tmp_path):
    folder = tmp_path / "metric"
    _tiny_model("metric").save_pretrained(folder)
    teacher = DepthAnythingTeacher.from_pretrained(folder, short_side=56)
    x = torch.rand(1, 6, 3, 56, 56)
    with torch.inference_mode():
        rel = teacher(x)["relative"][0, :, 0]
        depth = teacher.model(pixel_values=teacher.preprocess(x[0])).predicted_depth
    torch.testing.assert_close(rel * depth, torch.ones_like(rel), rtol=1e-4, atol=1e-4)


def test_missing_or_wrong_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder not found"):
        DepthAnythingTeacher.from_pretrained(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json missing"):
        DepthAnythingTeacher.from_pretrained(tmp_path / "empty")


def test_resize_rule():
    assert resize_to_patch_multiple(900, 1600, 518, 14) == (518, 924)
    assert resize_to_patch_multiple(160, 288, 518, 14) == (518, 938)
    assert resize_to_patch_multiple(10, 10, 5, 14) == (14, 14)


@pytest.mark.slow
def test_dav2_small_architecture_size():
    model = build_depth_anything_v2_small(random=True)
    assert count_parameters(model) == pytest.approx(24.79e6, rel=2e-3)


def test_folder_with_another_model_type(tmp_path):
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, patch_size=14, image_size=28)
    transformers.Dinov2Model(cfg).save_pretrained(tmp_path / "dino")
    with pytest.raises(CheckpointError, match="cannot load a depth-estimation model"):
        DepthAnythingTeacher.from_pretrained(tmp_path / "dino")


def test_corrupt_weights_file(tmp_path, tiny_dir):
    import shutil

    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_dir, folder)
    weights = next(folder.glob("*.safetensors"))
    weights.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="cannot load a depth-estimation model") as exc:
        DepthAnythingTeacher.from_pretrained(folder)
    assert "corrupt" in str(exc.value)
