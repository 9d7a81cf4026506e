"""End to end on the tiny simulator dataset: `fsmde train --recipe semantic` then
`--recipe briges-gate` (frozen stand-in teacher), then the BriGeS checkpoint as a teacher."""
from __future__ import annotations

import pytest
import torch

from fsmde_gui.cli import main as fsmde
from fsmde_gui.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet


@pytest.mark.slow
def test_train_semantic_then_gate_from_cli(tiny_sim_root, tmp_path):
    torch.manual_seed(0)
    teacher = TeacherSimNet(TeacherConfig.from_dict(dict(
        widths=[8, 16, 24, 32, 48], depths=[1, 1, 1, 1], decoder_widths=[32, 24, 16, 8],
        input_size=[96, 64])))
    save_checkpoint(tmp_path / "models" / "teacher_sim.pt", teacher)
    common = ["--dataset", str(tiny_sim_root), "--steps", "3", "--progress", "none",
              "--set", "image_size=[96,64]", "--set", "num_threads=1"]
    assert fsmde(["train", "--recipe", "semantic", "--out", str(tmp_path / "sem"), *common,
                  "--set", "extra.feature_channels=16"]) == 0
    sem_ckpt = read_checkpoint(tmp_path / "sem" / "final.pt", expected_arch="semantic_sim")
    assert sem_ckpt["config"]["num_classes"] == 13  # from the dataset's classes.json
    (tmp_path / "sem" / "final.pt").rename(tmp_path / "models" / "semantic_sim.pt")

    assert fsmde(["train", "--recipe", "briges-gate", "--out", str(tmp_path / "gate"), *common,
                  "--set", f"teacher_checkpoint={tmp_path / 'models' / 'teacher_sim.pt'}",
                  "--set", "extra.tau=2.0"]) == 0
    payload = read_checkpoint(tmp_path / "gate" / "final.pt", expected_arch="briges")
    assert all(k.startswith("gate.") for k in payload["state_dict"])
    assert payload["config"]["semantic_model"].endswith("semantic_sim.pt")
    model, meta = load_checkpoint(tmp_path / "gate" / "final.pt")
    assert meta["recipe"] == "briges-gate" and model.gate.tau == 2.0
    # the frozen teacher inside is bit-identical to the file it came from
    ref = teacher.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.depth_model.state_dict().items())
    with torch.no_grad():
        out = model(torch.rand(1, 6, 3, 64, 96))
    assert out["relative"].shape == (1, 6, 1, 64, 96) and torch.isfinite(out["relative"]).all()


@pytest.mark.slow
def test_briges_is_a_teacher_for_depth_estimator(tiny_sim_root, tmp_path):
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.models.bridging_gate import GateConfig
    from fsmde_gui.models.briges import BriGeS
    from fsmde_gui.models.inference import DepthEstimator
    from fsmde_gui.models.semantic_sim import SemanticSimConfig, SemanticSimNet

    torch.manual_seed(0)
    teacher = TeacherSimNet(TeacherConfig.from_dict(dict(
        widths=[8, 16, 24, 32, 48], depths=[1, 1, 1, 1], decoder_widths=[32, 24, 16, 8],
        input_size=[96, 64])))
    sem = SemanticSimNet(SemanticSimConfig(num_classes=13, widths=(8, 8, 16, 16),
                                           feature_channels=16))
    save_checkpoint(tmp_path / "t.pt", teacher)
    save_checkpoint(tmp_path / "s.pt", sem)
    model = BriGeS(teacher, sem, GateConfig(tau=2.0), base_names={
        "depth_model": str(tmp_path / "t.pt"), "semantic_model": str(tmp_path / "s.pt")})
    save_checkpoint(tmp_path / "teacher_briges.pt", model)
    est = DepthEstimator.from_checkpoint(tmp_path / "teacher_briges.pt")
    assert est.is_teacher and est.input_size == (96, 64)
    frame = open_dataset(tiny_sim_root).frame(0, 0)
    res = est.predict(frame)
    assert res.depth.shape == (6, 128, 224)
    assert res.relative_depth is not None and res.alignment is not None
    assert (res.depth > 0).all() and (res.depth <= 80.0 + 1e-3).all()
