"""Inference rewrites (BN folding, fused oneDNN convolutions, NHWC bin softmax): same outputs."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fsmde_gui.data.detect import open_dataset
from fsmde_gui.models import fast_inference
from fsmde_gui.models.binning import DepthBinning, expected_depth, softmax_expectation_nhwc
from fsmde_gui.models.blocks import ConvBNReLU, upsample_to
from fsmde_gui.models.fast_inference import (FusedConv, FusedInvertedResidual,
                                             optimize_for_inference_)
from fsmde_gui.models.inference import DepthEstimator
from fsmde_gui.models.student import StudentConfig, StudentNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet

SMALL = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(2, 1, 2, 1),
                      decoder_widths=(32, 16, 16, 16), num_bins=16, bin_hidden=16,
                      bin_space="log", bin_floor=0.5)


def _random_bn(net: torch.nn.Module) -> torch.nn.Module:
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    return net.eval()


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    net = _random_bn(StudentNet(SMALL))
    return net, optimize_for_inference_(copy.deepcopy(net))


def test_student_outputs_unchanged(pair):
    net, fast = pair
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, ConvBNReLU)) for m in fast.modules())
    blocks = [m for m in fast.modules() if isinstance(m, FusedInvertedResidual)]
    assert len(blocks) == 6 and sum(m.use_residual for m in blocks) == 2
    assert fast.binning.nhwc and not net.binning.nhwc
    x = torch.rand(2, 6, 3, 48, 80)
    with torch.inference_mode():
        a, b = net(x), fast(x)
    for key in ("depth", "bin_centers", "bin_probs", "bin_logits"):
        assert a[key].shape == b[key].shape, key
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-4, msg=key)
    for fa, fb in zip(a["features"], b["features"]):
        torch.testing.assert_close(fb, fa, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b["bin_probs"].sum(dim=2), torch.ones(2, 6, 24, 40))


def test_plain_conv_fallback_matches(pair, monkeypatch):
    """Without the oneDNN ops (other builds, CUDA) FusedConv runs conv2d + ReLU: same numbers."""
    net, fast = pair
    x = torch.rand(1, 6, 3, 32, 64)
    with torch.inference_mode():
        fused = fast(x)["depth"]
        monkeypatch.setattr(fast_inference, "POINTWISE_CONV_OP", None)
        plain = fast(x)["depth"]
        ref = net(x)["depth"]
    torch.testing.assert_close(plain, ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-4)


def test_teacher_outputs_unchanged():
    torch.manual_seed(1)
    cfg = TeacherConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                        decoder_widths=(32, 16, 16, 8))
    net = _random_bn(TeacherSimNet(cfg))
    fast = optimize_for_inference_(copy.deepcopy(net))
    x = torch.rand(1, 6, 3, 32, 64)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x)["relative"], net(x)["relative"], rtol=1e-4, atol=1e-4)


def test_fused_conv_keeps_conv_semantics():
    torch.manual_seed(2)
    for conv in (torch.nn.Conv2d(8, 16, 1), torch.nn.Conv2d(8, 8, 3, 2, 1, groups=8),
                 torch.nn.Conv2d(8, 4, 3, 1, 1, bias=False)):
        x = torch.randn(3, 8, 9, 13).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            want = torch.relu(conv(x))
            got = FusedConv(conv, relu=True)(x)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
            res = torch.randn_like(conv(x))
            got = FusedConv(conv, relu=False)(x, residual=res) if conv.stride == (1, 1) else None
        if got is not None:
            torch.testing.assert_close(got, conv(x) + res, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="eval mode"):
        optimize_for_inference_(StudentNet(SMALL).train())


def test_nhwc_softmax_expectation_matches_channel_softmax():
    torch.manual_seed(3)
    logits = torch.randn(4, 16, 7, 11).contiguous(memory_format=torch.channels_last)
    centers = torch.sort(torch.rand(4, 16) * 80, dim=-1).values
    probs, depth = softmax_expectation_nhwc(logits, centers)
    want = torch.softmax(logits, dim=1)
    assert probs.shape == (4, 16, 7, 11) and depth.shape == (4, 1, 7, 11)
    torch.testing.assert_close(probs, want)
    torch.testing.assert_close(depth, expected_depth(want, centers), rtol=1e-5, atol=1e-4)
    head = DepthBinning(8, 8, 16, space="log", floor=0.5).eval()
    g, p = torch.randn(2, 8, 3, 4), torch.randn(2, 8, 10, 12)
    with torch.inference_mode():
        a = head(g, p)
        head.nhwc = True
        b = head(g, p)
    torch.testing.assert_close(b["depth"], a["depth"], rtol=1e-5, atol=1e-4)


def test_shipped_student_same_depth_on_real_keyframe(keyframe_root):
    """models/student_kd.pt with and without the rewrites on the bundled nuScenes keyframe."""
    frame = open_dataset(keyframe_root).frame(0, 0, load_gt=False)
    plain = DepthEstimator.from_name("student_kd", device="cpu", fuse=False)
    fast = DepthEstimator.from_name("student_kd", device="cpu")
    a, b = plain.predict(frame), fast.predict(frame)
    diff = float(np.abs(a.depth - b.depth).max())
    print(f"student_kd keyframe: max |depth diff| {diff:.2e} m")
    assert a.depth.shape == (6, *frame.views[0].hw) and diff < 1e-3
    assert b.bin_probs.flags.c_contiguous and np.abs(a.bin_probs - b.bin_probs).max() < 1e-4
    assert np.abs(a.bin_centers - b.bin_centers).max() < 1e-3


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_to_writes_exact_2x_steps_as_a_scale_with_the_same_values(mode):
    """``scale_factor=2`` (what the export keeps as a constant-scale Resize) gives exactly
    the values of resizing to twice the size; other sizes resize to the size."""
    x = torch.rand(2, 5, 7, 12, generator=torch.Generator().manual_seed(0))
    extra = {} if mode == "nearest" else {"align_corners": False}
    for size in ((14, 24), (13, 24), (7, 12)):
        want = F.interpolate(x, size=size, mode=mode, **extra)
        assert torch.equal(upsample_to(x, size, mode), want), size
    y = x.clone().requires_grad_(True)
    upsample_to(y, (14, 24), mode).square().sum().backward()
    z = x.clone().requires_grad_(True)
    F.interpolate(z, size=(14, 24), mode=mode, **extra).square().sum().backward()
    assert torch.equal(y.grad, z.grad)  # training sees the same gradients too
