"""3D boxes read from sample_annotation: real scene (when available), simulator, keyframe."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fsmde_gui.core.box_metrics import BACKGROUND, box_depth_errors
from fsmde_gui.core.boxes import box_corners, ego_to_cameras, frame_box_segments, points_in_box
from fsmde_gui.core.rig import make_pose, quaternion_to_matrix
from fsmde_gui.data.detect import open_dataset


@pytest.fixture(scope="module")
def real(real_scene_root):
    return open_dataset(real_scene_root, image_size=(320, 180))


def _pose(rec):
    return make_pose(quaternion_to_matrix(rec["rotation"]), rec["translation"])


def test_real_box_counts(real):
    rows = json.loads((real.table_dir / "sample_annotation.json").read_text())
    counts = [len(real.boxes(s, i)) for s, i in real.iter_frames()]
    assert sum(counts) == len(rows) == real.describe()["num_boxes"] and max(counts) > 0
    if [s.name for s in real.scenes] == ["scene-0916"]:
        assert (len(counts), sum(counts)) == (41, 2424)
    cats = {b.category for s, i in real.iter_frames() for b in real.boxes(s, i)}
    assert "vehicle.car" in cats and "human.pedestrian.adult" in cats


def test_real_corners_match_the_devkit(real):
    nusc = real.nusc
    for index in (0, real.scenes[0].num_frames - 1):
        sample = nusc.get("sample", real._samples[0][index])
        lidar_sd = sample["data"]["LIDAR_TOP"]
        _, dev_boxes, _ = nusc.get_sample_data(lidar_sd)  # boxes in the LiDAR frame
        cs = nusc.get("calibrated_sensor", nusc.get("sample_data", lidar_sd)["calibrated_sensor_token"])
        ego_to_lidar = np.linalg.inv(_pose(cs))
        ours = {b.token: b for b in real.boxes(0, index)}
        assert set(ours) == {b.token for b in dev_boxes}
        for dev in dev_boxes:
            c = box_corners(ours[dev.token]) @ ego_to_lidar[:3, :3].T + ego_to_lidar[:3, 3]
            np.testing.assert_allclose(c, dev.corners().T, atol=1e-6)
            assert ours[dev.token].category == dev.name


def test_real_points_in_boxes_match_num_lidar_pts(real):
    frame = real.frame(0, 0)
    ours = [int(points_in_box(frame.lidar_points_ego, b).sum()) for b in frame.boxes]
    assert ours == [b.num_lidar_pts for b in frame.boxes]
    assert sum(ours) > 100


def test_real_projection_matches_the_devkit_camera_boxes(real):
    """Boxes the devkit sees wholly in CAM_FRONT: our projected corners are its corners."""
    from nuscenes.utils.geometry_utils import BoxVisibility, view_points

    frame = real.frame(0, 0)
    cam = 1  # CAM_FRONT
    sample = real.nusc.get("sample", frame.token)
    _, dev_boxes, K_full = real.nusc.get_sample_data(sample["data"]["CAM_FRONT"],
                                                     box_vis_level=BoxVisibility.ALL)
    assert dev_boxes
    T = ego_to_cameras(frame)[cam]
    ours = {b.token: b for b in frame.boxes}
    view = frame.views[cam]
    for dev in dev_boxes:
        c = box_corners(ours[dev.token]) @ T[:3, :3].T + T[:3, 3]
        np.testing.assert_allclose(c, dev.corners().T, atol=1e-6)
        uv = view_points(dev.corners(), view.K, normalize=True)[:2].T
        assert np.all((uv >= 0) & (uv <= [view.hw[1], view.hw[0]]))
    drawn = {box.token for _, box in frame_box_segments(frame, cam)}
    assert {d.token for d in dev_boxes} <= drawn


def test_real_per_category_errors(real):
    frame = real.frame(0, 0)
    gt = np.stack([v.depth_sparse for v in frame.views])
    exact = box_depth_errors(frame, gt)
    assert "car" in exact and "pedestrian" in exact and BACKGROUND in exact
    assert all(r["abs_rel"] == pytest.approx(0.0, abs=1e-6) for r in exact.values())
    off = box_depth_errors(frame, gt * 1.2, max_depth=1e4)
    assert off["car"]["abs_rel"] == pytest.approx(0.2, rel=1e-4)
    assert off["car"]["points"] > 0 and off["car"]["boxes"] >= 1


def test_simulator_frames_have_boxes(tiny_sim_root):
    ds = open_dataset(tiny_sim_root)
    assert ds.has_boxes and ds.describe()["num_boxes"] > 0
    frame = ds.frame(0, 0)
    sample = ds.nusc.get("sample", frame.token)
    assert frame.boxes is not None and len(frame.boxes) == len(sample["anns"]) > 0
    assert {b.category for b in frame.boxes} <= {"vehicle.car", "human.pedestrian.adult"}
    # the simulator counted its LiDAR points in the same boxes (up to points on a face: the
    # boxes stand on the ground, float32 round-off decides the ground points at z = 0)
    inside = np.array([points_in_box(frame.lidar_points_ego, b).sum() for b in frame.boxes])
    counts = np.array([b.num_lidar_pts for b in frame.boxes])
    np.testing.assert_allclose(inside, counts, atol=3, rtol=0.05)
    assert counts.sum() > 50


def test_keyframe_without_annotations_has_no_boxes(keyframe_root):
    ds = open_dataset(keyframe_root)
    assert ds.frame(0, 0).boxes is None and ds.boxes(0, 0) is None
    assert ds.frame(0, 0, load_gt=False).boxes is None
