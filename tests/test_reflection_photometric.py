"""Photometric warp and loss masking of the reflection-aware self-supervised objective."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from kornia.geometry.depth import warp_frame_depth

from fsmde_gui.training.photometric import (photometric_error, photometric_loss,
                                            relative_camera_pose, reprojection_terms,
                                            smoothness_loss, warp_to_target)


def _K(b=1, f=60.0, w=64, h=48):
    K = torch.tensor([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    return K.expand(b, 3, 3).clone()


def _pose(yaw=0.0, t=(0, 0, 0)):
    T = torch.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    T[:3, :3] = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    T[:3, 3] = torch.tensor(t, dtype=torch.float32)
    return T


def test_relative_pose_composition():
    C = _pose(0.3, (1.0, 0.2, 1.5))
    E_t, E_s = _pose(0.1, (5, 2, 0)), _pose(0.15, (6, 2.1, 0))
    T = relative_camera_pose(C, E_t, E_s)
    p_cam = torch.tensor([1.0, -0.5, 8.0, 1.0])
    world = E_t @ C @ p_cam  # the point in the world, seen from the target camera
    np.testing.assert_allclose((T @ p_cam).numpy(), (torch.linalg.inv(E_s @ C) @ world).numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(relative_camera_pose(C, E_t, E_t).numpy(), np.eye(4), atol=1e-6)


def test_warp_matches_kornia_warp_frame_depth_inside_the_image():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 48, 64, generator=g)
    depth = 5 + 3 * torch.rand(2, 1, 48, 64, generator=g)
    T = torch.stack([_pose(0.02, (0.1, 0.0, 0.3)), _pose(-0.01, (0.0, 0.05, -0.2))])
    K = _K(2)
    ours, valid = warp_to_target(img, depth, T, K)
    ref = warp_frame_depth(img, depth, T, K)
    assert valid.float().mean() > 0.8
    v = valid.expand_as(ours)
    torch.testing.assert_close(ours[v], ref[v], atol=1e-4, rtol=1e-4)


def test_plane_translation_warp_is_exact_and_invalid_outside():
    # fronto-parallel plane at 10 m; source camera 1 m to the right (x): the source sees
    # the target pixel u at u - f * 1 / 10 = u - 6 px
    h, w = 48, 64
    xs = torch.arange(w, dtype=torch.float32)
    src = (torch.sin(xs / 3.0)[None, None, None, :]).expand(1, 3, h, w).contiguous()
    depth = torch.full((1, 1, h, w), 10.0)
    T = torch.linalg.inv(_pose(0.0, (1.0, 0.0, 0.0)))[None]  # target -> source camera
    warped, valid = warp_to_target(src, depth, T, _K())
    expected = torch.sin((xs - 6.0) / 3.0)
    assert not bool(valid[..., :5].any()) and bool(valid[..., 7:].all())
    torch.testing.assert_close(warped[0, 0, 0, 7:], expected[7:], atol=1e-4, rtol=0)


def test_min_over_sources_and_automask():
    g = torch.Generator().manual_seed(1)
    tgt = torch.rand(1, 3, 32, 32, generator=g)
    same = tgt.clone()
    other = torch.rand(1, 3, 32, 32, generator=g)
    depth = torch.full((1, 1, 32, 32), 5.0)
    eye = torch.eye(4)[None]
    K = _K(1, 30, 32, 32)
    terms = reprojection_terms(tgt, [other, same], depth, [eye, eye], K, automask=False)
    assert float(terms["min_error"].max()) < 1e-5  # the perfect source wins everywhere
    # identity == warp (no motion): auto-mask removes (nearly) every pixel
    terms = reprojection_terms(tgt, [other, same], depth, [eye, eye], K, automask=True)
    assert float(terms["automask"].float().mean()) < 0.6
    assert photometric_error(tgt, tgt).abs().max() < 1e-6


def test_excluded_pixels_get_zero_gradient():
    g = torch.Generator().manual_seed(2)
    tgt = torch.rand(1, 3, 32, 40, generator=g)
    src = torch.rand(1, 3, 32, 40, generator=g)
    depth = (6 + torch.rand(1, 1, 32, 40, generator=g)).requires_grad_(True)
    T = torch.linalg.inv(_pose(0.0, (0.0, 0.0, 0.5)))[None]
    terms = reprojection_terms(tgt, [src], depth, [T], _K(1, 30, 40, 32), automask=False)
    exclude = torch.zeros(1, 1, 32, 40, dtype=torch.bool)
    exclude[..., 8:24, 10:30] = True
    loss, weight = photometric_loss(terms, exclude)
    loss.backward()
    grad = depth.grad.abs()
    # SSIM's 3x3 window couples a pixel with its neighbours: look 2 px inside the region
    assert float(grad[..., 10:22, 12:28].max()) == 0.0
    assert float(grad[~exclude.expand_as(grad)].abs().sum()) > 0
    assert not bool(weight[exclude].any())
    # the loss value is the mean over kept pixels only
    keep = weight.float()
    ref = (terms["min_error"].detach() * keep).sum() / keep.sum()
    assert float(loss.detach()) == pytest.approx(float(ref), rel=1e-6)


def test_smoothness_is_zero_for_constant_depth_and_positive_for_noise():
    img = torch.rand(1, 3, 16, 16)
    assert float(smoothness_loss(torch.full((1, 1, 16, 16), 7.0), img)) == pytest.approx(0.0)
    assert float(smoothness_loss(5 + torch.rand(1, 1, 16, 16), img)) > 0


def _sim_pair(root, t=1, s=2):
    from fsmde_gui.data.detect import open_dataset

    ds = open_dataset(root)
    f0, f1 = ds.frame(0, t), ds.frame(0, s)

    def imgs(f):
        return torch.from_numpy(f.images).permute(0, 3, 1, 2).float() / 255.0

    depth = torch.from_numpy(np.stack([v.depth_dense for v in f0.views]))[:, None]
    refl = torch.from_numpy(np.stack([v.reflection for v in f0.views]))[:, None].bool()
    K = torch.from_numpy(f0.intrinsics).float()
    T = torch.stack([relative_camera_pose(torch.from_numpy(v.cam_to_ego),
                                          torch.from_numpy(v.ego_to_world),
                                          torch.from_numpy(u.ego_to_world))
                     for v, u in zip(f0.views, f1.views)]).float()
    return imgs(f0), imgs(f1), depth, refl, K, T


def test_gt_depth_and_pose_reproduce_the_next_frame_on_lambertian_pixels(tiny_sim_root):
    tgt, src, depth, refl, K, T = _sim_pair(tiny_sim_root)
    sky = depth <= 0
    d = torch.where(sky, torch.full_like(depth, 1000.0), depth)
    warped, valid = warp_to_target(src, d, T, K)
    l1 = (warped - tgt).abs().mean(1, keepdim=True)
    lamb = valid & ~sky & ~refl
    shiny = valid & ~sky & refl
    assert int(lamb.sum()) > 10000 and int(shiny.sum()) > 1000
    # Lambertian pixels: the warp reproduces the frame (8-bit images, bilinear resampling)
    assert float(l1[lamb].median()) < 0.02
    # ... far better than not warping and than warping with the wrong depth
    ident = (src - tgt).abs().mean(1, keepdim=True)
    wrong, _ = warp_to_target(src, d * 1.5, T, K)
    assert float(l1[lamb].mean()) < 0.8 * float(ident[lamb].mean())
    assert float(l1[lamb].mean()) < float((wrong - tgt).abs().mean(1, keepdim=True)[lamb].mean())
    # reflective (non-Lambertian) pixels break photometric constancy: clearly larger error
    assert float(l1[shiny].mean()) > 1.2 * float(l1[lamb].mean())
    pe = photometric_error(warped, tgt)
    assert float(pe[shiny].mean()) > float(pe[lamb].mean())
