"""Known-value tests of the P1 losses (SILog, alignment, soft assignment, CKD, VRKD, SSI)."""
from __future__ import annotations

import math

import pytest
import torch

from fsmde_gui.core.rig import load_rig
from fsmde_gui.training import losses as L


def test_silog_known_value_and_mask():
    gt = torch.full((1, 6, 1, 8, 8), 10.0)
    gt[..., :4] = 0  # no GT on the left half
    pred = gt.clone() * 2
    pred[..., :4] = 1000.0  # wildly wrong where there is no GT: must be ignored
    expected = 10 * math.sqrt(0.15) * math.log(2)
    assert float(L.silog_loss(pred, gt)) == pytest.approx(expected, rel=1e-4)
    same = gt.clone()
    same[..., :4] = 5.0
    assert float(L.silog_loss(same, gt)) < 2e-3
    # no valid pixel -> 0 with a graph
    p = torch.ones(1, 1, 4, 4, requires_grad=True)
    z = L.silog_loss(p, torch.zeros(1, 1, 4, 4))
    z.backward()
    assert float(z.detach()) == 0.0


def test_align_disparity_recovers_scale_and_shift():
    torch.manual_seed(0)
    dense = torch.rand(2, 6, 1, 16, 16) * 40 + 2
    rel = 2.0 / dense + 0.1  # teacher disparity = affine of inverse depth
    sparse = dense.clone()
    sparse[torch.rand_like(sparse) > 0.1] = 0  # ~10 % LiDAR-like pixels
    depth, st = L.align_disparity_to_depth(rel, sparse, 0.1, 100.0)
    assert st.shape == (2, 6, 1, 2)
    assert torch.allclose(st[..., 0], torch.full_like(st[..., 0], 0.5), atol=1e-4)
    assert torch.allclose(st[..., 1], torch.full_like(st[..., 1], -0.05), atol=1e-5)
    assert torch.allclose(depth, dense, rtol=1e-3)  # also where there was no GT


def test_soft_assign_known_values():
    centers = torch.tensor([1.0, 3.0]).view(1, 1, 2)
    d = torch.tensor([2.0, 1.0]).view(1, 1, 1, 1, 2)
    q = L.soft_assign(d, centers, tau=1.0)
    assert q.shape == (1, 1, 2, 1, 2)
    assert torch.allclose(q[0, 0, :, 0, 0], torch.tensor([0.5, 0.5]))
    p1 = 1 / (1 + math.exp(-2))
    assert torch.allclose(q[0, 0, :, 0, 1], torch.tensor([p1, 1 - p1]))


def test_aligned_ckd_kl_and_cross_terms():
    """The first release's CKD (now ``aligned_ckd_losses``, ckd_mode="aligned")."""
    centers = torch.tensor([2.0, 10.0]).view(1, 1, 2).repeat(1, 6, 1).requires_grad_(True)
    logits = torch.zeros(1, 6, 2, 4, 4, requires_grad=True)  # uniform student probabilities
    probs = torch.softmax(logits, dim=2)
    teacher = torch.full((1, 6, 1, 8, 8), 2.0)  # teacher says: all pixels in the first bin
    gt = torch.full((1, 6, 1, 8, 8), 2.0)
    out = L.aligned_ckd_losses(probs, centers, teacher, gt, tau=0.01)
    assert float(out["ckd_kl"].detach()) == pytest.approx(math.log(2), rel=1e-4)  # KL([1,0] || [.5,.5])
    assert float(out["ckd_cross"].detach()) < 2e-3  # sum q_i c_i = c_1 = 2 = GT
    # gradients: KL -> probabilities only, cross -> centres only
    g_logits, g_c = torch.autograd.grad(out["ckd_kl"], (logits, centers), allow_unused=True)
    assert g_logits.abs().sum() > 0 and (g_c is None or g_c.abs().sum() == 0)
    gt2 = torch.full_like(gt, 4.0)
    out2 = L.aligned_ckd_losses(probs, centers, teacher, gt2, tau=0.01)
    g_logits, g_c = torch.autograd.grad(out2["ckd_cross"], (logits, centers), allow_unused=True)
    assert g_logits is None or g_logits.abs().sum() == 0
    assert float(g_c[..., 0].sum()) < 0  # centre 1 must grow towards GT = 4
    # matching probabilities -> zero KL
    q = L.soft_assign(torch.full((1, 6, 1, 4, 4), 2.0), centers.detach(), 0.01)
    assert float(L.aligned_ckd_losses(q, centers, teacher, gt, tau=0.01)["ckd_kl"]) < 1e-4


