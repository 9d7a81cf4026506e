"""The official nuscenes-devkit reads simulator output, and its LiDAR projection agrees with
the rendered dense depth."""
from __future__ import annotations

import cv2
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from fsmde_gui.core.types import CAMERA_NAMES  # noqa: E402


@pytest.fixture(scope="module")
def nusc(tiny_sim_root):
    from nuscenes.nuscenes import NuScenes

    return NuScenes(version="v1.0-mini", dataroot=str(tiny_sim_root), verbose=False)


def _dense_depth(root, nusc, sd_token):
    sd = nusc.get("sample_data", sd_token)
    name = sd["filename"].split("/")[-1].rsplit(".", 1)[0]
    channel = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])["sensor_token"]
    channel = nusc.get("sensor", channel)["channel"]
    d = cv2.imread(str(root / "depth" / channel / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    return d.astype(np.float64) / 256.0


def test_devkit_loads_and_renders(nusc, tmp_path):
    assert len(nusc.scene) == 1 and len(nusc.sample) == 3
    sample = nusc.sample[0]
    assert set(sample["data"]) == set(CAMERA_NAMES) | {"LIDAR_TOP"}
    assert len(sample["anns"]) > 0  # boxes of cars and pedestrians
    out_cam = tmp_path / "cam.png"
    nusc.render_sample_data(sample["data"]["CAM_FRONT"], out_path=str(out_cam))
    out_lidar = tmp_path / "lidar.png"
    nusc.render_sample_data(sample["data"]["LIDAR_TOP"], out_path=str(out_lidar),
                            underlay_map=False)
    for p in (out_cam, out_lidar):
        img = cv2.imread(str(p))
        assert img is not None and img.std() > 10  # a real picture, not a blank canvas
    # 3D boxes sit on the objects: near ones contain many LiDAR points
    ego = nusc.get("ego_pose", nusc.get("sample_data", sample["data"]["LIDAR_TOP"])["ego_pose_token"])
    near = [a for a in (nusc.get("sample_annotation", t) for t in sample["anns"])
            if np.linalg.norm(np.subtract(a["translation"][:2], ego["translation"][:2])) < 15]
    assert near and np.median([a["num_lidar_pts"] for a in near]) > 20
    assert {a["category_name"] for a in near} <= {"vehicle.car", "human.pedestrian.adult"}
    # walking the scene through prev/next links
    tok, n = nusc.scene[0]["first_sample_token"], 0
    while tok:
        n += 1
        tok = nusc.get("sample", tok)["next"]
    assert n == 3


def test_lidar_projection_matches_dense_depth(nusc, tiny_sim_root):
    from nuscenes.nuscenes import NuScenesExplorer

    explorer = NuScenesExplorer(nusc)
    sample = nusc.sample[1]
    nearest_err, interp_err, total = [], [], 0
    for cam in CAMERA_NAMES:
        pts, depth, _ = explorer.map_pointcloud_to_image(sample["data"]["LIDAR_TOP"],
                                                         sample["data"][cam], min_dist=1.0)
        D = _dense_depth(tiny_sim_root, nusc, sample["data"][cam])
        H, W = D.shape
        total += len(depth)
        u, v = np.round(pts[0]).astype(int), np.round(pts[1]).astype(int)
        ok = (u >= 0) & (u < W) & (v >= 0) & (v < H)
        g = D[v[ok], u[ok]]
        nearest_err.append(np.abs(g - depth[ok])[g > 0])
        # inverse depth is affine in pixel coordinates on planes: interpolate it bilinearly
        u0, v0 = np.floor(pts[0]).astype(int), np.floor(pts[1]).astype(int)
        ok = (u0 >= 0) & (u0 < W - 1) & (v0 >= 0) & (v0 < H - 1)
        u0, v0, d = u0[ok], v0[ok], depth[ok]
        fu, fv = pts[0][ok] - u0, pts[1][ok] - v0
        q = np.stack([D[v0, u0], D[v0, u0 + 1], D[v0 + 1, u0], D[v0 + 1, u0 + 1]])
        w = np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv])
        valid = (q > 0).all(0)
        g = 1.0 / (w / np.where(q > 0, q, 1.0)).sum(0)
        interp_err.append(np.abs(g - d)[valid])
    nearest_err, interp_err = np.concatenate(nearest_err), np.concatenate(interp_err)
    assert total > 15_000  # the devkit puts thousands of points in the six views
    assert np.median(interp_err) < 0.05  # measured: < 1 mm
    assert np.mean(interp_err < 0.05) > 0.8  # the rest: depth edges / occlusion by parallax
    assert np.median(nearest_err) < 0.25  # nearest pixel at 224x128 (grazing road rows)
