"""Semantic teachers: the bundled net and the Segment Anything adapter on a tiny random config."""
from __future__ import annotations

import json

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.models.segmentation_adapter import SamSemanticEncoder
from fsmde_gui.models.semantic_sim import SemanticSimConfig, SemanticSimNet

torch.set_num_threads(1)


def _tiny_sam_vision_config():
    from transformers import SamVisionConfig

    return SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64,
                           output_channels=16, image_size=64, patch_size=16,
                           global_attn_indexes=[1], window_size=2, num_pos_feats=16)


def test_semantic_sim_shapes():
    net = SemanticSimNet(SemanticSimConfig(num_classes=13, feature_channels=24)).eval()
    out = net(torch.rand(2, 6, 3, 64, 96))
    assert out["features"].shape == (2, 6, 24, 8, 12)  # stride 8
    assert out["logits"].shape == (2, 6, 13, 64, 96)
    assert net.feature_channels == 24
    with pytest.raises(ValueError):
        net(torch.rand(6, 3, 64, 96))


def test_sam_vision_model_directory(tmp_path):
    from transformers import SamVisionModel

    torch.manual_seed(0)
    ref = SamVisionModel(_tiny_sam_vision_config()).eval()
    ref.save_pretrained(tmp_path / "sam_tiny")
    enc = SamSemanticEncoder.from_pretrained(tmp_path / "sam_tiny")
    assert enc.feature_channels == 16 and enc.feature_stride == 16
    images = torch.rand(1, 6, 3, 32, 64)  # wide image: longest side -> 64, height padded
    with torch.no_grad():
        feats = enc(images)["features"]
    # 64x32 after resize -> 4x2 valid tokens of the 4x4 grid
    assert feats.shape == (1, 6, 16, 2, 4)
    # same numbers as running the saved model on the SAM-preprocessed image by hand
    x = torch.nn.functional.interpolate(images[0], size=(32, 64), mode="bilinear",
                                        align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = torch.nn.functional.pad((x - mean) / std, (0, 0, 0, 32))
    with torch.no_grad():
        full = ref(pixel_values=x).last_hidden_state
    assert torch.allclose(feats[0], full[:, :, :2, :4], atol=1e-5)


def test_full_sam_model_directory_and_preprocessor_stats(tmp_path):
    from transformers import SamConfig, SamModel

    cfg = SamConfig(vision_config=_tiny_sam_vision_config().to_dict())
    cfg.prompt_encoder_config.hidden_size = 16
    cfg.prompt_encoder_config.image_size = 64
    cfg.mask_decoder_config.hidden_size = 16
    model = SamModel(cfg)
    model.save_pretrained(tmp_path / "sam_full")
    (tmp_path / "sam_full" / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}))
    enc = SamSemanticEncoder.from_pretrained(tmp_path / "sam_full")
    assert torch.allclose(enc.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    # the encoder's weights are the saved model's
    a = dict(enc.vision.vision_encoder.named_parameters())
    b = dict(model.vision_encoder.named_parameters())
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        out = enc(torch.rand(1, 2, 3, 64, 64))["features"]
    assert out.shape == (1, 2, 16, 4, 4)


def test_bad_directories_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        SamSemanticEncoder.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="not Segment Anything"):
        SamSemanticEncoder.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="unreadable"):
        SamSemanticEncoder.from_pretrained(tmp_path)
    vision = _tiny_sam_vision_config()
    vision.save_pretrained(tmp_path / "no_weights")
    with pytest.raises(CheckpointError, match="cannot load"):
        SamSemanticEncoder.from_pretrained(tmp_path / "no_weights")


def test_briges_with_segment_anything_folder_as_semantic_side(tmp_path):
    from transformers import SamVisionModel

    from fsmde_gui.models.bridging_gate import GateConfig
    from fsmde_gui.models.briges import BriGeS, load_semantic_model
    from fsmde_gui.models.checkpoint import load_checkpoint, save_checkpoint
    from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet

    torch.manual_seed(0)
    SamVisionModel(_tiny_sam_vision_config()).save_pretrained(tmp_path / "sam")
    sam = load_semantic_model(str(tmp_path / "sam"))
    assert isinstance(sam, SamSemanticEncoder)
    depth = TeacherSimNet(TeacherConfig.from_dict(dict(
        widths=[8, 16, 24, 32, 48], depths=[1, 1, 1, 1], decoder_widths=[32, 24, 16, 8],
        input_size=[96, 64])))
    save_checkpoint(tmp_path / "depth.pt", depth)
    model = BriGeS(depth, sam, GateConfig(tau=2.0), base_names={
        "depth_model": str(tmp_path / "depth.pt"), "semantic_model": str(tmp_path / "sam")})
    assert model.gate.cfg.semantic_channels == 16
    save_checkpoint(tmp_path / "g.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "g.pt")
    assert isinstance(loaded.semantic_model, SamSemanticEncoder)
    with torch.no_grad():
        out = loaded(torch.rand(1, 6, 3, 64, 96))
    assert out["relative"].shape == (1, 6, 1, 64, 96)
    assert out["semantic"].shape == (1, 6, 16, 3, 4)  # 96x64 -> 64x43 -> 4x3 valid tokens