def test_facing_sides_on_real_rig():
    T = torch.from_numpy(load_rig().cam_to_ego).float()
    assert L.facing_sides(T, 0, 1) == ("right", "left")  # FL's right border faces F
    assert L.facing_sides(T, 1, 2) == ("right", "left")  # F's right border faces FR
    assert L.facing_sides(T, 4, 3) == ("right", "left")  # B looks backwards: BL on its right


def test_vrkd_relation_only_so_channel_counts_may_differ():
    torch.manual_seed(0)
    T = torch.from_numpy(load_rig().cam_to_ego).float()
    student = torch.randn(2, 6, 16, 7, 12, requires_grad=True)
    # teacher = orthonormal embedding of the student's features into 40 channels:
    # every cosine similarity is the same, so the relations match exactly
    Q, _ = torch.linalg.qr(torch.randn(40, 16))
    teacher = torch.einsum("oc,bvchw->bvohw", Q, student.detach())
    zero = L.vrkd_loss(student, teacher, L.RING_PAIRS, T, tau=0.1)
    assert float(zero.detach()) < 1e-5
    other = torch.randn(2, 6, 40, 7, 12)
    loss = L.vrkd_loss(student, other, L.RING_PAIRS, T, tau=0.1)
    assert float(loss.detach()) > 0.05
    loss.backward()
    assert student.grad.abs().sum() > 0
    assert float(L.vrkd_loss(student, other, [], T).detach()) == 0.0


def test_ssi_and_gradient_matching_are_affine_invariant():
    torch.manual_seed(0)
    gt = torch.rand(1, 6, 1, 16, 24) * 30 + 1
    gt[..., :2, :] = 0  # some pixels without GT
    disp = 3.0 / gt.clamp_min(1e-3) + 0.7
    assert float(L.ssi_loss(disp, gt)) < 1e-4
    assert float(L.gradient_matching_loss(disp, gt)) < 1e-4
    noisy = disp + torch.rand_like(disp)
    assert float(L.ssi_loss(noisy, gt)) > 0.1
    assert float(L.gradient_matching_loss(noisy, gt)) > 0.1


def test_linear_assign_preserves_expectation_and_clamps():
    centers = torch.tensor([1.0, 2.0, 4.0, 8.0]).reshape(1, 1, 4).repeat(1, 6, 1)
    d = torch.tensor([0.5, 1.5, 3.0, 7.0, 9.0]).reshape(1, 1, 1, 1, 5).repeat(1, 6, 1, 1, 1)
    q = L.linear_assign(d, centers)
    assert q.shape == (1, 6, 4, 1, 5)
    assert torch.allclose(q.sum(2), torch.ones(1, 6, 1, 5))
    expected = torch.tensor([[1, 0, 0, 0], [.5, .5, 0, 0], [0, .5, .5, 0], [0, 0, .25, .75],
                             [0, 0, 0, 1]], dtype=torch.float32)
    assert torch.allclose(q[0, 0, :, 0, :].T, expected)
    # inside the centres' range the expectation is the depth itself (no quantisation)
    exp = (q * centers[..., None, None]).sum(2)[0, 0, 0]
    assert torch.allclose(exp, torch.tensor([1.0, 1.5, 3.0, 7.0, 8.0]))


def test_aligned_ckd_linear_kl_zero_when_student_matches_two_hot():
    centers = torch.tensor([1.0, 2.0, 4.0, 8.0]).reshape(1, 1, 4).repeat(1, 6, 1)
    teacher = torch.full((1, 6, 1, 4, 4), 3.0)
    gt = torch.full((1, 6, 1, 4, 4), 3.0)
    probs = L.linear_assign(teacher, centers)
    out = L.aligned_ckd_losses(probs, centers, teacher, gt, assign="linear")
    assert float(out["ckd_kl"]) < 1e-5
    assert float(out["ckd_cross"]) < 2e-3  # teacher shape x student centres == GT (SILog floor 10*sqrt(1e-8))


