"""Student (binning module) and bundled teacher: shapes, bin invariants, positivity."""
from __future__ import annotations

import math

import pytest
import torch

from fsmde_gui.models.binning import DepthBinning, centers_from_widths, expected_depth
from fsmde_gui.models.student import StudentConfig, StudentNet
from fsmde_gui.models.teacher_sim import TeacherConfig, TeacherSimNet


SMALL_STUDENT = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                              decoder_widths=(32, 16, 16, 16), num_bins=16,
                              min_depth=0.5, max_depth=80.0, bin_hidden=32)
SMALL_TEACHER = TeacherConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                              decoder_widths=(32, 16, 16, 8))


@pytest.fixture(scope="module")
def student_out():
    torch.manual_seed(0)
    net = StudentNet(SMALL_STUDENT).eval()
    images = torch.rand(1, 6, 3, 64, 96)
    with torch.inference_mode():
        return net(images)


def test_student_shapes_b1_v6(student_out):
    out = student_out
    assert out["depth"].shape == (1, 6, 1, 64, 96)
    assert out["bin_centers"].shape == (1, 6, 16)
    assert out["bin_probs"].shape == (1, 6, 16, 32, 48)
    assert out["bin_logits"].shape == (1, 6, 16, 32, 48)
    strides = [64 // f.shape[-2] for f in out["features"]]
    assert strides == [4, 8, 16, 32]
    assert all(f.shape[:2] == (1, 6) for f in out["features"])


def test_bin_probabilities_sum_to_one(student_out):
    s = student_out["bin_probs"].sum(dim=2)
    torch.testing.assert_close(s, torch.ones_like(s), atol=1e-5, rtol=0)
    assert (student_out["bin_probs"] >= 0).all()


def test_bin_centres_sorted_and_inside_range(student_out):
    c = student_out["bin_centers"]
    assert (c[..., 1:] > c[..., :-1]).all()
    assert (c > 0.5).all() and (c < 80.0).all()


def test_depth_is_expectation_of_bins(student_out):
    probs, centres = student_out["bin_probs"], student_out["bin_centers"]
    expect = (probs * centres[..., None, None]).sum(dim=2, keepdim=True)  # (1,6,1,32,48)
    # the output depth is exactly this expectation, bilinearly upsampled to the input size
    up = torch.nn.functional.interpolate(expect[0], size=(64, 96), mode="bilinear",
                                         align_corners=False)
    torch.testing.assert_close(student_out["depth"][0], up, atol=1e-4, rtol=1e-5)
    assert (student_out["depth"] >= 0.5).all() and (student_out["depth"] <= 80.0).all()


def test_centers_from_widths_exact():
    widths = torch.tensor([[0.25, 0.25, 0.5]])
    c = centers_from_widths(widths, 0.0, 8.0)
    torch.testing.assert_close(c, torch.tensor([[1.0, 3.0, 6.0]]))
    probs = torch.zeros(1, 3, 1, 2)
    probs[0, 0, 0, 0] = 1.0
    probs[0, 1, 0, 1] = probs[0, 2, 0, 1] = 0.5
    d = expected_depth(probs, c)
    torch.testing.assert_close(d, torch.tensor([[[[1.0, 4.5]]]]))


def test_binning_rejects_bad_range():
    with pytest.raises(ValueError):
        DepthBinning(8, 8, num_bins=8, min_depth=10.0, max_depth=1.0)


def test_student_gradients_reach_encoder():
    torch.manual_seed(1)
    net = StudentNet(SMALL_STUDENT).train()
    out = net(torch.rand(2, 6, 3, 32, 64))
    out["depth"].mean().backward()
    assert net.stem[0].weight.grad is not None and net.stem[0].weight.grad.abs().sum() > 0
    assert net.binning.width_head[0].weight.grad.abs().sum() > 0


def test_student_rejects_bad_layout():
    net = StudentNet(SMALL_STUDENT).eval()
    with pytest.raises(ValueError, match="B, V, 3, H, W"):
        net(torch.rand(6, 3, 32, 32))


def test_default_student_size():
    n = sum(p.numel() for p in StudentNet().parameters())
    assert 1_000_000 <= n <= 3_000_000


def test_default_teacher_is_much_larger():
    n_t = sum(p.numel() for p in TeacherSimNet().parameters())
    n_s = sum(p.numel() for p in StudentNet().parameters())
    assert 8_000_000 <= n_t <= 15_000_000
    assert n_t > 5 * n_s


def test_teacher_disparity_positive_and_shapes():
    torch.manual_seed(0)
    net = TeacherSimNet(SMALL_TEACHER).eval()
    assert net.output_kind == "disparity"
    with torch.inference_mode():
        out = net(torch.rand(1, 6, 3, 64, 96))
    assert out["relative"].shape == (1, 6, 1, 64, 96)
    assert (out["relative"] > 0).all()
    assert [64 // f.shape[-2] for f in out["features"]] == [4, 8, 16, 32]


def test_config_roundtrip_rejects_unknown_keys():
    d = SMALL_STUDENT.to_dict()
    assert StudentConfig.from_dict(d) == SMALL_STUDENT
    with pytest.raises(ValueError, match="bogus"):
        StudentConfig.from_dict({**d, "bogus": 1})
    assert TeacherConfig.from_dict(SMALL_TEACHER.to_dict()) == SMALL_TEACHER


def test_fuse_conv_bn_keeps_outputs():
    import copy

    from fsmde_gui.models.blocks import ConvBNReLU, fuse_conv_bn_

    torch.manual_seed(0)
    net = StudentNet(SMALL_STUDENT).eval()
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    fused = fuse_conv_bn_(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert any(isinstance(m, ConvBNReLU) for m in fused.modules())
    x = torch.rand(1, 6, 3, 32, 64)
    with torch.inference_mode():
        a, b = net(x), fused(x)
    torch.testing.assert_close(a["depth"], b["depth"], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="eval mode"):
        fuse_conv_bn_(StudentNet(SMALL_STUDENT).train())


def test_odd_input_sizes():
    net = StudentNet(SMALL_STUDENT).eval()
    teacher = TeacherSimNet(SMALL_TEACHER).eval()
    x = torch.rand(1, 6, 3, 75, 130)
    with torch.inference_mode():
        out = net(x)
        rel = teacher(x)["relative"]
    assert out["depth"].shape == (1, 6, 1, 75, 130) and rel.shape == (1, 6, 1, 75, 130)
    assert out["bin_probs"].shape[-2:] == (38, 65)  # the stride-2 stem's grid
    assert torch.isfinite(out["depth"]).all()


def test_fewer_views_and_too_many_views():
    net = StudentNet(SMALL_STUDENT).eval()
    with torch.inference_mode():
        assert net(torch.rand(2, 3, 3, 32, 64))["depth"].shape == (2, 3, 1, 32, 64)
        with pytest.raises(ValueError, match="built for 6 views"):
            net(torch.rand(1, 7, 3, 32, 64))


# ------------------------------------------------------------------ log bins + spread floor
def test_centers_from_widths_log_uniform_are_geometric_midpoints():
    n, lo, hi = 8, 0.5, 80.0
    c = centers_from_widths(torch.full((1, n), 1.0 / n), lo, hi, space="log")
    edges = lo * (hi / lo) ** (torch.arange(n + 1, dtype=torch.float64) / n)
    expected = torch.sqrt(edges[:-1] * edges[1:]).float()  # geometric mid-points of the edges
    torch.testing.assert_close(c[0], expected, rtol=1e-5, atol=0)
    ratios = c[0, 1:] / c[0, :-1]  # log-uniform: every neighbour ratio is (hi / lo) ** (1 / n)
    torch.testing.assert_close(ratios, torch.full_like(ratios, (hi / lo) ** (1 / n)), rtol=1e-5,
                               atol=0)
    assert (c > lo).all() and (c < hi).all()


def test_centers_from_widths_log_known_values_and_linear_default():
    widths = torch.tensor([[0.25, 0.25, 0.5]])
    # log range [1, 16]: edges 1, 2, 4, 16 -> centres sqrt(2), sqrt(8), sqrt(64)
    c = centers_from_widths(widths, 1.0, 16.0, space="log")
    torch.testing.assert_close(c, torch.tensor([[2 ** 0.5, 8 ** 0.5, 8.0]]), rtol=1e-6, atol=0)
    lin = centers_from_widths(widths, 0.0, 8.0, space="linear")
    torch.testing.assert_close(lin, torch.tensor([[1.0, 3.0, 6.0]]))
    torch.testing.assert_close(centers_from_widths(widths, 0.0, 8.0), lin)  # default: linear
    torch.manual_seed(0)
    w = torch.softmax(torch.randn(4, 6, 16), dim=-1)
    for space in ("log", "linear"):
        c = centers_from_widths(w, 0.5, 80.0, space=space)
        assert c.shape == (4, 6, 16)
        assert (c[..., 1:] > c[..., :-1]).all()
        assert (c > 0.5).all() and (c < 80.0).all()
    with pytest.raises(ValueError, match="bin space"):
        centers_from_widths(widths, 1.0, 16.0, space="cubic")


def _binning_on_logits(num_bins, **kw):
    """A DepthBinning whose width head passes its input through: centres(logits)."""
    b = DepthBinning(8, 8, num_bins=num_bins, **kw)
    b.width_head = torch.nn.Identity()
    return b


def test_spread_floor_keeps_centres_apart_for_any_logits():
    n, lo, hi, floor = 32, 0.5, 80.0, 0.5
    b = _binning_on_logits(n, min_depth=lo, max_depth=hi, space="log", floor=floor)
    assert (b.space, b.floor) == ("log", 0.5)
    bound = math.exp(floor / n * math.log(hi / lo))  # 8 % for 32 bins, 0.5-80 m
    assert bound == pytest.approx(1.0826, abs=1e-4)
    torch.manual_seed(0)
    one_hot = torch.full((n, n), -1e4)
    one_hot[torch.arange(n), torch.arange(n)] = 1e4  # all the softmax mass in one bin
    logits = torch.cat([one_hot, 100 * torch.randn(16, n), torch.zeros(1, n),
                        torch.linspace(-500, 500, n)[None]])
    c = b.centers(logits)
    assert torch.isfinite(c).all()
    ratios = c[:, 1:] / c[:, :-1]
    assert float(ratios.min()) >= bound * (1 - 1e-5)
    # with all mass in one bin the other bins sit exactly on the floor: the bound is tight
    assert float(ratios[0, 1:].min()) == pytest.approx(bound, rel=1e-5)
    assert (c > lo * (1 - 1e-6)).all() and (c < hi * (1 + 1e-6)).all()


def test_without_floor_linear_bins_collapse_on_extreme_logits():
    """The first release's binning (linear, no floor): one dominant width logit squeezes all
    the other centres onto the far end of the range - what the spread floor prevents."""
    b = _binning_on_logits(8, min_depth=0.5, max_depth=80.0, space="linear", floor=0.0)
    logits = torch.full((1, 8), -50.0)
    logits[0, 0] = 50.0
    c = b.centers(logits)[0]
    assert float(c[0]) == pytest.approx(0.5 + 79.5 / 2, rel=1e-5)
    torch.testing.assert_close(c[1:], torch.full((7,), 80.0))  # seven centres on one depth


def test_binning_rejects_bad_space_floor_and_log_min_depth():
    with pytest.raises(ValueError, match="bin space"):
        DepthBinning(8, 8, num_bins=8, space="cubic")
    with pytest.raises(ValueError, match="floor"):
        DepthBinning(8, 8, num_bins=8, space="log", floor=1.0)
    with pytest.raises(ValueError, match="floor"):
        DepthBinning(8, 8, num_bins=8, space="log", floor=-0.1)
    with pytest.raises(ValueError, match="min_depth"):
        DepthBinning(8, 8, num_bins=8, min_depth=0.0, max_depth=80.0, space="log")
    with pytest.raises(ValueError, match="num_bins"):
        DepthBinning(8, 8, num_bins=1, space="log")
    # linear bins may start at 0 m
    assert DepthBinning(8, 8, num_bins=8, min_depth=0.0, space="linear").min_depth == 0.0


def test_student_defaults_to_log_bins_with_floor(student_out):
    cfg = StudentConfig()
    assert (cfg.bin_space, cfg.bin_floor) == ("log", 0.5)
    net = StudentNet(SMALL_STUDENT)
    assert (net.binning.space, net.binning.floor) == ("log", 0.5)
    # the fixture's student (16 bins, 0.5-80 m) keeps its centres >= 17 % apart
    c = student_out["bin_centers"]
    bound = math.exp(0.5 / 16 * math.log(80.0 / 0.5))
    assert float((c[..., 1:] / c[..., :-1]).min()) >= bound * (1 - 1e-5)
    legacy = StudentNet(StudentConfig.from_dict(SMALL_STUDENT.to_dict()
                                                | {"bin_space": "linear", "bin_floor": 0.0}))
    assert (legacy.binning.space, legacy.binning.floor) == ("linear", 0.0)


def test_upgrade_student_config_fills_legacy_binning_only_where_missing():
    from fsmde_gui.models.student import upgrade_student_config

    assert upgrade_student_config({}) == {"bin_space": "linear", "bin_floor": 0.0}
    stored = {"num_bins": 8, "bin_space": "log"}
    up = upgrade_student_config(stored)
    assert up == {"num_bins": 8, "bin_space": "log", "bin_floor": 0.0}
    assert stored == {"num_bins": 8, "bin_space": "log"}  # input not modified
    explicit = {"bin_space": "log", "bin_floor": 0.3}
    assert upgrade_student_config(explicit) == explicit


def test_lite_decoder_upsamples_by_nearest_neighbour_and_old_configs_stay_bilinear():
    from fsmde_gui.models.blocks import UpFuse
    torch.manual_seed(0)
    up = UpFuse(4, 3, 2, upsample="nearest").eval()
    x, skip = torch.randn(1, 4, 3, 5), torch.randn(1, 3, 6, 10)
    reduced = up.reduce(x)
    expected = up.fuse(torch.cat([reduced.repeat_interleave(2, -2).repeat_interleave(2, -1),
                                  skip], dim=1))
    assert torch.allclose(up(x, skip), expected, atol=1e-6)  # each value copied to a 2x2 block
    bilinear = UpFuse(4, 3, 2).eval()
    bilinear.load_state_dict(up.state_dict())
    assert not torch.allclose(bilinear(x, skip), expected, atol=1e-3)
    with pytest.raises(ValueError, match="decoder upsample"):
        UpFuse(4, 3, 2, upsample="bicubic")
    stored = StudentConfig().to_dict()
    del stored["decoder_upsample"]  # a checkpoint written before the option existed
    assert StudentConfig.from_dict(stored).decoder_upsample == "bilinear"
    lite = StudentNet(StudentConfig(decoder_upsample="nearest", num_bins=24,
                                    decoder_widths=(128, 64, 48, 16), input_size=(96, 64)))
    assert all(step.upsample == "nearest" for step in lite.decoder)
    out = lite.eval()(torch.rand(1, 6, 3, 64, 96))
    assert out["depth"].shape == (1, 6, 1, 64, 96) and out["bin_probs"].shape == (1, 6, 24, 32, 48)
