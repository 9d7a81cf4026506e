"""Write surround frames as a nuScenes dataset (``v1.0-mini`` table layout).

Generic: the caller hands over per-frame arrays and poses; the writer creates the JSON
tables (scene, sample, sample_data, ego_pose, calibrated_sensor, sensor, log, map, category,
attribute, visibility, instance, sample_annotation), JPEG images under
``samples/CAM_*/``, LiDAR sweeps under ``samples/LIDAR_TOP/`` (``.pcd.bin``, 5 float32 per
point: x, y, z, intensity, ring, in the LiDAR frame) and, for any extra per-camera map,
``<kind>/<CAM_*>/<NAME>.png`` where NAME is the image file name without extension
(uint8 or uint16 single-channel, or uint8 RGB). The official nuscenes-devkit loads the
result as it is: ``NuScenes(version="v1.0-mini", dataroot=root)``.

Tokens are deterministic (md5 of a namespace and the record's key), so the same input gives
byte-identical tables. Every file is written atomically (temp file + ``os.replace``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fsmde_gui.core.atomic_io import atomic_write_bytes
from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.rig import matrix_to_quaternion

TABLES = ("attribute", "calibrated_sensor", "category", "ego_pose", "instance", "log", "map",
          "sample", "sample_annotation", "sample_data", "scene", "sensor", "visibility")

CATEGORY_DESCRIPTIONS = {
    "vehicle.car": "Vehicle designed primarily for personal use, e.g. sedans, hatch-backs, "
                   "wagons, vans, mini-vans, SUVs and jeeps.",
    "human.pedestrian.adult": "Adult subcategory.",
}
ATTRIBUTES = {
    "vehicle.moving": "Vehicle is moving.",
    "vehicle.parked": "Vehicle is stationary (usually for longer duration) with no immediate "
                      "intent to move.",
    "pedestrian.moving": "The human is moving.",
    "pedestrian.standing": "The human is standing.",
}
VISIBILITY = [("1", "v0-40", "visibility of whole object is between 0 and 40%"),
              ("2", "v40-60", "visibility of whole object is between 40 and 60%"),
              ("3", "v60-80", "visibility of whole object is between 60 and 80%"),
              ("4", "v80-100", "visibility of whole object is between 80 and 100%")]


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Checked, fsync'ed temp file + rename (``core.atomic_io``): a full disk leaves nothing."""
    atomic_write_bytes(path, data)