def test_teacher_aligned_to_the_student_carries_no_scale():
    """ckd_align="student": the teacher's disparity fitted to the student's own depth follows
    the student's scale exactly (x2 depth -> x2 target), so CKD's bin targets transfer the
    teacher's shape only; the metric scale is left to the GT terms."""
    import torch

    from fsmde_gui.training.losses import align_disparity_to_depth

    torch.manual_seed(0)
    student = 2.0 + 10.0 * torch.rand(1, 6, 1, 16, 24)
    teacher_disp = 3.0 / student + 0.01  # same shape, another scale and shift
    a, _ = align_disparity_to_depth(teacher_disp, student, 0.5, 200.0)
    b, _ = align_disparity_to_depth(teacher_disp, 2.0 * student, 0.5, 200.0)
    assert torch.allclose(a, student, rtol=1e-3)
    assert torch.allclose(b, 2.0 * a, rtol=1e-3)


def test_aligned_ckd_kl_can_skip_clipped_teacher_pixels():
    """With depth_range, pixels whose aligned teacher depth sits on a clip bound do not count
    in the KL (there the alignment says nothing about shape)."""
    import torch

    from fsmde_gui.training.losses import aligned_ckd_losses

    torch.manual_seed(0)
    centers = torch.linspace(1.0, 80.0, 8).expand(1, 6, 8)
    probs = torch.softmax(torch.randn(1, 6, 8, 4, 4), dim=2)
    teacher = 5.0 + 20.0 * torch.rand(1, 6, 1, 4, 4)
    gt = torch.zeros_like(teacher)
    base = aligned_ckd_losses(probs, centers, teacher, gt, assign="linear",
                              depth_range=(0.5, 80.0))
    clipped = teacher.clone()
    clipped[..., 0, :] = 80.0  # one row at max depth: sky / fit gone negative
    probs2 = probs.clone()
    probs2[..., 0, :] = torch.softmax(torch.randn(1, 6, 8, 4), dim=2)  # any prediction there
    skip = aligned_ckd_losses(probs2, centers, clipped, gt, assign="linear",
                              depth_range=(0.5, 80.0))
    keep = aligned_ckd_losses(probs2, centers, clipped, gt, assign="linear")
    rows = aligned_ckd_losses(probs[..., 1:, :], centers, teacher[..., 1:, :], gt[..., 1:, :],
                              assign="linear")
    assert float(skip["ckd_kl"]) == pytest.approx(float(rows["ckd_kl"]), rel=1e-5)
    assert float(keep["ckd_kl"]) != pytest.approx(float(skip["ckd_kl"]), rel=1e-3)
    assert float(base["ckd_kl"]) > 0


def test_aligned_ckd_kl_can_skip_pixels_that_have_gt():
    """skip_gt_pixels: the KL counts only the (low-res) pixels with no GT inside them."""
    from fsmde_gui.training.losses import aligned_ckd_losses

    torch.manual_seed(1)
    centers = torch.linspace(1.0, 80.0, 8).expand(1, 6, 8)
    probs = torch.softmax(torch.randn(1, 6, 8, 4, 4), dim=2)
    teacher = 5.0 + 20.0 * torch.rand(1, 6, 1, 8, 8)  # full res 8x8, probs at 4x4
    gt = torch.zeros_like(teacher)
    gt[..., :2, :] = 10.0  # GT in the top two full-res rows = the top low-res row
    skip = aligned_ckd_losses(probs, centers, teacher, gt, assign="linear",
                              skip_gt_pixels=True)
    t_low = torch.nn.functional.interpolate(teacher.reshape(6, 1, 8, 8), size=(4, 4),
                                            mode="area").reshape(1, 6, 1, 4, 4)
    rows = aligned_ckd_losses(probs[..., 1:, :], centers, t_low[..., 1:, :],
                              gt[..., 1:4, :4] * 0, assign="linear")
    assert float(skip["ckd_kl"]) == pytest.approx(float(rows["ckd_kl"]), rel=1e-5)
    assert float(aligned_ckd_losses(probs, centers, teacher, gt, assign="linear")["ckd_kl"]) != \
        pytest.approx(float(skip["ckd_kl"]), rel=1e-3)


