"""The geometry core against real data and the simulator: projecting the real LiDAR with our
functions reproduces the devkit's sparse depth, fusing it lands back on the LiDAR points, and
the simulator's dense GT is cross-view consistent to its 1/256 m quantisation."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core import geometry as g
from fsmde_gui.core.consistency import cross_view_consistency, cross_view_consistency_details
from fsmde_gui.core.fusion import fuse_depth_maps
from fsmde_gui.core.types import CAMERA_NAMES

W, H = 448, 256


@pytest.fixture(scope="module")
def keyframe(keyframe_root):
    from fsmde_gui.data.detect import open_dataset

    return open_dataset(keyframe_root, image_size=(W, H)).frame(0, 0, load_gt=True)


def _splat(uv, z, hw):
    """Nearest-pixel z-buffer of projected points (closest wins)."""
    d = np.zeros(hw)
    ok = (z > 1.0) & g.inside_image(uv, hw)
    iu = np.round(uv[ok]).astype(int)
    order = np.argsort(-z[ok])
    d[iu[order, 1], iu[order, 0]] = z[ok][order]
    return d


def test_projecting_real_lidar_reproduces_the_devkit_sparse_depth(keyframe):
    poses = g.frame_camera_poses(keyframe)
    assert poses.shape == (6, 4, 4)
    pts = keyframe.lidar_points_ego.astype(np.float64)
    for c, view in enumerate(keyframe.views):
        gt = view.depth_sparse
        for T, good in ((poses[c], True), (view.cam_to_ego, False)):
            uv, z = g.project(g.transform_points(np.linalg.inv(T), pts), view.K)
            d = _splat(uv, z, (H, W))
            both = (gt > 0) & (d > 0)
            if good:  # per-camera ego motion compensated: the same pixels and depths
                assert both.sum() > 0.97 * (gt > 0).sum(), view.name
                assert np.median(np.abs(d[both] - gt[both])) < 1e-3, view.name
    # the car moves between camera triggers: without compensation CAM_FRONT is off by ~0.3 m
    f = CAMERA_NAMES.index("CAM_FRONT")
    shift = np.linalg.norm(poses[f][:3, 3] - keyframe.views[f].cam_to_ego[:3, 3])
    assert 0.05 < shift < 2.0
    plain = g.frame_camera_poses(keyframe, motion_compensated=False)
    np.testing.assert_array_equal(plain, keyframe.cam_to_ego)


def test_fused_sparse_depth_lands_on_the_lidar_points(keyframe):
    from scipy.spatial import cKDTree

    depths = np.stack([v.depth_sparse for v in keyframe.views])
    tree = cKDTree(keyframe.lidar_points_ego)
    cloud = fuse_depth_maps(depths, keyframe.intrinsics, g.frame_camera_poses(keyframe),
                            images=keyframe.images)
    assert len(cloud) == ((depths > 0) & (depths <= 80)).sum()  # LiDAR reaches 100 m; cap 80
    assert len(np.unique(cloud.camera_ids)) == 6
    dist, _ = tree.query(cloud.points)
    # pixel-centre rounding moves points by at most half a pixel's footprint (~3 cm at 20 m)
    assert np.median(dist) < 0.03 and np.mean(dist < 0.1) > 0.95
    raw = fuse_depth_maps(depths, keyframe.intrinsics, keyframe.cam_to_ego)
    assert np.median(tree.query(raw.points)[0]) > np.median(dist)


def test_simulator_dense_gt_is_consistent_across_views(tiny_sim_root):
    from fsmde_gui.data.detect import open_dataset

    frame = open_dataset(tiny_sim_root).frame(0, 0, load_gt=True)
    depths = np.stack([v.depth_dense for v in frame.views]).astype(np.float32)
    poses = g.frame_camera_poses(frame)
    np.testing.assert_allclose(poses, frame.cam_to_ego, atol=1e-9)  # one timestamp per frame
    details = cross_view_consistency_details(depths, frame.intrinsics, poses)
    assert len(details) == 6
    for name, c in details.items():
        assert c.count > 50, name
        # uint16 m*256 depth PNGs: ~1 mm typical; the mean also carries a few aliased
        # silhouette pixels of this low (224x128) resolution
        assert c.median < 0.005 and c.mean_rel < 0.005, (name, c)
    bad = depths.copy()
    bad[CAMERA_NAMES.index("CAM_FRONT_LEFT")] *= 1.1
    gt = cross_view_consistency(depths, frame.intrinsics, poses)
    res = cross_view_consistency(bad, frame.intrinsics, poses)
    assert res["CAM_FRONT_LEFT|CAM_FRONT"] > 5 * gt["CAM_FRONT_LEFT|CAM_FRONT"] + 0.2
    assert res["CAM_FRONT_LEFT|CAM_BACK_LEFT"] > 5 * gt["CAM_FRONT_LEFT|CAM_BACK_LEFT"] + 0.2
    assert res["CAM_BACK|CAM_BACK_RIGHT"] == pytest.approx(gt["CAM_BACK|CAM_BACK_RIGHT"])
