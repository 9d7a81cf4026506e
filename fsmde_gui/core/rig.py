"""The camera rig: intrinsics and camera-to-ego poses of the six cameras (and the LiDAR).

The default rig is the real nuScenes calibration of one keyframe
(``fsmde_gui/resources/rig_nuscenes.json``, package data), with intrinsics scaled to the wanted image size, so that
simulated and real frames share geometry, overlaps and adjacency.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import RIG_FILE as DEFAULT_RIG_FILE
from .types import CAMERA_NAMES


def quaternion_to_matrix(wxyz) -> np.ndarray:
    """(w, x, y, z) unit quaternion -> 3x3 rotation matrix (nuScenes/pyquaternion order)."""
    w, x, y, z = (float(v) for v in wxyz)
    n = np.sqrt(w * w + x * x + y * y + z * z)
    if n == 0:
        raise ValueError("zero quaternion")
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(R: np.ndarray) -> list[float]:
    """3x3 rotation -> (w, x, y, z), w >= 0."""
    from scipy.spatial.transform import Rotation  # scipy ships with open3d/devkit deps

    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    q = np.array([w, x, y, z])
    return list(q if w >= 0 else -q)


def make_pose(R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


@dataclass
class CameraSpec:
    name: str
    K: np.ndarray  # (3, 3) for (width, height)
    cam_to_ego: np.ndarray  # (4, 4)
    width: int
    height: int

    def scaled(self, width: int, height: int) -> "CameraSpec":
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, :] *= sx
        K[1, :] *= sy
        return CameraSpec(self.name, K, self.cam_to_ego.copy(), width, height)


@dataclass
class Rig:
    cameras: list[CameraSpec]  # ordered as CAMERA_NAMES
    lidar_to_ego: np.ndarray  # (4, 4)

    def camera(self, name: str) -> CameraSpec:
        return self.cameras[CAMERA_NAMES.index(name)]

    @property
    def intrinsics(self) -> np.ndarray:
        return np.stack([c.K for c in self.cameras])

    @property
    def cam_to_ego(self) -> np.ndarray:
        return np.stack([c.cam_to_ego for c in self.cameras])

    def scaled(self, width: int, height: int) -> "Rig":
        return Rig([c.scaled(width, height) for c in self.cameras], self.lidar_to_ego.copy())


def load_rig(path: str | Path = DEFAULT_RIG_FILE, width: int | None = None,
             height: int | None = None) -> Rig:
    """Load a rig JSON (see fsmde_gui/resources/rig_nuscenes.json); optionally scale to width x height."""
    data = json.loads(Path(path).read_text())
    sensors = data["sensors"]
    cams = []
    for name in CAMERA_NAMES:
        s = sensors[name]
        T = make_pose(quaternion_to_matrix(s["rotation_wxyz"]), s["translation"])
        cams.append(CameraSpec(name, np.array(s["camera_intrinsic"], dtype=np.float64), T,
                               int(s["width"]), int(s["height"])))
    lid = sensors.get("LIDAR_TOP", {"translation": [0.94, 0.0, 1.84], "rotation_wxyz": [1, 0, 0, 0]})
    rig = Rig(cams, make_pose(quaternion_to_matrix(lid["rotation_wxyz"]), lid["translation"]))
    if width is not None and height is not None:
        rig = rig.scaled(width, height)
    return rig