# ------------------------------------------------------------------ P1 ordinal CKD
def test_ordinal_positions_quantile_known_ranks_and_monotone_invariance():
    disp = torch.tensor([4.0, 1.0, 3.0, 2.0, 5.0]).reshape(1, 1, 1, 1, 5)
    pos = L.ordinal_positions(disp, num_bins=9, norm="quantile")
    assert pos.shape == (1, 1, 1, 1, 5)
    # ranks near (largest disparity) -> far: 5, 4, 3, 2, 1 -> 0, 1, 2, 3, 4; x (N-1)/(n-1) = 2
    torch.testing.assert_close(pos.flatten(), torch.tensor([2.0, 8.0, 4.0, 6.0, 0.0]))
    torch.manual_seed(0)
    rel = torch.rand(2, 6, 1, 8, 12) + 0.05
    pos = L.ordinal_positions(rel, 16, "quantile")
    flat, rflat = pos.reshape(12, -1), rel.reshape(12, -1)
    rows = torch.arange(12)
    assert torch.equal(flat[rows, rflat.argmax(1)], torch.zeros(12))  # nearest -> bin 0
    assert torch.equal(flat[rows, rflat.argmin(1)], torch.full((12,), 15.0))  # farthest -> N-1
    for changed in (7.5 * rel, rel + 3.0, 0.2 * rel ** 2.2 + 0.1):  # scale, shift, gamma
        assert torch.equal(L.ordinal_positions(changed, 16, "quantile"), pos)


def test_ordinal_positions_log_scale_invariant_and_clipped():
    torch.manual_seed(1)
    rel = torch.rand(1, 6, 1, 16, 16) * 2 + 0.01
    pos = L.ordinal_positions(rel, 8, "log")
    assert float(pos.min()) == 0.0 and float(pos.max()) == 7.0  # clipped at the 2 / 98 %
    torch.testing.assert_close(L.ordinal_positions(40.0 * rel, 8, "log"), pos, rtol=0,
                               atol=1e-4)
    assert not torch.allclose(L.ordinal_positions(rel + 1.0, 8, "log"), pos, atol=1e-2)
    flat, rflat = pos.reshape(6, -1), rel.reshape(6, -1)
    assert torch.equal(flat[torch.arange(6), rflat.argmax(1)], torch.zeros(6))
    # within the robust range the position is affine in log depth = -log disparity
    z = -torch.log(rflat[0])
    inside = (flat[0] > 0) & (flat[0] < 7)
    fit = torch.linalg.lstsq(torch.stack([z[inside], torch.ones_like(z[inside])], 1),
                             flat[0][inside][:, None]).solution
    resid = torch.stack([z[inside], torch.ones_like(z[inside])], 1) @ fit - flat[0][inside][:, None]
    assert float(resid.abs().max()) < 1e-3
    with pytest.raises(ValueError, match="ordinal normalisation"):
        L.ordinal_positions(rel, 8, "rank")


def test_two_hot_sums_to_one_and_keeps_the_expected_index():
    N = 6
    pos = torch.tensor([0.0, 0.25, 2.5, 3.9, 4.999, 5.0]).reshape(1, 1, 1, 2, 3)
    q = L.two_hot(pos, N)
    assert q.shape == (1, 1, N, 2, 3)
    torch.testing.assert_close(q.sum(2), torch.ones(1, 1, 2, 3))
    idx = torch.arange(N, dtype=torch.float32).reshape(1, 1, N, 1, 1)
    torch.testing.assert_close((q * idx).sum(2, keepdim=True), pos)
    assert (q >= 0).all() and ((q > 0).sum(2) <= 2).all()
    last = torch.zeros(N)
    last[-1] = 1.0
    torch.testing.assert_close(q[0, 0, :, 1, 2], last)  # position N-1: one-hot on the last bin
    first = torch.zeros(N)
    first[0] = 1.0
    torch.testing.assert_close(q[0, 0, :, 0, 0], first)
    torch.testing.assert_close(q[0, 0, :, 0, 2], torch.tensor([0, 0, .5, .5, 0, 0.]))
    # out-of-range positions are clamped onto the end bins
    out = L.two_hot(torch.tensor([-2.0, 9.0]).reshape(1, 1, 1, 1, 2), N)
    torch.testing.assert_close(out[0, 0, :, 0, 0], first)
    torch.testing.assert_close(out[0, 0, :, 0, 1], last)


