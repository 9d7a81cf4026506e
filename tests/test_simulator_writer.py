"""The generic nuScenes writer (fsmde_gui/data/nuscenes_writer.py) on synthetic frames."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.rig import load_rig, make_pose, quaternion_to_matrix
from fsmde_gui.core.types import CAMERA_NAMES
from fsmde_gui.data.nuscenes_writer import (TABLES, BoxRecord, CameraRecord, LidarRecord,
                                              NuScenesWriter)


def _frame(rig, rng, ts):
    cams = []
    for spec in rig.cameras:
        img = rng.integers(0, 255, (spec.height, spec.width, 3), dtype=np.uint8)
        depth = rng.integers(0, 65535, (spec.height, spec.width), dtype=np.uint16)
        cams.append(CameraRecord(spec.name, img, spec.K, spec.cam_to_ego, {"depth": depth}))
    pts = rng.normal(0, 10, (100, 5)).astype(np.float32)
    return cams, LidarRecord(pts, rig.lidar_to_ego)


def test_writer_roundtrip(tmp_path):
    rig = load_rig(width=64, height=36)
    rng = np.random.default_rng(0)
    w = NuScenesWriter(tmp_path)
    w.begin_scene("scene-a", "two frames")
    poses = [make_pose(np.eye(3), [0, 0, 0]), make_pose(quaternion_to_matrix([0.9, 0, 0, 0.1]),
                                                         [1.0, 0.2, 0])]
    written = []
    for i, T in enumerate(poses):
        cams, lidar = _frame(rig, rng, i)
        written.append((cams, lidar))
        box = BoxRecord("car-1", "vehicle.car", np.array([5.0 + i, 0, 0.8]), (1.8, 4.5, 1.6),
                        0.3, "vehicle.moving", 12)
        w.add_sample(1_000_000 + 100_000 * i, T, cams, lidar, [box])
    counts = w.finish()
    assert counts["sample"] == 2 and counts["sample_data"] == 14 and counts["ego_pose"] == 14
    assert counts["sample_annotation"] == 2 and counts["instance"] == 1
    assert sorted(p.stem for p in (tmp_path / "v1.0-mini").glob("*.json")) == sorted(TABLES)

    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes(version="v1.0-mini", dataroot=str(tmp_path), verbose=False)
    s0, s1 = nusc.sample
    assert s0["next"] == s1["token"] and s1["prev"] == s0["token"]
    # calibration and ego pose round-trip through quaternions
    sd = nusc.get("sample_data", s1["data"]["CAM_BACK"])
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    spec = rig.camera("CAM_BACK")
    assert np.allclose(cs["camera_intrinsic"], spec.K)
    assert np.allclose(make_pose(quaternion_to_matrix(cs["rotation"]), cs["translation"]),
                       spec.cam_to_ego, atol=1e-9)
    ep = nusc.get("ego_pose", sd["ego_pose_token"])
    assert np.allclose(make_pose(quaternion_to_matrix(ep["rotation"]), ep["translation"]),
                       poses[1], atol=1e-9)
    # files: JPEG (lossy), exact 16-bit PNG maps, exact LiDAR floats
    cams, lidar = written[1]
    name = sd["filename"].split("/")[-1][:-4]
    depth = cv2.imread(str(tmp_path / "depth" / "CAM_BACK" / f"{name}.png"),
                       cv2.IMREAD_UNCHANGED)
    assert np.array_equal(depth, cams[CAMERA_NAMES.index("CAM_BACK")].extras["depth"])
    lid = nusc.get("sample_data", s1["data"]["LIDAR_TOP"])
    pts = np.fromfile(tmp_path / lid["filename"], np.float32).reshape(-1, 5)
    assert np.array_equal(pts, lidar.points)
    ann = nusc.get("sample_annotation", s1["anns"][0])
    assert ann["category_name"] == "vehicle.car" and ann["num_lidar_pts"] == 12
    box = nusc.get_box(ann["token"])
    assert np.isclose(box.orientation.yaw_pitch_roll[0], 0.3)
    assert list(box.wlh) == [1.8, 4.5, 1.6]


def test_writer_rejects_bad_arrays(tmp_path):
    rig = load_rig(width=32, height=18)
    w = NuScenesWriter(tmp_path)
    with pytest.raises(RuntimeError, match="begin_scene"):
        w.add_sample(0, np.eye(4), [])
    w.begin_scene("s")
    spec = rig.cameras[0]
    bad = CameraRecord(spec.name, np.zeros((18, 32), np.uint8), spec.K, spec.cam_to_ego)
    with pytest.raises(DatasetError, match=r"\(H, W, 3\) uint8"):
        w.add_sample(0, np.eye(4), [bad])
    w.begin_scene("t")
    bad = CameraRecord(spec.name, np.zeros((18, 32, 3), np.uint8), spec.K, spec.cam_to_ego,
                       {"depth": np.zeros((18, 32), np.float32)})
    with pytest.raises(DatasetError, match="uint8 or uint16"):
        w.add_sample(1, np.eye(4), [bad])
    w.begin_scene("u")
    with pytest.raises(DatasetError, match=r"\(N, 5\)"):
        w.add_sample(2, np.eye(4), [], LidarRecord(np.zeros((10, 4), np.float32), np.eye(4)))
    # no temp files left behind by the atomic writes
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_tokens_deterministic(tmp_path):
    a, b = NuScenesWriter(tmp_path / "a"), NuScenesWriter(tmp_path / "b")
    assert a.token("sample", 1) == b.token("sample", 1) != a.token("sample", 2)
    assert len(a.token("x")) == 32
    json.dumps(a.tables)  # tables are plain JSON
