"""3D box geometry: corners (devkit order), points inside, projection with near/image clipping."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.boxes import (box_class, box_corners, box_from_world, box_of_points,
                                  points_in_box, project_box)
from fsmde_gui.core.rig import make_pose, matrix_to_quaternion, quaternion_to_matrix
from fsmde_gui.core.types import Box3D

# A camera looking along ego x (forward): camera z = ego x, camera x = -ego y, camera y = -ego z
CAM_TO_EGO = make_pose(np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], np.float64), [1.5, 0, 1.5])
EGO_TO_CAM = np.linalg.inv(CAM_TO_EGO)
K = np.array([[500.0, 0, 320], [0, 500, 180], [0, 0, 1]])
HW = (360, 640)


def yaw_box(center, size, yaw, category="vehicle.car") -> Box3D:
    c, s = np.cos(yaw), np.sin(yaw)
    return Box3D(np.asarray(center, float), tuple(size),
                 np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]), category)


def test_corners_follow_the_devkit():
    from nuscenes.utils.data_classes import Box
    from pyquaternion import Quaternion

    q = Quaternion(axis=[0, 0, 1], angle=0.7)
    dev = Box([3.0, -2.0, 0.8], [1.9, 4.5, 1.6], q)
    ours = Box3D(np.array([3.0, -2.0, 0.8]), (1.9, 4.5, 1.6), q.rotation_matrix, "vehicle.car")
    np.testing.assert_allclose(box_corners(ours), dev.corners().T, atol=1e-12)
    assert ours.yaw == pytest.approx(0.7)


def test_box_from_world_is_the_ego_frame_box():
    ego_to_world = make_pose(quaternion_to_matrix([np.cos(0.2), 0, 0, np.sin(0.2)]), [100, 50, 0])
    R_world = quaternion_to_matrix([np.cos(0.5), 0, 0, np.sin(0.5)])  # yaw 1.0 in the world
    centre_world = ego_to_world[:3, :3] @ np.array([10.0, 2.0, 0.9]) + ego_to_world[:3, 3]
    box = box_from_world(centre_world, (2, 4, 1.5), matrix_to_quaternion(R_world),
                         np.linalg.inv(ego_to_world), "vehicle.car", "tok")
    np.testing.assert_allclose(box.center, [10, 2, 0.9], atol=1e-9)
    assert box.yaw == pytest.approx(1.0 - 0.4)  # world yaw minus the ego's
    assert box.size == (2.0, 4.0, 1.5) and box.token == "tok"


def test_points_inside_a_rotated_box():
    box = yaw_box([10, 0, 1], (2, 4, 2), np.pi / 2)  # length now along ego y
    pts = np.array([[10, 1.9, 1], [10, 2.1, 1], [10.9, 0, 1], [11.1, 0, 1], [10, 0, 2.1]])
    assert points_in_box(pts, box).tolist() == [True, False, True, False, False]
    other = yaw_box([20, 0, 1], (2, 2, 2), 0.0)
    assert box_of_points(np.array([[10, 0, 1], [20, 0.5, 1], [0, 0, 0]]), [box, other]).tolist() \
        == [0, 1, -1]


def test_box_in_front_projects_inside_the_image():
    box = yaw_box([15, 0.5, 0.8], (1.9, 4.5, 1.6), 0.3)
    seg = project_box(box, K, EGO_TO_CAM, HW, heading=False)
    assert seg.shape == (12, 2, 2)  # every edge seen, none clipped
    # the segment ends are the projected corners, all inside the image
    cam = box_corners(box) @ EGO_TO_CAM[:3, :3].T + EGO_TO_CAM[:3, 3]
    uv = cam @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    assert np.all((uv >= 0) & (uv < [HW[1], HW[0]]))
    ends = seg.reshape(-1, 2)
    assert all(np.min(np.linalg.norm(uv - e, axis=1)) < 1e-9 for e in ends)
    assert {tuple(np.round(c, 6)) for c in uv} == {tuple(np.round(e, 6)) for e in ends}


def test_box_behind_the_camera_is_not_drawn():
    box = yaw_box([-10, 0, 0.8], (1.9, 4.5, 1.6), 0.0)
    assert project_box(box, K, EGO_TO_CAM, HW).shape == (0, 2, 2)


def test_box_across_the_camera_plane_is_clipped():
    box = yaw_box([2.0, 0, 1.5], (1.0, 4.0, 1.0), 0.0)  # from 0 to 4 m ahead: straddles z = 0
    seg = project_box(box, K, EGO_TO_CAM, HW, near=0.1)
    assert len(seg) > 0
    assert np.all(np.isfinite(seg))
    assert np.all((seg[..., 0] >= -1e-6) & (seg[..., 0] <= HW[1] + 1e-6))
    assert np.all((seg[..., 1] >= -1e-6) & (seg[..., 1] <= HW[0] + 1e-6))


def test_box_off_to_the_side_is_not_drawn():
    box = yaw_box([10, 40, 0.8], (1.9, 4.5, 1.6), 0.0)  # 76 degrees left: outside a 65 deg FOV
    assert project_box(box, K, EGO_TO_CAM, HW).shape == (0, 2, 2)


def test_classes():
    assert box_class("vehicle.car") == "car"
    assert box_class("human.pedestrian.adult") == "pedestrian"
    assert box_class("vehicle.bus.rigid") == "bus"
    assert box_class("static_object.bicycle_rack") == "other"
