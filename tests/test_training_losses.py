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


def test_ckd_kl_and_cross_terms():
    centers = torch.tensor([2.0, 10.0]).view(1, 1, 2).repeat(1, 6, 1).requires_grad_(True)
    logits = torch.zeros(1, 6, 2, 4, 4, requires_grad=True)  # uniform student probabilities
    probs = torch.softmax(logits, dim=2)
    teacher = torch.full((1, 6, 1, 8, 8), 2.0)  # teacher says: all pixels in the first bin
    gt = torch.full((1, 6, 1, 8, 8), 2.0)
    out = L.ckd_losses(probs, centers, teacher, gt, tau=0.01)
    assert float(out["ckd_kl"].detach()) == pytest.approx(math.log(2), rel=1e-4)  # KL([1,0] || [.5,.5])
    assert float(out["ckd_cross"]) < 2e-3  # sum q_i c_i = c_1 = 2 = GT
    # gradients: KL -> probabilities only, cross -> centres only
    g_logits, g_c = torch.autograd.grad(out["ckd_kl"], (logits, centers), allow_unused=True)
    assert g_logits.abs().sum() > 0 and (g_c is None or g_c.abs().sum() == 0)
    gt2 = torch.full_like(gt, 4.0)
    out2 = L.ckd_losses(probs, centers, teacher, gt2, tau=0.01)
    g_logits, g_c = torch.autograd.grad(out2["ckd_cross"], (logits, centers), allow_unused=True)
    assert g_logits is None or g_logits.abs().sum() == 0
    assert float(g_c[..., 0].sum()) < 0  # centre 1 must grow towards GT = 4
    # matching probabilities -> zero KL
    q = L.soft_assign(torch.full((1, 6, 1, 4, 4), 2.0), centers.detach(), 0.01)
    assert float(L.ckd_losses(q, centers, teacher, gt, tau=0.01)["ckd_kl"]) < 1e-4


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
    assert float(zero) < 1e-5
    other = torch.randn(2, 6, 40, 7, 12)
    loss = L.vrkd_loss(student, other, L.RING_PAIRS, T, tau=0.1)
    assert float(loss) > 0.05
    loss.backward()
    assert student.grad.abs().sum() > 0
    assert float(L.vrkd_loss(student, other, [], T)) == 0.0


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


def test_ckd_linear_kl_zero_when_student_matches_two_hot():
    centers = torch.tensor([1.0, 2.0, 4.0, 8.0]).reshape(1, 1, 4).repeat(1, 6, 1)
    teacher = torch.full((1, 6, 1, 4, 4), 3.0)
    gt = torch.full((1, 6, 1, 4, 4), 3.0)
    probs = L.linear_assign(teacher, centers)
    out = L.ckd_losses(probs, centers, teacher, gt, assign="linear")
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


def test_ckd_kl_can_skip_clipped_teacher_pixels():
    """With depth_range, pixels whose aligned teacher depth sits on a clip bound do not count
    in the KL (there the alignment says nothing about shape)."""
    import torch

    from fsmde_gui.training.losses import ckd_losses

    torch.manual_seed(0)
    centers = torch.linspace(1.0, 80.0, 8).expand(1, 6, 8)
    probs = torch.softmax(torch.randn(1, 6, 8, 4, 4), dim=2)
    teacher = 5.0 + 20.0 * torch.rand(1, 6, 1, 4, 4)
    gt = torch.zeros_like(teacher)
    base = ckd_losses(probs, centers, teacher, gt, assign="linear", depth_range=(0.5, 80.0))
    clipped = teacher.clone()
    clipped[..., 0, :] = 80.0  # one row at max depth: sky / fit gone negative
    probs2 = probs.clone()
    probs2[..., 0, :] = torch.softmax(torch.randn(1, 6, 8, 4), dim=2)  # any prediction there
    skip = ckd_losses(probs2, centers, clipped, gt, assign="linear", depth_range=(0.5, 80.0))
    keep = ckd_losses(probs2, centers, clipped, gt, assign="linear")
    rows = ckd_losses(probs[..., 1:, :], centers, teacher[..., 1:, :], gt[..., 1:, :],
                      assign="linear")
    assert float(skip["ckd_kl"]) == pytest.approx(float(rows["ckd_kl"]), rel=1e-5)
    assert float(keep["ckd_kl"]) != pytest.approx(float(skip["ckd_kl"]), rel=1e-3)
    assert float(base["ckd_kl"]) > 0


def test_ckd_kl_can_skip_pixels_that_have_gt():
    """skip_gt_pixels: the KL counts only the (low-res) pixels with no GT inside them."""
    from fsmde_gui.training.losses import ckd_losses

    torch.manual_seed(1)
    centers = torch.linspace(1.0, 80.0, 8).expand(1, 6, 8)
    probs = torch.softmax(torch.randn(1, 6, 8, 4, 4), dim=2)
    teacher = 5.0 + 20.0 * torch.rand(1, 6, 1, 8, 8)  # full res 8x8, probs at 4x4
    gt = torch.zeros_like(teacher)
    gt[..., :2, :] = 10.0  # GT in the top two full-res rows = the top low-res row
    skip = ckd_losses(probs, centers, teacher, gt, assign="linear", skip_gt_pixels=True)
    t_low = torch.nn.functional.interpolate(teacher.reshape(6, 1, 8, 8), size=(4, 4),
                                            mode="area").reshape(1, 6, 1, 4, 4)
    rows = ckd_losses(probs[..., 1:, :], centers, t_low[..., 1:, :], gt[..., 1:4, :4] * 0,
                      assign="linear")
    assert float(skip["ckd_kl"]) == pytest.approx(float(rows["ckd_kl"]), rel=1e-5)
    assert float(ckd_losses(probs, centers, teacher, gt, assign="linear")["ckd_kl"]) != \
        pytest.approx(float(skip["ckd_kl"]), rel=1e-3)
