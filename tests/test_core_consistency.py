"""Cross-view consistency on a ray-cast scene seen by the real rig: ~0 on GT, grows with scale errors."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.consistency import (consistency_maps, cross_view_consistency,
                                        cross_view_consistency_details, pair_consistency,
                                        pair_name)
from fsmde_gui.core.geometry import pixel_grid, relative_transform
from fsmde_gui.core.rig import load_rig
from fsmde_gui.core.types import CAMERA_NAMES

W, H = 448, 256
RING_KEYS = {"CAM_FRONT_LEFT|CAM_FRONT", "CAM_FRONT|CAM_FRONT_RIGHT",
             "CAM_FRONT_RIGHT|CAM_BACK_RIGHT", "CAM_BACK|CAM_BACK_RIGHT",
             "CAM_BACK_LEFT|CAM_BACK", "CAM_FRONT_LEFT|CAM_BACK_LEFT"}


def render_depths(Ks, cam_to_ego, hw, meshes):
    """Exact z-depth of open3d meshes for each camera (RaycastingScene; 0 = nothing hit)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    for m in meshes:
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m))
    h, w = hw
    uv1 = np.concatenate([pixel_grid(h, w), np.ones((h, w, 1))], -1)
    out = []
    for K, T in zip(Ks, cam_to_ego):
        dirs = (uv1 @ np.linalg.inv(K).T) @ T[:3, :3].T  # camera z = 1: t_hit is z-depth
        rays = np.concatenate([np.broadcast_to(T[:3, 3], dirs.shape), dirs], -1)
        t = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
        out.append(np.where(np.isfinite(t), t, 0.0))
    return np.stack(out).astype(np.float32)


def box(size, centre):
    import open3d as o3d

    b = o3d.geometry.TriangleMesh.create_box(*size)
    b.translate(np.asarray(centre, float) - np.asarray(size, float) / 2)
    return b


@pytest.fixture(scope="module")
def scene():
    """Ground plane z = 0 plus a ring of boxes around the car at 9-20 m, seen by the real rig."""
    rig = load_rig(width=W, height=H)
    meshes = [box((200, 200, 0.2), (0, 0, -0.1))]
    rng = np.random.default_rng(0)
    for k in range(14):
        a = 2 * np.pi * k / 14 + 0.1
        r = rng.uniform(9, 20)
        meshes.append(box((2.0, 2.0, rng.uniform(1.5, 4)), (r * np.cos(a), r * np.sin(a), 1.5)))
    depths = render_depths(rig.intrinsics, rig.cam_to_ego, (H, W), meshes)
    depths[depths > 80] = 0
    return rig, depths


def test_ground_truth_depth_is_consistent_to_a_millimetre(scene):
    rig, depths = scene
    details = cross_view_consistency_details(depths, rig.intrinsics, rig.cam_to_ego)
    assert set(details) == RING_KEYS
    for name, c in details.items():
        assert c.count > 300, name
        assert c.mean < 1e-3, (name, c)
        assert c.median < 1e-4, (name, c)
    result = cross_view_consistency(depths, rig.intrinsics, rig.cam_to_ego)
    assert set(result) == RING_KEYS | {"mean"}
    assert result["mean"] == pytest.approx(np.mean([result[k] for k in RING_KEYS]))
    assert result["mean"] < 1e-3


def test_scaling_one_view_by_ten_percent_shows_in_its_pairs_only(scene):
    rig, depths = scene
    gt = cross_view_consistency(depths, rig.intrinsics, rig.cam_to_ego)
    bad = depths.copy()
    bad[CAMERA_NAMES.index("CAM_FRONT")] *= 1.1
    res = cross_view_consistency(bad, rig.intrinsics, rig.cam_to_ego)
    for key in RING_KEYS:
        if "CAM_FRONT|" in key or key.endswith("|CAM_FRONT"):
            assert res[key] > 0.3, key  # ~10 % of the 5-20 m depths in the overlap
        else:
            assert res[key] == pytest.approx(gt[key], abs=1e-9), key
    assert res["mean"] > 0.1 > gt["mean"]
    # a larger error gives a larger figure; relative error ~ the scale error
    worse = depths.copy()
    worse[CAMERA_NAMES.index("CAM_FRONT")] *= 1.2
    assert cross_view_consistency(worse, rig.intrinsics, rig.cam_to_ego)["mean"] > res["mean"]
    d = cross_view_consistency_details(bad, rig.intrinsics, rig.cam_to_ego)
    assert 0.05 < d["CAM_FRONT|CAM_FRONT_RIGHT"].mean_rel < 0.15


