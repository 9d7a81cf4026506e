"""Geometry core: back-projection, transforms, projection and warping on scenes with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_gui.core import geometry as g
from fsmde_gui.core.rig import load_rig

torch.set_num_threads(1)
HW = (64, 96)
K = np.array([[80.0, 0, 47.5], [0, 80.0, 31.5], [0, 0, 1]])


def plane_depth(K, hw, n, c, T_cam_to_ref=np.eye(4)):
    """z-depth of the plane n . X = c (X in the reference frame) seen by a camera; 0 = missed."""
    h, w = hw
    uv1 = np.concatenate([g.pixel_grid(h, w), np.ones((h, w, 1))], -1)
    rays = (uv1 @ np.linalg.inv(K).T) @ T_cam_to_ref[:3, :3].T  # camera z = 1 per ray
    o = T_cam_to_ref[:3, 3]
    denom = rays @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (c - n @ o) / denom
    return np.where(np.isfinite(s) & (s > 0), s, 0.0)


def texture(p):
    """A smooth colour pattern on 3D points (..., 3) -> (..., 3) in [0, 1]."""
    return np.stack([0.5 + 0.4 * np.sin(1.3 * p[..., 1]), 0.5 + 0.4 * np.cos(0.9 * p[..., 2]),
                     0.5 + 0.4 * np.sin(0.7 * p[..., 1] + 0.5 * p[..., 2])], -1)


def test_backproject_plane_depth_lands_on_that_plane():
    n, c = np.array([0.0, 0.6, 0.8]), 5.0  # a tilted plane in front of and below the camera
    depth = plane_depth(K, HW, n, c)
    assert (depth > 0).mean() > 0.9
    pts = g.backproject(depth, K)
    assert pts.shape == (*HW, 3)
    on = depth > 0
    np.testing.assert_allclose(pts[on] @ n, c, atol=1e-9)
    np.testing.assert_allclose(pts[..., 2], depth)
    # a known pixel: the principal point at depth 4 is (0, 0, 4); u = cx + 8 -> x = 8 z / fx
    pts4 = g.backproject(np.full(HW, 4.0), K)
    assert pts4[31, 55] == pytest.approx([(55 - 47.5) * 4 / 80, (31 - 31.5) * 4 / 80, 4.0])


def test_backproject_keeps_float32_and_broadcasts_views():
    rig = load_rig(width=96, height=64)
    d = np.random.default_rng(0).uniform(1, 30, (6, *HW)).astype(np.float32)
    pts = g.backproject(d, rig.intrinsics)
    assert pts.shape == (6, *HW, 3) and pts.dtype == np.float32
    for v in range(6):
        np.testing.assert_allclose(pts[v], g.backproject(d[v], rig.intrinsics[v]), rtol=1e-6)
    with pytest.raises(ValueError, match="intrinsics"):
        g.backproject(d[0], np.eye(4))


def test_project_backproject_round_trip_and_behind_camera():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 80, HW)
    uv, z = g.project(g.backproject(depth, K), K)
    np.testing.assert_allclose(uv, g.pixel_grid(*HW), atol=1e-9)
    np.testing.assert_allclose(z, depth, rtol=1e-12)
    uv, z = g.project(np.array([[1.0, 2.0, -3.0], [0.0, 0.0, 2.0]]), K)
    assert np.isnan(uv[0]).all() and z[0] == -3.0
    assert uv[1] == pytest.approx([47.5, 31.5])
    inside = g.inside_image(np.array([[-0.5, 0], [95.4, 63.4], [95.6, 0], [np.nan, 1]]), HW)
    assert inside.tolist() == [True, True, False, False]


def test_transform_points_and_relative_transform():
    rig = load_rig()
    T = rig.cam_to_ego
    rng = np.random.default_rng(2)
    p_cam = rng.normal(size=(100, 3)) * 10
    p_ego = g.transform_points(T[1], p_cam)
    np.testing.assert_allclose(p_ego, p_cam @ T[1][:3, :3].T + T[1][:3, 3])
    # camera 1 -> camera 2 equals going through the ego frame
    T12 = g.relative_transform(T[2], T[1])
    np.testing.assert_allclose(g.transform_points(T12, p_cam),
                               g.transform_points(np.linalg.inv(T[2]), p_ego), atol=1e-9)
    # the camera centre of F sits at its translation in the ego frame; optical axis ~ +x ego
    assert g.transform_points(T[1], np.zeros(3)) == pytest.approx(T[1][:3, 3])
    axis = g.transform_points(T[1], np.array([0, 0, 1.0])) - T[1][:3, 3]
    assert axis[0] > 0.99
    assert g.transform_points(T[1], p_cam.astype(np.float32)).dtype == np.float32


def test_warp_image_identity_is_exact():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (*HW, 3), dtype=np.uint8)
    depth = rng.uniform(1, 50, HW).astype(np.float32)
    depth[5, 7] = 0  # no depth -> invalid
    warped, valid = g.warp_image(img, depth, K, K, np.eye(4))
    assert warped.shape == img.shape and warped.dtype == np.uint8
    assert not valid[5, 7] and warped[5, 7].sum() == 0
    np.testing.assert_array_equal(warped[valid], img[valid])
    assert valid.sum() == HW[0] * HW[1] - 1


def _two_view_wall(hw=(128, 224)):
    """F and FR of the real rig looking at a textured wall x = 12 m (ego)."""
    rig = load_rig(width=hw[1], height=hw[0])
    n, c = np.array([1.0, 0, 0]), 12.0
    views = []
    for cam in (1, 2):
        K_, T = rig.intrinsics[cam], rig.cam_to_ego[cam]
        d = plane_depth(K_, hw, n, c, T)
        pts_ego = g.transform_points(T, g.backproject(d, K_))
        views.append((K_, T, d, np.where((d > 0)[..., None], texture(pts_ego), 0.0)))
    return views


def test_warp_image_between_real_rig_cameras_reproduces_target_view():
    (K_t, T_t, d_t, img_t), (K_s, T_s, _, img_s) = _two_view_wall()
    T_t_to_s = g.relative_transform(T_s, T_t)
    warped, valid = g.warp_image(img_s.astype(np.float32), d_t.astype(np.float32), K_t, K_s,
                                 T_t_to_s)
    assert 0.05 < valid.mean() < 0.5  # the F/FR overlap strip
    err = np.abs(warped[valid] - img_t[valid])
    assert err.mean() < 2e-3 and err.max() < 0.03
    # nearest sampling also lands within a pixel's worth of texture change
    warped_n, valid_n = g.warp_image(img_s.astype(np.float32), d_t, K_t, K_s, T_t_to_s,
                                     interpolation="nearest")
    assert valid_n.sum() >= valid.sum() and np.abs(warped_n[valid] - img_t[valid]).mean() < 0.02
    # the valid pixels are on the right of F (towards FR)
    cols = np.nonzero(valid.any(0))[0]
    assert cols.min() > valid.shape[1] // 2


def test_warp_image_from_a_smaller_source_image():
    (K_t, T_t, d_t, img_t), (K_s, T_s, _, _) = _two_view_wall()
    # the source rendered at half size (K scaled about pixel centres), target at full size
    hs, ws = d_t.shape[0] // 2, d_t.shape[1] // 2
    K_half = K_s.copy()
    K_half[:2] *= 0.5
    K_half[:2, 2] = (K_s[:2, 2] + 0.5) / 2 - 0.5
    d_s = plane_depth(K_half, (hs, ws), np.array([1.0, 0, 0]), 12.0, T_s)
    pts = g.transform_points(T_s, g.backproject(d_s, K_half))
    img_s = np.where((d_s > 0)[..., None], texture(pts), 0.0).astype(np.float32)
    warped, valid = g.warp_image(img_s, d_t, K_t, K_half, g.relative_transform(T_s, T_t))
    assert warped.shape == img_t.shape and valid.mean() > 0.05
    assert np.abs(warped[valid] - img_t[valid]).mean() < 5e-3


def test_warp_image_torch_matches_numpy_and_kornia():
    from kornia.geometry.depth import warp_frame_depth

    (K_t, T_t, d_t, img_t), (K_s, T_s, _, img_s) = _two_view_wall()
    T_t_to_s = g.relative_transform(T_s, T_t)
    warped_np, valid_np = g.warp_image(img_s.astype(np.float32), d_t.astype(np.float32), K_t,
                                       K_s, T_t_to_s)
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)[None]  # noqa: E731
    warped_t, valid_t = g.warp_image_torch(t(img_s).permute(0, 3, 1, 2), t(d_t)[:, None],
                                           t(K_t), t(K_s), t(T_t_to_s))
    assert warped_t.shape == (1, 3, *d_t.shape) and valid_t.dtype == torch.bool
    v = valid_t[0, 0].numpy()
    assert (v == valid_np).mean() > 0.999
    both = v & valid_np
    np.testing.assert_allclose(warped_t[0].permute(1, 2, 0).numpy()[both], warped_np[both],
                               atol=2e-3)  # cv2.remap: 1/32-pixel weights
    # same K and size: exactly kornia's warp_frame_depth
    ref = warp_frame_depth(t(img_s).permute(0, 3, 1, 2), t(d_t)[:, None], t(T_t_to_s), t(K_s))
    ours, valid = g.warp_image_torch(t(img_s).permute(0, 3, 1, 2), t(d_t)[:, None], t(K_s),
                                     t(K_s), t(T_t_to_s))
    np.testing.assert_allclose(ours.numpy(), (ref * valid).numpy(), atol=1e-9)


def test_warp_image_torch_is_differentiable_in_depth():
    (K_t, T_t, d_t, _), (K_s, T_s, _, img_s) = _two_view_wall(hw=(32, 56))
    depth = torch.tensor(d_t, dtype=torch.float32)[None, None].requires_grad_(True)
    img = torch.tensor(img_s, dtype=torch.float32).permute(2, 0, 1)[None]
    T = torch.tensor(g.relative_transform(T_s, T_t), dtype=torch.float32)[None]
    warped, valid = g.warp_image_torch(img, depth, torch.tensor(K_t)[None].float(),
                                       torch.tensor(K_s)[None].float(), T)
    warped.sum().backward()
    assert valid.any() and depth.grad is not None and depth.grad.abs().sum() > 0
    # intrinsics/poses in float64 follow the depth's dtype and device
    warped64, _ = g.warp_image_torch(img, depth.detach(), torch.tensor(K_t)[None],
                                     torch.tensor(K_s)[None], T.double())
    assert warped64.dtype == torch.float32
    torch.testing.assert_close(warped64, warped.detach(), atol=1e-4, rtol=0)


def test_backproject_and_project_torch_match_numpy():
    rig = load_rig(width=96, height=64)
    d = np.random.default_rng(4).uniform(1, 30, (6, *HW)).astype(np.float32)
    Ks = torch.tensor(rig.intrinsics, dtype=torch.float32)
    pts = g.backproject_torch(torch.from_numpy(d)[:, None], Ks)
    np.testing.assert_allclose(pts.numpy(), g.backproject(d, rig.intrinsics), rtol=1e-5, atol=1e-5)
    uv, z = g.project_torch(pts, Ks)
    np.testing.assert_allclose(uv.numpy(), np.broadcast_to(g.pixel_grid(*HW), uv.shape), atol=2e-3)
    np.testing.assert_allclose(z.numpy(), d, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        g.backproject_torch(torch.from_numpy(d), Ks)