def test_ordinal_teacher_probs_shape_and_no_gradient():
    torch.manual_seed(0)
    rel = (torch.rand(2, 6, 1, 16, 24) + 0.1).requires_grad_(True)
    q = L.ordinal_teacher_probs(rel, 8, (8, 12))
    assert q.shape == (2, 6, 8, 8, 12) and not q.requires_grad
    torch.testing.assert_close(q.sum(2), torch.ones(2, 6, 8, 12))
    same = L.ordinal_teacher_probs(rel, 8, (16, 24))
    assert same.shape == (2, 6, 8, 16, 24)
    idx = torch.arange(8, dtype=torch.float32).reshape(1, 1, 8, 1, 1)
    torch.testing.assert_close((same * idx).sum(2, keepdim=True),
                               L.ordinal_positions(rel, 8, "quantile"))


def _ordinal_setup():
    """One image per view, 8 pixels, 8 bins: the teacher's ranks are the bin indices exactly."""
    torch.manual_seed(0)
    rel = torch.rand(1, 6, 1, 2, 4) + 0.1
    N = 8
    q = L.ordinal_teacher_probs(rel, N, (2, 4))
    ranks = L.ordinal_positions(rel, N).round().long()  # (1,6,1,2,4), 0 = nearest
    return rel, N, q, ranks


def test_ckd_kl_zero_when_student_equals_teacher_bins():
    rel, N, q, _ = _ordinal_setup()
    gt = torch.zeros_like(rel)
    centers = torch.logspace(0, 1.5, N).expand(1, 6, N)
    out = L.ckd_losses(q, centers, rel, gt)
    assert float(out["ckd_kl"]) < 1e-6
    uniform = torch.full_like(q, 1.0 / N)  # q is one-hot here: KL(one-hot || uniform) = log N
    assert float(L.ckd_losses(uniform, centers, rel, gt)["ckd_kl"]) == pytest.approx(
        math.log(N), rel=1e-5)
    # q holds no GT: the KL does not change with the GT
    gt2 = torch.rand_like(rel) * 30 + 1
    assert float(L.ckd_losses(uniform, centers, rel, gt2)["ckd_kl"]) == pytest.approx(
        math.log(N), rel=1e-5)


def test_ckd_gradients_kl_to_probs_cross_to_centres():
    torch.manual_seed(0)
    rel = torch.rand(1, 6, 1, 8, 12) + 0.1
    gt = torch.rand(1, 6, 1, 8, 12) * 30 + 1
    gt[..., ::2, :] = 0  # sparse GT
    logits = torch.randn(1, 6, 8, 4, 6, requires_grad=True)  # probs at half resolution
    centers = torch.logspace(0, 1.7, 8).expand(1, 6, 8).clone().requires_grad_(True)
    probs = torch.softmax(logits, dim=2)
    out = L.ckd_losses(probs, centers, rel, gt)
    g_logits, g_c = torch.autograd.grad(out["ckd_cross"], (logits, centers), retain_graph=True,
                                        allow_unused=True)
    assert g_logits is None or float(g_logits.abs().sum()) == 0.0
    assert float(g_c.abs().sum()) > 0
    g_logits, g_c = torch.autograd.grad(out["ckd_kl"], (logits, centers), allow_unused=True)
    assert float(g_logits.abs().sum()) > 0
    assert g_c is None or float(g_c.abs().sum()) == 0.0


def test_ckd_cross_depends_on_the_centres_and_is_zero_when_they_explain_gt():
    rel, N, q, ranks = _ordinal_setup()
    centers = torch.logspace(0, 1.8, N).expand(1, 6, N).contiguous()  # 1 .. 63 m
    gt = centers.gather(2, ranks.reshape(1, 6, -1)).reshape(rel.shape)  # GT = c[rank]
    gt[..., 0, :2] = 0  # some pixels without GT
    probs = torch.full_like(q, 1.0 / N)
    exact = L.ckd_losses(probs, centers, rel, gt)["ckd_cross"]
    assert float(exact) < 2e-3  # sum_i q_i c_i == GT (SILog floor 10 sqrt(1e-8))
    # other centres, same teacher and GT: the cross term moves (the aligned variant's did not)
    shifted = centers.clone()
    shifted[..., 3:] *= 1.7
    moved = L.ckd_losses(probs, shifted, rel, gt)["ckd_cross"]
    assert float(moved) > 0.5
    l1 = L.ckd_losses(probs, 2 * centers, rel, gt, cross="l1")["ckd_cross"]
    torch.testing.assert_close(l1, gt[gt > 0].mean())  # |2 GT - GT| averaged over GT pixels
    # centres too small everywhere: the cross gradient pulls up every centre that a GT pixel
    # reads (one per pixel here), and leaves the others alone
    small = (0.5 * centers).requires_grad_(True)
    (g,) = torch.autograd.grad(L.ckd_losses(probs, small, rel, gt, cross="l1")["ckd_cross"],
                               small)
    used = torch.zeros(1, 6, N, dtype=torch.bool)
    used.scatter_(2, ranks.reshape(1, 6, -1), (gt > 0).reshape(1, 6, -1))
    assert int(used.sum()) == 6 * 6
    assert (g[used] < 0).all() and torch.equal(g[~used], torch.zeros(int((~used).sum())))


