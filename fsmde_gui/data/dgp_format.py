"""Pieces of TRI's DGP JSON format (used by DDAD) shared by the reader and the writer.

DGP protobufs serialised to JSON with the proto field names (``save_pbobject_as_json``):
poses are ``{"translation": {"x","y","z"}, "rotation": {"qw","qx","qy","qz"}}``, camera
intrinsics ``{"fx","fy","cx","cy","skew", ...}``, timestamps RFC 3339 strings, uint64 as
strings, enum values by name.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.errors import DatasetError
from ..core.rig import make_pose, matrix_to_quaternion, quaternion_to_matrix
from ..core.types import CAMERA_NAMES
from .validate import check_finite_number, check_intrinsic, check_quaternion, check_translation

# Nominal DDAD camera names for our cameras (used when writing). DDAD's six cameras sit at
# 60-degree intervals; reading never trusts names: cameras are matched to CAMERA_NAMES by the
# yaw of their optical axis in the vehicle frame (see ``match_cameras_by_yaw``).
DDAD_CAMERA_FOR: dict[str, str] = {
    "CAM_FRONT": "CAMERA_01",
    "CAM_FRONT_LEFT": "CAMERA_05",
    "CAM_FRONT_RIGHT": "CAMERA_06",
    "CAM_BACK_LEFT": "CAMERA_07",
    "CAM_BACK_RIGHT": "CAMERA_08",
    "CAM_BACK": "CAMERA_09",
}
LIDAR_NAME = "LIDAR"
# nominal optical-axis yaw (degrees, ego frame x forward / y left) of each of our cameras
NOMINAL_YAW_DEG: dict[str, float] = {
    "CAM_FRONT_LEFT": 55.0, "CAM_FRONT": 0.0, "CAM_FRONT_RIGHT": -55.0,
    "CAM_BACK_LEFT": 110.0, "CAM_BACK": 180.0, "CAM_BACK_RIGHT": -110.0,
}


def pose_to_json(T: np.ndarray) -> dict:
    T = np.asarray(T, dtype=np.float64)
    qw, qx, qy, qz = matrix_to_quaternion(T[:3, :3])
    x, y, z = (float(v) for v in T[:3, 3])
    return {"translation": {"x": x, "y": y, "z": z},
            "rotation": {"qw": float(qw), "qx": float(qx), "qy": float(qy), "qz": float(qz)}}


def pose_from_json(path, d, where: str) -> np.ndarray:
    """4x4 from a DGP Pose dict (missing fields default to 0 as in proto3; rotation must be unit)."""
    if d is None:
        return np.eye(4)
    if not isinstance(d, dict):
        raise DatasetError(path, f"{where} pose must be an object with translation and rotation")
    tr = d.get("translation", {}) or {}
    rot = d.get("rotation", {}) or {}
    if not isinstance(tr, dict) or not isinstance(rot, dict):
        raise DatasetError(path, f"{where} pose translation/rotation must be objects")
    try:
        t = [tr.get(k, 0.0) for k in ("x", "y", "z")]
        q = [rot.get(k, 0.0) for k in ("qw", "qx", "qy", "qz")]
        t = check_translation(path, t, where)
    except TypeError:
        raise DatasetError(path, f"{where} pose values must be numbers") from None
    q = check_quaternion(path, q, where)
    return make_pose(quaternion_to_matrix(q), t)


def intrinsics_to_json(K: np.ndarray) -> dict:
    K = np.asarray(K, dtype=np.float64)
    return {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]),
            "cy": float(K[1, 2]), "skew": float(K[0, 1]), "fov": 0.0, "fisheye": 0,
            "k1": 0.0, "k2": 0.0, "k3": 0.0, "p1": 0.0, "p2": 0.0}


def intrinsics_from_json(path, d, where: str) -> np.ndarray:
    if not isinstance(d, dict):
        raise DatasetError(path, f"{where} intrinsics must be an object with fx, fy, cx, cy")
    for k in ("fx", "fy", "cx", "cy"):
        if k not in d:
            raise DatasetError(path, f"{where} intrinsics are missing required field '{k}'")
    vals = {k: check_finite_number(path, d[k], where, f"intrinsics {k}")
            for k in ("fx", "fy", "cx", "cy")}
    skew = check_finite_number(path, d.get("skew", 0.0), where, "intrinsics skew")
    K = np.array([[vals["fx"], skew, vals["cx"]], [0.0, vals["fy"], vals["cy"]], [0, 0, 1.0]])
    return check_intrinsic(path, K, where)


def timestamp_to_json(us: int) -> str:
    sec, frac = divmod(int(us), 1_000_000)
    base = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:06d}Z"


def timestamp_from_json(path, value, where: str) -> int:
    """Microseconds from an RFC 3339 string (proto Timestamp JSON) or {seconds, nanos}."""
    if value is None or value == "":
        return 0
    if isinstance(value, dict):
        parts = [value.get("seconds", 0), value.get("nanos", 0)]
        if not all(isinstance(v, int) and not isinstance(v, bool)
                   or isinstance(v, str) and v.isdigit() for v in parts):
            raise DatasetError(path, f"{where} timestamp {value!r}: seconds and nanos must be "
                                     f"integers")
        return int(parts[0]) * 1_000_000 + int(parts[1]) // 1000
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise DatasetError(path, f"{where} timestamp {value!r} is not a finite number")
        return int(value)
    if isinstance(value, str):
        try:
            s = value.rstrip("Z")
            base, _, frac = s.partition(".")
            dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
            return int(dt.timestamp()) * 1_000_000 + int((frac + "000000")[:6] or 0)
        except ValueError:
            pass
    raise DatasetError(path, f"{where} timestamp {value!r} is not an RFC 3339 time")


def optical_axis_yaw_deg(cam_to_ego: np.ndarray) -> float:
    axis = np.asarray(cam_to_ego)[:3, 2]  # camera z (forward) in the ego frame
    return math.degrees(math.atan2(axis[1], axis[0]))


def match_cameras_by_yaw(path, cam_to_ego: dict[str, np.ndarray]) -> dict[str, str]:
    """Our camera name -> dataset camera name, by optical-axis yaw (Hungarian matching)."""
    names = sorted(cam_to_ego)
    if len(names) < len(CAMERA_NAMES):
        raise DatasetError(path, f"need {len(CAMERA_NAMES)} cameras, calibration has "
                                 f"{len(names)} ({', '.join(names)})")
    yaws = np.array([optical_axis_yaw_deg(cam_to_ego[n]) for n in names])
    nominal = np.array([NOMINAL_YAW_DEG[c] for c in CAMERA_NAMES])
    diff = np.abs((nominal[:, None] - yaws[None, :] + 180.0) % 360.0 - 180.0)
    rows, cols = linear_sum_assignment(diff)
    return {CAMERA_NAMES[r]: names[c] for r, c in zip(rows, cols)}


def scene_dir_of(scene_file: Path) -> Path:
    return Path(scene_file).parent
