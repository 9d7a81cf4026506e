"""Point-cloud fusion, open3d clean-up and PLY export on inputs with known answers."""
from __future__ import annotations

import os

import numpy as np
import pytest

from fsmde_gui.core import geometry as g
from fsmde_gui.core.errors import FsmdeError
from fsmde_gui.core.fusion import (CAMERA_COLORS, PointCloud, fuse_depth_maps, fused_point_colors,
                                   read_ply, remove_outliers, to_open3d, voxel_downsample,
                                   write_ply)
from fsmde_gui.core.rig import load_rig

HW = (64, 112)


def ground_depths(rig, hw, height=0.0):
    """z-depth maps of the ground plane z_ego = height seen by every camera (0 = sky)."""
    h, w = hw
    uv1 = np.concatenate([g.pixel_grid(h, w), np.ones((h, w, 1))], -1)
    out = []
    for K, T in zip(rig.intrinsics, rig.cam_to_ego):
        rays = (uv1 @ np.linalg.inv(K).T) @ T[:3, :3].T
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (height - T[2, 3]) / rays[..., 2]
        out.append(np.where(np.isfinite(s) & (s > 0), s, 0.0))
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def rig():
    return load_rig(width=HW[1], height=HW[0])


def test_fused_ground_points_lie_on_the_ground_around_the_car(rig):
    depths = ground_depths(rig, HW)
    cloud = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, max_depth=80.0)
    keep = (depths > 1e-3) & (depths <= 80)
    assert len(cloud) == keep.sum() > 0
    assert cloud.points.dtype == np.float32 and cloud.points.shape == (len(cloud), 3)
    np.testing.assert_allclose(cloud.points[:, 2], 0.0, atol=2e-5)
    assert cloud.depth.max() <= 80 and cloud.depth.min() > 0
    # every camera contributes, and points of a camera lie in its viewing direction
    assert np.bincount(cloud.camera_ids, minlength=6).tolist() == keep.reshape(6, -1).sum(1).tolist()
    front = cloud.points[cloud.camera_ids == 1]
    back = cloud.points[cloud.camera_ids == 4]
    assert np.all(front[:, 0] > 1.5) and np.all(back[:, 0] < 0.1)
    # 360 degrees: azimuths of the fused cloud cover every 30-degree sector
    az = np.degrees(np.arctan2(cloud.points[:, 1], cloud.points[:, 0]))
    assert len(np.unique((az // 30).astype(int))) == 12
    # no images: colours are the camera colours
    np.testing.assert_allclose(cloud.colors, CAMERA_COLORS[cloud.camera_ids])


def test_fuse_skips_invalid_depth_and_respects_max_depth(rig):
    depths = np.full((6, *HW), 10.0, np.float32)
    depths[0, :10] = 0
    depths[1, :, :5] = np.nan
    depths[2, 0, 0] = 100.0
    cloud = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, max_depth=50.0)
    assert len(cloud) == 6 * HW[0] * HW[1] - 10 * HW[1] - 5 * HW[0] - 1
    np.testing.assert_allclose(cloud.depth, 10.0)
    # each point is 10 m in front of its camera along the camera's optical axis
    cam_pts = [g.transform_points(np.linalg.inv(rig.cam_to_ego[c]), cloud.points[cloud.camera_ids == c])
               for c in range(6)]
    np.testing.assert_allclose(np.concatenate(cam_pts)[:, 2], 10.0, rtol=1e-5)


def test_fuse_stride_and_image_colours(rig):
    depths = ground_depths(rig, HW)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, *HW, 3), dtype=np.uint8)
    full = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, images=images)
    sub = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, images=images, stride=2)
    keep = (depths > 1e-3) & (depths <= 80)
    assert len(sub) == keep[:, ::2, ::2].sum()
    # strided points are exactly the full-resolution points of those pixels
    idx = np.full(keep.shape, -1)
    idx[keep] = np.arange(keep.sum())
    picked = idx[:, ::2, ::2][keep[:, ::2, ::2]]
    np.testing.assert_allclose(sub.points, full.points[picked], atol=1e-4)
    np.testing.assert_allclose(full.colors, images[keep] / 255.0, atol=1e-6)
    # images at twice the depth size are sampled at the matching pixels
    big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego,
                                               images=big).colors, full.colors)
    # another colouring of the same cloud: the same colours, point for point, without geometry
    heat = rng.random((6, *HW, 3)).astype(np.float32)
    for stride in (1, 3):
        pc = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, images=heat, stride=stride,
                             max_depth=40.0)
        np.testing.assert_array_equal(fused_point_colors(depths, heat, stride=stride,
                                                         max_depth=40.0), pc.colors)
    with pytest.raises(ValueError, match="stride"):
        fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, stride=0)
    with pytest.raises(ValueError, match=r"Ks \(6, 3, 3\)"):
        fuse_depth_maps(depths, rig.intrinsics[:5], rig.cam_to_ego)