def test_aligned_ckd_cross_does_not_see_the_centres_with_linear_assign():
    """The first release's bug, kept as the ablation row: with the linear assignment
    sum_i q_i c_i is the aligned teacher depth for any centres, so the cross term's value
    cannot tell good centres from bad ones."""
    torch.manual_seed(0)
    teacher = torch.rand(1, 6, 1, 4, 4) * 20 + 5
    gt = teacher * 1.1
    probs = torch.full((1, 6, 8, 4, 4), 1.0 / 8)
    a = torch.linspace(1.0, 80.0, 8).expand(1, 6, 8)
    b = torch.logspace(0, math.log10(80.0), 8).expand(1, 6, 8)
    ca = L.aligned_ckd_losses(probs, a, teacher, gt, assign="linear")["ckd_cross"]
    cb = L.aligned_ckd_losses(probs, b, teacher, gt, assign="linear")["ckd_cross"]
    assert float(ca) == pytest.approx(float(cb), rel=1e-4)
    ra, rb = (L.ckd_losses(probs, c, 1.0 / teacher, gt)["ckd_cross"] for c in (a, b))
    assert float(ra) != pytest.approx(float(rb), rel=1e-2)  # P1's cross term does


# ------------------------------------------------------------------ bin-centre chamfer
def test_bin_chamfer_zero_when_centres_and_gt_cover_each_other():
    gt = torch.zeros(1, 2, 1, 4, 4)
    gt[0, 0, 0, 0, :3] = torch.tensor([1.0, 2.0, 4.0])
    gt[0, 0, 0, 2, :2] = torch.tensor([2.0, 4.0])  # repeated depths
    centers = torch.tensor([[[1.0, 2.0, 4.0, 4.0], [3.0, 5.0, 7.0, 9.0]]])  # image 1: no GT
    assert float(L.bin_chamfer_loss(centers, gt)) < 1e-10


def test_bin_chamfer_known_value_ignores_images_without_gt_and_has_gradients():
    gt = torch.zeros(1, 2, 1, 4, 4)
    gt[0, 0, 0, 0, :3] = torch.tensor([1.0, 2.0, 4.0])
    centers = torch.tensor([[[1.0, 2.0, 4.0, 8.0], [3.0, 5.0, 7.0, 9.0]]], requires_grad=True)
    loss = L.bin_chamfer_loss(centers, gt)
    # GT -> nearest centre: 0; centre 8 -> nearest GT 4: (log 2)^2, mean over 4 centres
    assert float(loss.detach()) == pytest.approx(math.log(2) ** 2 / 4, rel=1e-5)
    alone = L.bin_chamfer_loss(centers[:, :1].detach(), gt[:, :1])
    assert float(loss.detach()) == pytest.approx(float(alone.detach()), rel=1e-6)  # image 1 has no GT
    loss.backward()
    g = centers.grad[0]
    assert float(g[0, 3]) > 0  # centre 8 m is pulled towards 4 m
    assert torch.equal(g[0, :3], torch.zeros(3)) and torch.equal(g[1], torch.zeros(4))
    # a GT depth far from every centre counts too
    gt2 = gt.clone()
    gt2[0, 0, 0, 3, 3] = 16.0
    far = L.bin_chamfer_loss(centers.detach(), gt2)
    assert float(far) == pytest.approx(math.log(2) ** 2 / 4 + math.log(2) ** 2 / 4, rel=1e-5)
    # no GT anywhere: 0, still differentiable
    c = torch.rand(1, 6, 4, requires_grad=True)
    z = L.bin_chamfer_loss(c + 1, torch.zeros(1, 6, 1, 4, 4))
    z.backward()
    assert float(z) == 0.0 and torch.equal(c.grad, torch.zeros_like(c))
