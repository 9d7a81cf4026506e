"""Checkpoint save/load round trip and every CheckpointError case."""
from __future__ import annotations

import os

import pytest
import torch

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.models.checkpoint import (build_model, load_checkpoint, read_checkpoint,
                                         register_arch, save_checkpoint)
from fsmde_gui.models.student import StudentConfig, StudentNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet


SMALL = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                      decoder_widths=(32, 16, 16, 16), num_bins=8, bin_hidden=16,
                      input_size=(96, 64))
SMALL_T = TeacherConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                        decoder_widths=(16, 16, 8, 8))


def test_roundtrip_same_outputs(tmp_path):
    torch.manual_seed(0)
    net = StudentNet(SMALL).eval()
    path = save_checkpoint(tmp_path / "s.pt", net, meta={"step": 7, "recipe": "kd"})
    assert path.exists() and not list(tmp_path.glob(".*tmp"))
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "fsmde-checkpoint" and raw["arch"] == "student"
    assert raw["config"]["num_bins"] == 8
    loaded, meta = load_checkpoint(path, expected_arch="student")
    assert meta["step"] == 7 and meta["arch"] == "student"
    assert isinstance(loaded, StudentNet) and not loaded.training
    x = torch.rand(1, 6, 3, 32, 64)
    with torch.inference_mode():
        torch.testing.assert_close(net(x)["depth"], loaded(x)["depth"])


def test_teacher_roundtrip(tmp_path):
    net = TeacherSimNet(SMALL_T)
    save_checkpoint(tmp_path / "t.pt", net)
    loaded, _ = load_checkpoint(tmp_path / "t.pt")
    assert isinstance(loaded, TeacherSimNet) and loaded.cfg == SMALL_T


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found") as exc:
        load_checkpoint(tmp_path / "nope.pt")
    assert "nope.pt" in str(exc.value)


def test_random_bytes(tmp_path):
    p = tmp_path / "junk.pt"
    p.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint") as exc:
        load_checkpoint(p)
    assert "junk.pt" in str(exc.value)


def test_truncated_file(tmp_path):
    p = save_checkpoint(tmp_path / "full.pt", StudentNet(SMALL))
    data = p.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint") as exc:
        load_checkpoint(cut)
    assert "cut.pt" in str(exc.value)


def test_torch_file_not_ours(tmp_path):
    p = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, p)
    with pytest.raises(CheckpointError, match="not an FSMDE checkpoint"):
        load_checkpoint(p)
    torch.save(StudentNet(SMALL).state_dict(), p)  # a bare state_dict is not ours either
    with pytest.raises(CheckpointError, match="not an FSMDE checkpoint"):
        load_checkpoint(p)


def test_other_arch_than_expected(tmp_path):
    p = save_checkpoint(tmp_path / "t.pt", TeacherSimNet(SMALL_T))
    with pytest.raises(CheckpointError, match="holds a 'teacher_sim' model, expected 'student'"):
        load_checkpoint(p, expected_arch="student")


def test_unknown_arch(tmp_path):
    p = save_checkpoint(tmp_path / "x.pt", StudentNet(SMALL), arch="mystery_net",
                        config=SMALL.to_dict())
    with pytest.raises(CheckpointError, match="unknown architecture 'mystery_net'"):
        load_checkpoint(p)


def test_state_dict_shape_mismatch(tmp_path):
    p = tmp_path / "bad.pt"
    save_checkpoint(p, StudentNet(SMALL))
    payload = torch.load(p, weights_only=True)
    payload["config"]["num_bins"] = 12  # builds a net whose heads have another shape
    torch.save(payload, p)
    with pytest.raises(CheckpointError, match="weights do not match") as exc:
        load_checkpoint(p)
    assert "bad.pt" in str(exc.value) and "size mismatch" in str(exc.value)


def test_bad_config(tmp_path):
    p = tmp_path / "cfg.pt"
    save_checkpoint(p, StudentNet(SMALL))
    payload = torch.load(p, weights_only=True)
    payload["config"]["nonsense"] = 3
    torch.save(payload, p)
    with pytest.raises(CheckpointError, match="config does not build"):
        load_checkpoint(p)


def test_newer_version_rejected(tmp_path):
    p = tmp_path / "v.pt"
    save_checkpoint(p, StudentNet(SMALL))
    payload = torch.load(p, weights_only=True)
    payload["version"] = 99
    torch.save(payload, p)
    with pytest.raises(CheckpointError, match="version 99"):
        read_checkpoint(p)


def test_register_arch(tmp_path):
    class Tiny(torch.nn.Module):
        arch = "tiny_test_arch"

        def __init__(self, n):
            super().__init__()
            self.lin = torch.nn.Linear(n, 1)

        @property
        def config_dict(self):
            return {"n": self.lin.in_features}

    register_arch("tiny_test_arch", lambda cfg: Tiny(**cfg), replace=True)
    net = Tiny(5)
    p = save_checkpoint(tmp_path / "tiny.pt", net)
    loaded, _ = load_checkpoint(p, expected_arch="tiny_test_arch")
    torch.testing.assert_close(loaded.lin.weight, net.lin.weight)
    assert isinstance(build_model("tiny_test_arch", {"n": 2}), Tiny)
    with pytest.raises(ValueError, match="already registered"):
        register_arch("student", lambda cfg: Tiny(1))