def encode_png(array: np.ndarray, path: Path) -> bytes:
    a = np.asarray(array)
    if a.dtype not in (np.uint8, np.uint16):
        raise DatasetError(path, f"PNG maps must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise DatasetError(path, "PNG encoding failed")
    return buf.tobytes()


@dataclass
class CameraRecord:
    channel: str  # CAM_FRONT, ...
    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray  # (3, 3)
    cam_to_ego: np.ndarray  # (4, 4)
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> map (H, W[, 3])
    timestamp: int | None = None  # default: the sample's timestamp
    ego_to_world: np.ndarray | None = None  # default: the sample's ego pose


@dataclass
class LidarRecord:
    points: np.ndarray  # (N, 5) float32: x, y, z, intensity, ring (LiDAR frame)
    lidar_to_ego: np.ndarray  # (4, 4)
    channel: str = "LIDAR_TOP"
    timestamp: int | None = None
    ego_to_world: np.ndarray | None = None


@dataclass
class BoxRecord:
    instance_key: str  # stable across the scene's samples
    category: str  # e.g. "vehicle.car"
    translation: np.ndarray  # (3,) box centre, world frame
    size: tuple[float, float, float]  # width, length, height
    yaw: float  # heading about world z
    attribute: str | None = None
    num_lidar_pts: int = 0
    visibility: str = "4"


def _pose_fields(T: np.ndarray) -> dict:
    T = np.asarray(T, np.float64)
    return {"translation": [float(v) for v in T[:3, 3]],
            "rotation": [float(v) for v in matrix_to_quaternion(T[:3, :3])]}


class NuScenesWriter:
    """Accumulates records; ``finish()`` writes the tables. Files are written as they come."""

    def __init__(self, root: str | Path, version: str = "v1.0-mini", namespace: str = "fsmde",
                 jpeg_quality: int = 93):
        self.root = Path(root)
        self.version = version
        self.namespace = namespace
        self.jpeg_quality = int(jpeg_quality)
        self.tables: dict[str, list[dict]] = {name: [] for name in TABLES}
        self._sensor_tokens: dict[str, str] = {}
        self._calib: dict[tuple, str] = {}
        self._scene: dict | None = None
        self._log_name = ""
        self._last_sample: dict | None = None
        self._last_sd: dict[str, dict] = {}
        self._instances: dict[str, dict] = {}
        self._last_ann: dict[str, dict] = {}
        self._categories: dict[str, str] = {}
        self._attributes: dict[str, str] = {}
        for tok, level, desc in VISIBILITY:
            self.tables["visibility"].append({"description": desc, "token": tok, "level": level})

    def token(self, *key) -> str:
        text = "/".join([self.namespace] + [str(k) for k in key])
        return hashlib.md5(text.encode()).hexdigest()

    # -- static tables -------------------------------------------------------------------
    def _sensor(self, channel: str, modality: str) -> str:
        if channel not in self._sensor_tokens:
            tok = self.token("sensor", channel)
            self._sensor_tokens[channel] = tok
            self.tables["sensor"].append({"token": tok, "channel": channel, "modality": modality})
        return self._sensor_tokens[channel]

    def _calibrated(self, channel: str, modality: str, T: np.ndarray, K=None) -> str:
        key = (self._scene["token"], channel)
        if key not in self._calib:
            tok = self.token("calibrated_sensor", *key)
            rec = {"token": tok, "sensor_token": self._sensor(channel, modality)}
            rec.update(_pose_fields(T))
            rec["camera_intrinsic"] = [] if K is None else np.asarray(K, float).tolist()
            self.tables["calibrated_sensor"].append(rec)
            self._calib[key] = tok
        return self._calib[key]

    def _category(self, name: str) -> str:
        if name not in self._categories:
            tok = self.token("category", name)
            self._categories[name] = tok
            self.tables["category"].append({
                "token": tok, "name": name,
                "description": CATEGORY_DESCRIPTIONS.get(name, name),
                "index": len(self._categories) - 1})
        return self._categories[name]

    def _attribute(self, name: str) -> str:
        if name not in self._attributes:
            tok = self.token("attribute", name)
            self._attributes[name] = tok
            self.tables["attribute"].append({"token": tok, "name": name,
                                             "description": ATTRIBUTES.get(name, name)})
        return self._attributes[name]

    # -- scenes and samples --------------------------------------------------------------
    def begin_scene(self, name: str, description: str = "", log_name: str | None = None,
                    date_captured: str = "2026-01-01", location: str = "simulator") -> str:
        self.end_scene()
        self._log_name = log_name or name
        log_tok = self.token("log", self._log_name)
        if not any(r["token"] == log_tok for r in self.tables["log"]):
            self.tables["log"].append({"token": log_tok, "logfile": self._log_name,
                                       "vehicle": "fsmde-sim", "date_captured": date_captured,
                                       "location": location})
            self.tables["map"].append({"token": self.token("map", self._log_name),
                                       "log_tokens": [log_tok], "category": "semantic_prior",
                                       "filename": ""})
        self._scene = {"token": self.token("scene", name), "log_token": log_tok,
                       "nbr_samples": 0, "first_sample_token": "", "last_sample_token": "",
                       "name": name, "description": description}
        self.tables["scene"].append(self._scene)
        self._last_sample, self._last_sd, self._last_ann = None, {}, {}
        return self._scene["token"]

    def end_scene(self) -> None:
        self._scene = None

    def _sample_data(self, sample_tok: str, channel: str, modality: str, timestamp: int,
                     ego_to_world: np.ndarray, calib_tok: str, filename: str, fileformat: str,
                     width: int, height: int) -> dict:
        sd_tok = self.token("sample_data", sample_tok, channel)
        ego_tok = self.token("ego_pose", sample_tok, channel)
        ego = {"token": ego_tok, "timestamp": int(timestamp)}
        ego.update(_pose_fields(ego_to_world))
        self.tables["ego_pose"].append(ego)
        rec = {"token": sd_tok, "sample_token": sample_tok, "ego_pose_token": ego_tok,
               "calibrated_sensor_token": calib_tok, "timestamp": int(timestamp),
               "fileformat": fileformat, "is_key_frame": True, "height": int(height),
               "width": int(width), "filename": filename, "prev": "", "next": ""}
        prev = self._last_sd.get(channel)
        if prev is not None:
            prev["next"] = sd_tok
            rec["prev"] = prev["token"]
        self._last_sd[channel] = rec
        self.tables["sample_data"].append(rec)
        return rec

    def add_sample(self, timestamp: int, ego_to_world: np.ndarray, cameras: list[CameraRecord],
                   lidar: LidarRecord | None = None, boxes: list[BoxRecord] = ()) -> str:
        """Write one synchronised frame (all sensors) of the current scene; returns its token."""
        if self._scene is None:
            raise RuntimeError("begin_scene() first")
        scene = self._scene
        sample_tok = self.token("sample", scene["token"], int(timestamp))
        sample = {"token": sample_tok, "timestamp": int(timestamp), "prev": "", "next": "",
                  "scene_token": scene["token"]}
        if self._last_sample is not None:
            self._last_sample["next"] = sample_tok
            sample["prev"] = self._last_sample["token"]
        else:
            scene["first_sample_token"] = sample_tok
        scene["last_sample_token"] = sample_tok
        scene["nbr_samples"] += 1
        self._last_sample = sample
        self.tables["sample"].append(sample)

        for cam in cameras:
            ts = int(timestamp if cam.timestamp is None else cam.timestamp)
            name = f"{self._log_name}__{cam.channel}__{ts}"
            rel = f"samples/{cam.channel}/{name}.jpg"
            img = np.asarray(cam.image)
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise DatasetError(self.root / rel, f"image must be (H, W, 3) uint8, got "
                                                    f"{img.shape} {img.dtype}")
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise DatasetError(self.root / rel, "JPEG encoding failed")
            write_bytes_atomic(self.root / rel, buf.tobytes())
            for kind, arr in cam.extras.items():
                path = self.root / kind / cam.channel / f"{name}.png"
                write_bytes_atomic(path, encode_png(arr, path))
            calib = self._calibrated(cam.channel, "camera", cam.cam_to_ego, cam.K)
            self._sample_data(sample_tok, cam.channel, "camera", ts,
                              ego_to_world if cam.ego_to_world is None else cam.ego_to_world,
                              calib, rel, "jpg", img.shape[1], img.shape[0])
        if lidar is not None:
            ts = int(timestamp if lidar.timestamp is None else lidar.timestamp)
            rel = f"samples/{lidar.channel}/{self._log_name}__{lidar.channel}__{ts}.pcd.bin"
            pts = np.ascontiguousarray(lidar.points, np.float32)
            if pts.ndim != 2 or pts.shape[1] != 5:
                raise DatasetError(self.root / rel, f"LiDAR points must be (N, 5), got {pts.shape}")
            write_bytes_atomic(self.root / rel, pts.tobytes())
            calib = self._calibrated(lidar.channel, "lidar", lidar.lidar_to_ego)
            self._sample_data(sample_tok, lidar.channel, "lidar", ts,
                              ego_to_world if lidar.ego_to_world is None else lidar.ego_to_world,
                              calib, rel, "pcd", 0, 0)
        for box in boxes:
            self._annotation(sample_tok, box)
        return sample_tok

    def _annotation(self, sample_tok: str, box: BoxRecord) -> None:
        key = f"{self._scene['token']}/{box.instance_key}"
        inst = self._instances.get(key)
        ann_tok = self.token("sample_annotation", sample_tok, box.instance_key)
        if inst is None:
            inst = {"token": self.token("instance", key),
                    "category_token": self._category(box.category), "nbr_annotations": 0,
                    "first_annotation_token": ann_tok, "last_annotation_token": ann_tok}
            self._instances[key] = inst
            self.tables["instance"].append(inst)
        inst["nbr_annotations"] += 1
        inst["last_annotation_token"] = ann_tok
        c, s = np.cos(box.yaw / 2), np.sin(box.yaw / 2)
        rec = {"token": ann_tok, "sample_token": sample_tok, "instance_token": inst["token"],
               "visibility_token": box.visibility,
               "attribute_tokens": [self._attribute(box.attribute)] if box.attribute else [],
               "translation": [float(v) for v in box.translation],
               "size": [float(v) for v in box.size],
               "rotation": [float(c), 0.0, 0.0, float(s)], "prev": "", "next": "",
               "num_lidar_pts": int(box.num_lidar_pts), "num_radar_pts": 0}
        prev = self._last_ann.get(key)
        if prev is not None:
            prev["next"] = ann_tok
            rec["prev"] = prev["token"]
        self._last_ann[key] = rec
        self.tables["sample_annotation"].append(rec)

    def finish(self) -> dict[str, int]:
        """Write ``<version>/*.json``; returns the number of records per table."""
        self.end_scene()
        table_dir = self.root / self.version
        for name, records in self.tables.items():
            write_bytes_atomic(table_dir / f"{name}.json",
                               json.dumps(records, indent=1).encode())
        return {name: len(records) for name, records in self.tables.items()}