def _lattice():
    k = np.arange(8) * 0.25 + 0.125  # 8 x 8 x 8 points, two per 0.5 m voxel along each axis
    pts = np.stack(np.meshgrid(k, k, k, indexing="ij"), -1).reshape(-1, 3)
    cams = (pts[:, 0] > 1.0).astype(int) * 3  # camera 0 for x < 1, camera 3 beyond
    return PointCloud(pts, np.full_like(pts, 0.5), cams, pts[:, 0] + 1)


@pytest.mark.parametrize("backend", ["numpy", "open3d"])
def test_voxel_downsample_count_means_and_majority_camera(backend):
    cloud = _lattice()
    down = voxel_downsample(cloud, 0.5, backend=backend)
    assert len(cloud) == 512 and len(down) == 64
    assert sorted(np.unique(down.points.round(6))) == [0.25, 0.75, 1.25, 1.75]
    np.testing.assert_allclose(down.depth, down.points[:, 0] + 1, atol=1e-6)
    np.testing.assert_array_equal(down.camera_ids, np.where(down.points[:, 0] > 1, 3, 0))
    np.testing.assert_allclose(down.colors, 0.5)
    # mixed voxel: 3 points of camera 5 outvote 1 of camera 2
    mixed = PointCloud(np.array([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.3, 0.1, 0.1], [0.4, 0.1, 0.1]]),
                       np.zeros((4, 3)), [2, 5, 5, 5], np.ones(4))
    one = voxel_downsample(mixed, 1.0, backend=backend)
    assert len(one) == 1 and one.camera_ids[0] == 5
    assert one.points[0] == pytest.approx([0.25, 0.1, 0.1])
    assert len(voxel_downsample(PointCloud.empty(), 0.1)) == 0
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_downsample(cloud, 0, backend=backend)


def test_voxel_downsample_numpy_and_open3d_agree(rig):
    rng = np.random.default_rng(7)
    depths = ground_depths(rig, HW) * rng.uniform(0.9, 1.1, (6, *HW)).astype(np.float32)
    images = rng.integers(0, 256, (6, *HW, 3), dtype=np.uint8)
    cloud = fuse_depth_maps(depths, rig.intrinsics, rig.cam_to_ego, images=images)
    for vs in (0.13, 0.5):
        a = voxel_downsample(cloud, vs)
        b = voxel_downsample(cloud, vs, backend="open3d")
        assert len(a) == len(b) < len(cloud)
        ia, ib = np.lexsort(a.points.T), np.lexsort(b.points.T)
        np.testing.assert_allclose(a.points[ia], b.points[ib], atol=1e-4)
        np.testing.assert_allclose(a.colors[ia], b.colors[ib], atol=1e-5)
        np.testing.assert_allclose(a.depth[ia], b.depth[ib], rtol=1e-5)
        assert np.mean(a.camera_ids[ia] == b.camera_ids[ib]) > 0.999
    with pytest.raises(ValueError, match="backend"):
        voxel_downsample(cloud, 0.1, backend="pcl")


