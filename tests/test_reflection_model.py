"""Intrinsic decomposition net, checkpoint round trip, pseudo-depth alignment and KD masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_gui.core.errors import CheckpointError
from fsmde_gui.core.rig import load_rig
from fsmde_gui.core.types import CAMERA_NAMES, CameraView, SurroundFrame
from fsmde_gui.models.checkpoint import load_checkpoint, save_checkpoint
from fsmde_gui.models.intrinsic import (ReflectionSSLConfig, ReflectionSSLNet, load_reflection_model,
                                        run_decomposition)
from fsmde_gui.training.pseudo_depth import (align_disparity_to_depth, distillation_mask,
                                             pseudo_depth_loss)

SMALL = {"input_size": [64, 48], "widths": [8, 16, 16, 24, 32], "decoder_widths": [24, 16, 16, 8],
         "bin_hidden": 16, "num_bins": 8, "depths": [1, 1, 1, 1]}


def _net():
    torch.manual_seed(0)
    return ReflectionSSLNet(ReflectionSSLConfig(student=SMALL, intrinsic={"widths": [8, 8, 8],
                                                                          "stem": 8}))


def _frame(w=80, h=60):
    rig = load_rig(width=w, height=h)
    rng = np.random.default_rng(0)
    views = [CameraView(name=n, image=rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
                        K=c.K, cam_to_ego=c.cam_to_ego) for n, c in zip(CAMERA_NAMES, rig.cameras)]
    return SurroundFrame(views=views, ego_to_world=np.eye(4))


def test_forward_shapes_and_ranges():
    net = _net().eval()
    x = torch.rand(2, 6, 3, 48, 64)
    with torch.no_grad():
        out = net(x)
    assert out["depth"].shape == (2, 6, 1, 48, 64)
    assert out["albedo"].shape == (2, 6, 3, 48, 64) and out["residual"].shape == (2, 6, 3, 48, 64)
    assert out["shading"].shape == (2, 6, 1, 48, 64)
    assert 0 < float(out["albedo"].min()) and float(out["albedo"].max()) < 1
    assert float(out["shading"].min()) > 0 and float(out["residual"].min()) >= 0
    # the residual starts near zero, the shading near one (bias initialisation)
    assert float(out["residual"].mean()) < 0.05
    assert 0.7 < float(out["shading"].mean()) < 1.4
    assert "albedo" not in net(x, decompose=False)


def test_checkpoint_round_trip_and_wrong_arch(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "r.pt", net, meta={"recipe": "reflection-ssl"})
    loaded, meta = load_checkpoint(path, expected_arch="reflection_ssl")
    for (k, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert meta["recipe"] == "reflection-ssl"
    with pytest.raises(CheckpointError, match="expected 'student'"):
        load_checkpoint(path, expected_arch="student")
    with pytest.raises(CheckpointError, match="not found"):
        load_reflection_model(tmp_path / "missing.pt")


def test_run_decomposition_returns_frame_sized_maps(tmp_path):
    path = save_checkpoint(tmp_path / "r.pt", _net())
    model = load_reflection_model(path)
    assert load_reflection_model(path) is model  # cached
    out = run_decomposition(model, _frame())
    assert out["depth"].shape == (6, 60, 80) and out["depth"].dtype == np.float32
    assert out["albedo"].shape == (6, 60, 80, 3)
    assert out["reflection_mask"].shape == (6, 60, 80) and out["reflection_mask"].dtype == bool
    s = out["reflection_score"]
    assert s.shape == (6, 60, 80) and float(s.min()) >= 0 and float(s.max()) <= 1


def test_alignment_recovers_scale_and_shift():
    g = torch.Generator().manual_seed(0)
    depth = 3 + 30 * torch.rand(2, 1, 20, 30, generator=g)
    disp = (1 / depth - 0.01) / 0.5  # inverse depth = 0.5 * disp + 0.01
    w = torch.rand(2, 1, 20, 30, generator=g) > 0.5
    noisy = depth.clone()
    noisy[~w] = 1.0  # unreliable pixels carry garbage: they must not matter
    out = align_disparity_to_depth(disp, noisy, w.float())
    torch.testing.assert_close(out, depth, rtol=1e-4, atol=1e-3)


def test_distillation_mask_and_loss_only_on_mask():
    err = torch.arange(100, dtype=torch.float32).reshape(1, 1, 10, 10) / 100
    terms = {"min_error": err, "valid": torch.ones(1, 1, 10, 10, dtype=torch.bool)}
    terms["valid"][..., 0, 0] = False
    refl = torch.zeros(1, 1, 10, 10, dtype=torch.bool)
    refl[..., 2, :] = True
    m = distillation_mask(refl, terms, error_quantile=0.9)
    assert bool(m[..., 2, :].all()) and bool(m[..., 9, :].all()) and bool(m[..., 0, 0])
    assert int(m.sum()) == 10 + 10 + 1
    depth = torch.full((1, 1, 10, 10), 10.0, requires_grad=True)
    pseudo = torch.full((1, 1, 10, 10), 5.0)
    loss = pseudo_depth_loss(depth, pseudo, m)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(float(np.log(2.0)), rel=1e-5)
    assert float(depth.grad[~m].abs().sum()) == 0.0 and float(depth.grad[m].abs().min()) > 0


def test_alignment_is_robust_to_wild_reference_pixels():
    g = torch.Generator().manual_seed(3)
    depth = 3 + 30 * torch.rand(1, 1, 40, 40, generator=g)
    disp = 2.0 / depth + 0.05
    ref = depth.clone()
    wild = torch.rand(1, 1, 40, 40, generator=g) < 0.1
    ref[wild] = 80.0  # a student that still thinks some pixels are at the horizon
    out = align_disparity_to_depth(disp, ref, torch.ones_like(ref))
    rel = ((out - depth).abs() / depth)[~wild]
    assert float(rel.median()) < 0.1
    assert float((out >= 79.9).float().mean()) < 0.02  # no collapse onto max_depth


def test_residual_gain_keeps_the_start_and_speeds_up_the_residual():
    """Same initial residual at gain 1 and 10; one identical optimiser step on the output
    bias moves the gain-10 residual about ten times further (why the recipe uses it)."""
    def make(gain):
        torch.manual_seed(0)
        return ReflectionSSLNet(ReflectionSSLConfig(
            student=SMALL, intrinsic={"widths": [8, 8, 8], "stem": 8, "residual_gain": gain})).eval()

    x = torch.rand(1, 6, 3, 48, 64)
    a, b = make(1.0), make(10.0)
    with torch.no_grad():
        ra, rb = a(x)["residual"], b(x)["residual"]
    assert torch.allclose(ra, rb, atol=1e-5)
    moved = []
    for net in (a, b):
        with torch.no_grad():
            net.intrinsic.out.bias[4:] += 0.1  # what one Adam step of lr 0.1 does to it
            moved.append(float(net(x)["residual"].mean() - ra.mean()))
    assert moved[0] > 0 and moved[1] / moved[0] > 5
    # older checkpoints (no residual_gain in their config) keep gain 1
    assert ReflectionSSLNet(ReflectionSSLConfig(student=SMALL)).intrinsic.cfg.residual_gain == 1.0