def test_meta_must_be_plain(tmp_path):
    with pytest.raises(TypeError, match="meta"):
        save_checkpoint(tmp_path / "m.pt", StudentNet(SMALL), meta={"obj": object()})
    assert not (tmp_path / "m.pt").exists()


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.pt"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(p)


def test_overwrite_is_atomic_and_keeps_old_on_failure(tmp_path):
    p = save_checkpoint(tmp_path / "s.pt", StudentNet(SMALL), meta={"step": 1})
    with pytest.raises(TypeError):
        save_checkpoint(p, StudentNet(SMALL), meta={"bad": {1, 2}})
    assert load_checkpoint(p)[1]["step"] == 1  # the old file is intact
    assert [q.name for q in tmp_path.iterdir()] == ["s.pt"]


def test_old_student_checkpoint_without_bin_space_loads_with_linear_bins(tmp_path):
    """Checkpoints written before ``bin_space`` / ``bin_floor`` existed were trained with linear
    bins and no floor: they load as such (not with the new log default) and give exactly the
    outputs of the model that was saved."""
    torch.manual_seed(0)
    cfg = StudentConfig.from_dict(SMALL.to_dict() | {"bin_space": "linear", "bin_floor": 0.0})
    net = StudentNet(cfg).eval()
    p = save_checkpoint(tmp_path / "old.pt", net, meta={"step": 3})
    payload = torch.load(p, weights_only=True)
    assert payload["config"]["bin_space"] == "linear"
    del payload["config"]["bin_space"], payload["config"]["bin_floor"]
    torch.save(payload, p)
    loaded, meta = load_checkpoint(p, expected_arch="student")
    assert (loaded.binning.space, loaded.binning.floor) == ("linear", 0.0)
    assert loaded.cfg == cfg
    assert meta["config"]["bin_space"] == "linear" and meta["config"]["bin_floor"] == 0.0
    x = torch.rand(1, 6, 3, 32, 64)
    with torch.inference_mode():
        a, b = net(x), loaded(x)
    for key in ("depth", "bin_centers", "bin_probs"):
        assert torch.equal(a[key], b[key]), key
    # the same weights under today's defaults (log bins, floor) would be another model
    stripped = {k: v for k, v in cfg.to_dict().items() if k not in ("bin_space", "bin_floor")}
    new = StudentNet(StudentConfig.from_dict(stripped)).eval()
    assert new.binning.space == "log"
    new.load_state_dict(net.state_dict())
    with torch.inference_mode():
        assert not torch.allclose(new(x)["bin_centers"], a["bin_centers"])


def test_new_student_checkpoint_keeps_its_log_bins(tmp_path):
    net = StudentNet(SMALL).eval()
    assert net.binning.space == "log"
    p = save_checkpoint(tmp_path / "new.pt", net)
    assert torch.load(p, weights_only=True)["config"]["bin_space"] == "log"
    loaded, _ = load_checkpoint(p)
    assert (loaded.binning.space, loaded.binning.floor) == ("log", 0.5)


def test_shipped_reflection_model_predates_bin_space_and_loads_linear():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "models" / "student_reflection_ssl.pt"
    stored = torch.load(path, weights_only=True, map_location="cpu")["config"]["student"]
    assert "bin_space" not in stored and "bin_floor" not in stored  # an old checkpoint
    model, meta = load_checkpoint(path, expected_arch="reflection_ssl")
    assert (model.student.binning.space, model.student.binning.floor) == ("linear", 0.0)
    assert meta["config"]["student"]["bin_space"] == "linear"
    w, h = model.input_size
    torch.manual_seed(0)
    with torch.inference_mode():
        out = model(torch.rand(1, 6, 3, h, w), decompose=False)
    c = out["bin_centers"]
    assert torch.isfinite(out["depth"]).all()
    assert (c[..., 1:] >= c[..., :-1]).all() and (c >= 0.5).all() and (c <= 80.0).all()


def test_shipped_lite_student_is_the_lite_spec():
    """models/student_kd_lite.pt holds the architecture `model_zoo.LITE_STUDENT` describes
    (a changed spec without a rebuild fails here), and it is cheaper than student_kd."""
    from fsmde_gui.models.registry import model_path
    from fsmde_gui.training.model_zoo import LITE_STUDENT, specs

    spec = next(s for s in specs() if s.name == "student_kd_lite")
    kd = next(s for s in specs() if s.name == "student_kd")
    assert spec.config["student"] == LITE_STUDENT and spec.recipe == kd.recipe == "kd"
    assert {k: v for k, v in spec.config.items() if k != "student"} == kd.config
    path = model_path("student_kd_lite")
    if not path.exists():
        pytest.skip(f"{path} not built")
    lite, _ = load_checkpoint(path, expected_arch="student")
    stored = read_checkpoint(path)["config"]
    assert {k: stored[k] for k in LITE_STUDENT} == LITE_STUDENT
    assert all(step.upsample == "nearest" for step in lite.decoder)
    ref, _ = load_checkpoint(model_path("student_kd"), expected_arch="student")
    ref_stored = read_checkpoint(model_path("student_kd"))["config"]
    # everything LITE_STUDENT does not name is student_kd's (bins, encoder, ranges)
    assert ({k: v for k, v in stored.items() if k not in LITE_STUDENT}
            == {k: v for k, v in ref_stored.items() if k not in LITE_STUDENT})
    assert lite.binning.num_bins == ref.binning.num_bins == 32
    assert lite.cfg.expand < ref.cfg.expand
    assert sum(p.numel() for p in lite.parameters()) < sum(p.numel() for p in ref.parameters())