def test_remove_outliers_drops_an_injected_far_point():
    rng = np.random.default_rng(5)
    pts = rng.uniform(-1, 1, (2000, 3))
    pts[1234] = [30.0, -20.0, 5.0]
    cloud = PointCloud(pts, np.zeros_like(pts), np.zeros(2000), np.ones(2000))
    clean, kept = remove_outliers(cloud, nb_neighbors=20, std_ratio=2.0, return_mask=True)
    assert not kept[1234]
    assert len(clean) == kept.sum() and kept.sum() > 1900
    assert np.abs(clean.points).max() <= 1.0
    # too few points: nothing removed
    assert len(remove_outliers(cloud.select(np.arange(5)))) == 5


def test_to_open3d_carries_points_colours_and_attributes():
    cloud = _lattice()
    pcd = to_open3d(cloud)
    np.testing.assert_allclose(np.asarray(pcd.points), cloud.points)
    np.testing.assert_allclose(np.asarray(pcd.colors), 0.5)
    tpcd = to_open3d(cloud, tensor=True)
    np.testing.assert_array_equal(tpcd.point.camera_id.numpy()[:, 0], cloud.camera_ids)
    np.testing.assert_allclose(tpcd.point.depth.numpy()[:, 0], cloud.depth)


def test_write_ply_round_trip_atomic_and_readable_by_open3d(tmp_path):
    import open3d as o3d

    rng = np.random.default_rng(6)
    n = 1000
    cloud = PointCloud(rng.normal(size=(n, 3)) * 20, rng.random((n, 3)), rng.integers(0, 6, n),
                       rng.uniform(1, 80, n))
    path = write_ply(tmp_path / "cloud.ply", cloud)
    assert sorted(os.listdir(tmp_path)) == ["cloud.ply"]  # no temp file left behind
    assert os.stat(path).st_mode & 0o044  # readable by others, like any file the user saves
    header = path.read_bytes()[:400]
    for prop in (b"property float x", b"property uchar red", b"property uchar camera_id",
                 b"property float depth", b"element vertex 1000"):
        assert prop in header
    back = read_ply(path)
    np.testing.assert_allclose(back.points, cloud.points, rtol=1e-6)
    np.testing.assert_allclose(back.colors, cloud.colors, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(back.camera_ids, cloud.camera_ids)
    np.testing.assert_allclose(back.depth, cloud.depth, rtol=1e-6)
    assert len(o3d.io.read_point_cloud(str(path)).points) == n  # any PLY reader sees the points
    # overwrite in place; an empty cloud is a valid (header-only) file
    write_ply(path, PointCloud.empty())
    assert len(read_ply(path)) == 0 and sorted(os.listdir(tmp_path)) == ["cloud.ply"]


def test_ply_errors_name_the_file(tmp_path):
    cloud = _lattice()
    with pytest.raises(FsmdeError, match="missing_dir"):
        write_ply(tmp_path / "missing_dir" / "a.ply", cloud)
    with pytest.raises(FsmdeError, match=r"a\.txt.*\.ply"):
        write_ply(tmp_path / "a.txt", cloud)
    bad = tmp_path / "bad.ply"
    bad.write_text("not a point cloud")
    with pytest.raises(FsmdeError, match="bad.ply: not a PLY"):
        read_ply(bad)
    with pytest.raises(FsmdeError, match="no such"):
        read_ply(tmp_path / "nope.ply")


def test_point_cloud_select_and_concatenate():
    cloud = _lattice()
    a, b = cloud.select(cloud.camera_ids == 0), cloud.select(cloud.camera_ids == 3)
    both = PointCloud.concatenate([a, b])
    assert len(a) + len(b) == len(cloud) == len(both)
    assert set(both.camera_ids.tolist()) == {0, 3}
    assert len(PointCloud.concatenate([])) == 0
    with pytest.raises(ValueError, match="colours"):
        PointCloud(np.zeros((4, 3)), np.zeros((3, 3)), np.zeros(4), np.zeros(4))