def test_pair_consistency_direct_and_stride(scene):
    rig, depths = scene
    i, j = 1, 2
    T = relative_transform(rig.cam_to_ego[j], rig.cam_to_ego[i])
    c = pair_consistency(depths[i], depths[j], rig.intrinsics[i], rig.intrinsics[j], T)
    c2 = pair_consistency(depths[i], depths[j], rig.intrinsics[i], rig.intrinsics[j], T, stride=2)
    assert c.mean < 1e-3 and c2.mean < 1e-3
    assert c2.count == pytest.approx(c.count / 4, rel=0.15)
    assert set(c.as_dict()) == {"mean", "median", "count", "mean_rel"}
    noisy = depths[j] * np.random.default_rng(1).uniform(0.97, 1.03, depths[j].shape)
    cn = pair_consistency(depths[i], noisy.astype(np.float32), rig.intrinsics[i],
                          rig.intrinsics[j], T)
    assert cn.mean > 0.05


def test_pairs_without_overlap_or_depth_give_nan(scene):
    rig, depths = scene
    front, back = CAMERA_NAMES.index("CAM_FRONT"), CAMERA_NAMES.index("CAM_BACK")
    res = cross_view_consistency(depths, rig.intrinsics, rig.cam_to_ego,
                                 pairs=[(front, back), (0, 1)])
    assert set(res) == {pair_name(front, back), pair_name(0, 1), "mean"}
    assert np.isnan(res[pair_name(front, back)])
    assert res["mean"] == pytest.approx(res[pair_name(0, 1)])  # nan pairs left out
    holes = depths.copy()
    holes[1, 100:140, :] = np.nan  # NaN / inf depth is "no value", never a NaN figure
    holes[2, :, :30] = np.inf  # part of FR's overlap with F
    res = cross_view_consistency(holes, rig.intrinsics, rig.cam_to_ego)
    assert all(np.isfinite(v) and v < 1e-3 for v in res.values())
    empty = cross_view_consistency(np.zeros_like(depths), rig.intrinsics, rig.cam_to_ego)
    assert np.isnan(empty["mean"]) and len(empty) == 7
    with pytest.raises(ValueError, match="cam_to_ego"):
        cross_view_consistency(depths[:5], rig.intrinsics, rig.cam_to_ego)


def test_consistency_maps_locate_the_error(scene):
    rig, depths = scene
    maps = consistency_maps(depths, rig.intrinsics, rig.cam_to_ego)
    assert maps.shape == depths.shape and maps.dtype == np.float32
    matched = np.isfinite(maps)
    assert matched.sum() > 10000 and np.nanmedian(maps) < 1e-4
    assert not matched[depths == 0].any()  # no depth, no match
    f, fl, br = (CAMERA_NAMES.index(n) for n in ("CAM_FRONT", "CAM_FRONT_LEFT", "CAM_BACK_RIGHT"))
    # matched pixels lie in the overlap strips: F's centre columns never match
    assert not matched[f][:, W // 2 - 40:W // 2 + 40].any()
    bad = depths.copy()
    bad[f] *= 1.1
    maps_bad = consistency_maps(bad, rig.intrinsics, rig.cam_to_ego)
    # FL's pixels seen by F now disagree by ~10 % of their depth; BR's are untouched
    near_f = np.isfinite(maps_bad[fl]) & (np.arange(W) > W // 2)[None, :]
    assert near_f.sum() > 500
    rel = maps_bad[fl][near_f] / depths[fl][near_f]
    assert 0.07 < np.median(rel) < 0.13
    np.testing.assert_array_equal(np.isfinite(maps_bad[br]), np.isfinite(maps[br]))
    assert np.nanmax(np.abs(maps_bad[br] - maps[br])) < 1e-6
