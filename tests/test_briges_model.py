"""BriGeS teacher: frozen base models, identity at init, checkpoint round trip."""
from __future__ import annotations

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.models.bridging_gate import GateConfig
from fsmde_gui.models.briges import BriGeS
from fsmde_gui.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from fsmde_gui.models.semantic_sim import SemanticSimConfig, SemanticSimNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet

torch.set_num_threads(1)

SMALL_TEACHER = dict(widths=[8, 16, 24, 32, 48], depths=[1, 1, 1, 1],
                     decoder_widths=[32, 24, 16, 8], input_size=[96, 64])
SMALL_SEM = SemanticSimConfig(num_classes=13, widths=(8, 8, 16, 16), feature_channels=16)


def _bases(seed: int = 0):
    torch.manual_seed(seed)
    return (TeacherSimNet(TeacherConfig.from_dict(SMALL_TEACHER)).eval(),
            SemanticSimNet(SMALL_SEM).eval())


def _perturb_gate(model: BriGeS) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.gate.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)


def test_untrained_briges_reproduces_depth_teacher_exactly():
    depth, sem = _bases()
    model = BriGeS(depth, sem, GateConfig(tau=2.0)).eval()
    images = torch.rand(1, 6, 3, 64, 96)
    with torch.no_grad():
        ref = depth(images)
        out = model(images)
    assert out["relative"].shape == (1, 6, 1, 64, 96)
    assert torch.equal(out["relative"], ref["relative"])
    assert torch.equal(model.forward_base(images)["relative"], ref["relative"])
    assert [f.shape for f in out["features"]] == [f.shape for f in ref["features"]]
    assert out["semantic"].shape == (1, 6, 16, 8, 12)
    assert model.output_kind == "disparity"
    assert model.gate.cfg.depth_channels == [16, 24, 32, 48]


def test_only_the_gate_trains_base_encoders_get_no_gradient():
    depth, sem = _bases()
    model = BriGeS(depth, sem, GateConfig(tau=2.0))
    model.train()
    assert not depth.training and not sem.training  # BatchNorm statistics stay frozen
    bn_before = {k: v.clone() for k, v in depth.state_dict().items() if "running" in k}
    params_before = {k: v.clone() for k, v in list(depth.state_dict().items())
                     + [("sem." + k, v) for k, v in sem.state_dict().items()]}
    opt = torch.optim.SGD(model.trainable_parameters(), lr=0.1)
    images = torch.rand(1, 6, 3, 64, 96)
    out = model(images)
    loss = (out["relative"] - torch.rand_like(out["relative"])).abs().mean()
    loss.backward()
    assert all(p.grad is None for p in depth.parameters())
    assert all(p.grad is None for p in sem.parameters())
    assert all(not p.requires_grad for p in list(depth.parameters()) + list(sem.parameters()))
    gate_grads = [p.grad for p in model.gate.parameters()]
    assert all(g is not None for g in gate_grads)
    assert sum(float(g.abs().sum()) for g in gate_grads) > 0
    opt.step()
    after = {k: v for k, v in list(depth.state_dict().items())
             + [("sem." + k, v) for k, v in sem.state_dict().items()]}
    assert all(torch.equal(params_before[k], after[k]) for k in params_before)
    assert all(torch.equal(bn_before[k], depth.state_dict()[k]) for k in bn_before)
    counts = model.parameter_counts()
    assert counts["trainable"] == counts["gate"] > 0
    assert counts["frozen"] == counts["depth_model"] + counts["semantic_model"]
    # after the step the gate changes the prediction
    with torch.no_grad():
        assert not torch.equal(model.eval()(images)["relative"], depth(images)["relative"])


def test_state_dict_holds_only_gate_weights():
    depth, sem = _bases()
    model = BriGeS(depth, sem)
    keys = list(model.state_dict())
    assert keys and all(k.startswith("gate.") for k in keys)
    with pytest.raises(RuntimeError, match="outside the gate"):
        model.load_state_dict({**model.state_dict(), "depth_model.x": torch.zeros(1)})


def test_checkpoint_round_trip_with_named_base_models(tmp_path):
    depth, sem = _bases()
    save_checkpoint(tmp_path / "depth.pt", depth)
    save_checkpoint(tmp_path / "sem.pt", sem)
    model = BriGeS(depth, sem, GateConfig(tau=0.5, levels=[1, 2, 3]),
                   base_names={"depth_model": str(tmp_path / "depth.pt"),
                               "semantic_model": str(tmp_path / "sem.pt")})
    _perturb_gate(model)
    save_checkpoint(tmp_path / "teacher_briges.pt", model, meta={"recipe": "briges-gate"})
    payload = read_checkpoint(tmp_path / "teacher_briges.pt")
    assert payload["arch"] == "briges"
    assert all(k.startswith("gate.") for k in payload["state_dict"])
    assert payload["config"]["depth_model"].endswith("depth.pt")
    loaded, meta = load_checkpoint(tmp_path / "teacher_briges.pt", expected_arch="briges")
    assert isinstance(loaded, BriGeS) and meta["recipe"] == "briges-gate"
    assert loaded.gate.tau == 0.5 and loaded.gate.levels == [1, 2, 3]
    images = torch.rand(1, 6, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(loaded(images)["relative"], model.eval()(images)["relative"],
                              atol=1e-6)
    # a missing base model is reported with its path
    (tmp_path / "sem.pt").unlink()
    with pytest.raises(CheckpointError, match="sem.pt"):
        load_checkpoint(tmp_path / "teacher_briges.pt")


def test_semantic_sim_checkpoint_round_trip(tmp_path):
    _, sem = _bases()
    save_checkpoint(tmp_path / "semantic_sim.pt", sem)
    loaded, _ = load_checkpoint(tmp_path / "semantic_sim.pt", expected_arch="semantic_sim")
    images = torch.rand(1, 2, 3, 32, 48)
    with torch.no_grad():
        assert torch.equal(loaded(images)["features"], sem(images)["features"])


def test_changed_base_model_is_detected_by_fingerprint(tmp_path):
    depth, sem = _bases()
    save_checkpoint(tmp_path / "depth.pt", depth)
    save_checkpoint(tmp_path / "sem.pt", sem)
    model = BriGeS(depth, sem, base_names={"depth_model": str(tmp_path / "depth.pt"),
                                           "semantic_model": str(tmp_path / "sem.pt")})
    save_checkpoint(tmp_path / "g.pt", model)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, _ = load_checkpoint(tmp_path / "g.pt")
    assert loaded.stale_bases == []
    other, _ = _bases(seed=5)  # "retrained" depth teacher under the same file name
    save_checkpoint(tmp_path / "depth.pt", other)
    with pytest.warns(UserWarning, match="trained on other weights"):
        loaded, _ = load_checkpoint(tmp_path / "g.pt")
    assert loaded.stale_bases == ["depth_model"]


def test_building_briges_does_not_touch_base_weights_or_statistics():
    depth, sem = _bases()
    depth.train()
    sem.train()
    before = {k: v.clone() for k, v in depth.state_dict().items()}
    BriGeS(depth, sem)  # probes the encoder for its channel counts
    assert all(torch.equal(before[k], v) for k, v in depth.state_dict().items())
    assert not depth.training and not sem.training
