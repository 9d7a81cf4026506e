"""DDAD (TRI's DGP format) as SurroundFrames.

Layout read (as published by TRI-ML/DDAD, read with TRI-ML/dgp)::

    ROOT/scene_dataset*.json or ROOT/ddad*.json   (optional: {"scene_splits": {"0": {"filenames": [...]}}})
    ROOT/<scene>/scene_<sha1>.json                {"name", "samples": [...], "data": [...]}
    ROOT/<scene>/calibration/<calibration_key>.json  {"names", "intrinsics", "extrinsics"}
    ROOT/<scene>/rgb/CAMERA_XX/<...>.png|jpg
    ROOT/<scene>/point_cloud/LIDAR/<...>.npz      ("data": (N, 3+) float, sensor frame)

A sample lists ``datum_keys`` and a ``calibration_key``; a datum is ``{"id": {"name",
"timestamp", ...}, "key", "datum": {"image"|"point_cloud": {"filename", "pose", ...}}}`` with
``pose`` the sensor's pose in the scene's world frame and calibration ``extrinsics`` the
sensor's pose in the vehicle frame. Cameras are matched to CAMERA_NAMES by yaw.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import DatasetError
from ..core.types import CAMERA_NAMES, CameraView, SurroundFrame
from .base import SceneInfo, SurroundDataset, select_scenes
from .dgp_format import (intrinsics_from_json, match_cameras_by_yaw, pose_from_json,
                         timestamp_from_json)
from .images import image_size_from_header, load_image, resize_image, scale_intrinsics
from .lidar import project_to_image, rasterize_depth, transform
from .validate import (check_intrinsic_fits_image, check_relative_path, load_json,
                       require_fields)

MIN_DIST = 1.0


def _dataset_jsons(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.json")
                  if p.name.startswith("scene_dataset") or p.name.lower().startswith("ddad"))


def find_scene_files(root, strict: bool = True) -> list[Path]:
    """Scene JSON files of a DGP folder (from its dataset JSON when there is one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    dsets = _dataset_jsons(root)
    if dsets and strict:
        files: list[Path] = []
        for dj in dsets:
            doc = load_json(dj, expect=dict, what="DGP dataset file")
            splits = doc.get("scene_splits")
            if not isinstance(splits, dict):
                raise DatasetError(dj, "DGP dataset file is missing 'scene_splits' (an object)")
            for split, entry in splits.items():
                names = entry.get("filenames") if isinstance(entry, dict) else None
                if not isinstance(names, list):
                    raise DatasetError(dj, f"scene_splits[{split}] must have a 'filenames' list")
                for j, n in enumerate(names):
                    p = root / check_relative_path(dj, n, f"scene_splits[{split}].filenames[{j}]")
                    if not p.is_file():
                        raise DatasetError(p, f"scene file listed in {dj.name} is missing")
                    if p not in files:
                        files.append(p)
        return files
    direct = [p for p in sorted(root.glob("scene_*.json")) + sorted(root.glob("*/scene_*.json"))
              if not p.name.startswith("scene_dataset")]
    if not strict:
        return dsets + direct
    latest: dict[Path, Path] = {}
    for p in direct:  # several versions of one scene: keep the last by name
        latest[p.parent] = p
    return list(latest.values())


@dataclass
class _Scene:
    file: Path
    name: str
    datums: dict[str, dict]
    samples: list[dict]
    cam_names: dict[str, str] = field(default_factory=dict)  # ours -> DDAD datum name
    calibrations: dict[str, dict] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.file.parent


class DDADDataset(SurroundDataset):
    """A DDAD / DGP folder."""

    format_name = "ddad"

    def __init__(self, root, image_size: Optional[tuple[int, int]] = None,
                 scenes: Optional[list[str]] = None):
        super().__init__(root, image_size)
        files = find_scene_files(self.root)
        if not files:
            raise DatasetError(self.root, "not a DGP folder: no scene_*.json found")
        self._scenes = [self._load_scene(f) for f in files]
        keep = select_scenes([s.name for s in self._scenes], scenes, self.root)
        self._scenes = [self._scenes[i] for i in keep]
        self.scenes = [SceneInfo(s.name, len(s.samples), s.file.stem) for s in self._scenes]
        self.has_boxes = False

    # ---- tables ---------------------------------------------------------------------------
    def _load_scene(self, path: Path) -> _Scene:
        doc = load_json(path, expect=dict, what="DGP scene file")
        require_fields(path, doc, {"samples": list, "data": list}, "scene")
        datums: dict[str, dict] = {}
        for i, d in enumerate(doc["data"]):
            require_fields(path, d, {"id": dict, "key": str, "datum": dict}, f"data[{i}]")
            require_fields(path, d["id"], {"name": str}, f"data[{i}].id")
            kinds = [k for k in ("image", "point_cloud") if isinstance(d["datum"].get(k), dict)]
            if kinds:
                where = f"data[{i}].datum.{kinds[0]}"
                require_fields(path, d["datum"][kinds[0]], {"filename": str}, where)
                check_relative_path(path, d["datum"][kinds[0]]["filename"], where)
            datums[d["key"]] = d
        for i, s in enumerate(doc["samples"]):
            require_fields(path, s, {"datum_keys": list, "calibration_key": str}, f"samples[{i}]")
            check_relative_path(path, s["calibration_key"], f"samples[{i}]", "calibration_key")
            for k in s["datum_keys"]:
                if k not in datums:
                    raise DatasetError(path, f"samples[{i}] refers to datum key {k} which is "
                                             f"not in the scene's data")
        scene = _Scene(path, str(doc.get("name") or path.parent.name), datums, doc["samples"])
        for s in scene.samples:
            self._calibration(scene, s["calibration_key"])
        if scene.samples:
            scene.cam_names = self._match_cameras(scene, scene.samples[0])
            for i, s in enumerate(scene.samples):
                names = {self._datum_name(scene, k) for k in s["datum_keys"]}
                missing = [c for c, n in scene.cam_names.items() if n.lower() not in names]
                if missing:
                    raise DatasetError(path, f"samples[{i}] has no image for camera "
                                             f"{', '.join(scene.cam_names[c] for c in missing)}")
                cal = self._calibration(scene, s["calibration_key"])
                cal_path = scene.dir / "calibration" / f"{s['calibration_key']}.json"
                for n in scene.cam_names.values():
                    if cal.get(n.lower(), {}).get("K") is None:
                        raise DatasetError(cal_path, f"no camera intrinsics for {n} (used by "
                                                     f"samples[{i}])")
                self._check_intrinsics_fit(scene, s, cal, cal_path)
        return scene

    def _check_intrinsics_fit(self, scene: _Scene, sample: dict, cal: dict,
                              cal_path: Path) -> None:
        """The intrinsics against the width/height the scene file gives each image."""
        for key in sample["datum_keys"]:
            datum = scene.datums[key]
            rec = datum["datum"].get("image")
            c = cal.get(datum["id"]["name"].lower())
            if not isinstance(rec, dict) or c is None or c["K"] is None:
                continue
            wh = _stated_size(scene.file, rec, f"datum {key}")
            if wh is not None:
                check_intrinsic_fits_image(cal_path, c["K"], wh, f"{c['name']} (datum {key} of "
                                                                 f"{scene.file.name})")

    @staticmethod
    def _datum_name(scene: _Scene, key: str) -> str:
        return scene.datums[key]["id"]["name"].lower()

    def _calibration(self, scene: _Scene, key: str) -> dict:
        if key in scene.calibrations:
            return scene.calibrations[key]
        path = scene.dir / "calibration" / f"{key}.json"
        doc = load_json(path, expect=dict, what="DGP calibration file")
        require_fields(path, doc, {"names": list, "intrinsics": list, "extrinsics": list},
                       "calibration")
        n = len(doc["names"])
        if len(doc["intrinsics"]) != n or len(doc["extrinsics"]) != n:
            raise DatasetError(path, f"calibration has {n} names but {len(doc['intrinsics'])} "
                                     f"intrinsics and {len(doc['extrinsics'])} extrinsics")
        cal = {}
        for name, intr, extr in zip(doc["names"], doc["intrinsics"], doc["extrinsics"]):
            if not isinstance(name, str):
                raise DatasetError(path, f"calibration name {name!r} must be a string")
            T = pose_from_json(path, extr, f"{name} extrinsics")
            K = None
            if isinstance(intr, dict) and any(intr.get(k) for k in ("fx", "fy")):
                K = intrinsics_from_json(path, intr, name)
            cal[name.lower()] = {"name": name, "K": K, "extrinsics": T}
        scene.calibrations[key] = cal
        return cal

    def _match_cameras(self, scene: _Scene, sample: dict) -> dict[str, str]:
        """Our names -> the calibration's camera names (those with intrinsics), by yaw."""
        cal = self._calibration(scene, sample["calibration_key"])
        cams = {c["name"]: c["extrinsics"] for c in cal.values() if c["K"] is not None}
        return match_cameras_by_yaw(scene.dir / "calibration" / f"{sample['calibration_key']}.json",
                                    cams)

    # ---- frames ---------------------------------------------------------------------------
    def frame(self, scene: int, index: int, load_gt: bool = True) -> SurroundFrame:
        self._check_index(scene, index)
        sc = self._scenes[scene]
        sample = sc.samples[index]
        cal = self._calibration(sc, sample["calibration_key"])
        by_name = {self._datum_name(sc, k): sc.datums[k] for k in sample["datum_keys"]}
        lidar = next((d for d in by_name.values() if isinstance(d["datum"].get("point_cloud"), dict)),
                     None)
        pts_world = points_ego = lidar_ego_to_world = None
        if lidar is not None:
            pc = lidar["datum"]["point_cloud"]
            pose_ws = pose_from_json(sc.file, pc.get("pose"), f"datum {lidar['key']}")
            ext = cal.get(lidar["id"]["name"].lower(), {}).get("extrinsics", np.eye(4))
            lidar_ego_to_world = pose_ws @ np.linalg.inv(ext)
            if load_gt:
                pts_s = load_npz_points(sc.dir / pc["filename"])
                points_ego = transform(ext, pts_s).astype(np.float32)
                pts_world = transform(pose_ws, pts_s)
        cal_path = sc.dir / "calibration" / f"{sample['calibration_key']}.json"
        views = [self._view(sc, by_name[sc.cam_names[c].lower()], c, cal, cal_path, pts_world)
                 for c in CAMERA_NAMES]
        front = views[CAMERA_NAMES.index("CAM_FRONT")]
        frame = SurroundFrame(
            views=views,
            ego_to_world=lidar_ego_to_world if lidar_ego_to_world is not None else front.ego_to_world,
            timestamp=timestamp_from_json(sc.file, lidar["id"].get("timestamp"), "lidar")
            if lidar is not None else front.timestamp,
            scene_name=sc.name, frame_index=index, token=sample.get("id", {}).get("name", "")
            if isinstance(sample.get("id"), dict) else "",
            lidar_points_ego=points_ego, source="ddad")
        for off in (-1, 1):
            if 0 <= index + off < len(sc.samples):
                frame.neighbours[off] = partial(self.frame, scene, index + off, load_gt=False)
        return frame

    def _view(self, sc: _Scene, datum: dict, ours: str, cal: dict, cal_path: Path,
              pts_world: Optional[np.ndarray]) -> CameraView:
        img_rec = datum["datum"].get("image")
        if not isinstance(img_rec, dict):
            raise DatasetError(sc.file, f"datum {datum['key']} ({datum['id']['name']}) is not "
                                        f"an image")
        c = cal[datum["id"]["name"].lower()]
        path = sc.dir / img_rec["filename"]
        img = load_image(path, _stated_size(sc.file, img_rec, f"datum {datum['key']}"))
        src_wh = (img.shape[1], img.shape[0])
        out_wh = self.image_size or src_wh
        K = c["K"]
        check_intrinsic_fits_image(cal_path, K, src_wh, f"{c['name']} (image {path.name})")
        if out_wh != src_wh:
            img = resize_image(img, out_wh)
            K = scale_intrinsics(K, src_wh, out_wh)
        pose_wc = pose_from_json(sc.file, img_rec.get("pose"), f"datum {datum['key']}")
        view = CameraView(name=ours, image=img, K=K, cam_to_ego=c["extrinsics"],
                          timestamp=timestamp_from_json(sc.file, datum["id"].get("timestamp"),
                                                        f"datum {datum['key']}"),
                          image_path=str(path),
                          ego_to_world=pose_wc @ np.linalg.inv(c["extrinsics"]))
        if pts_world is not None:
            pts_cam = transform(np.linalg.inv(pose_wc), pts_world)
            uv, z = project_to_image(pts_cam, K, out_wh, MIN_DIST)
            view.depth_sparse = rasterize_depth(uv, z, (out_wh[1], out_wh[0]))
        return view

    # ---- whole-dataset check ----------------------------------------------------------------
    def check_files(self) -> list[Path]:
        checked = []
        for sc in self._scenes:
            for d in sc.datums.values():
                if isinstance(d["datum"].get("image"), dict):
                    rec = d["datum"]["image"]
                    p = sc.dir / rec["filename"]
                    w, h = image_size_from_header(p)
                    ew, eh = _stated_size(sc.file, rec, f"datum {d['key']}") or (0, 0)
                    if ew and eh and (w, h) != (ew, eh):
                        raise DatasetError(p, f"image is {w}x{h} but the scene file says {ew}x{eh}")
                elif isinstance(d["datum"].get("point_cloud"), dict):
                    p = sc.dir / d["datum"]["point_cloud"]["filename"]
                    if not p.is_file():
                        raise DatasetError(p, "point cloud file is missing")
                    if p.stat().st_size == 0:
                        raise DatasetError(p, "point cloud file is empty (0 bytes)")
                else:
                    continue
                checked.append(p)
        return checked

    def describe(self) -> dict:
        info = super().describe()
        if self._scenes:
            info["camera_mapping"] = dict(self._scenes[0].cam_names)
        return info


def _stated_size(path: Path, image_rec: dict, where: str) -> Optional[tuple[int, int]]:
    """(W, H) an image datum states, or None when it states none (0 / absent)."""
    wh = []
    for key in ("width", "height"):
        value = image_rec.get(key) or 0
        if isinstance(value, str) and value.isdigit():  # proto3 JSON may quote integers
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DatasetError(path, f"{where} image {key} must be a non-negative integer, "
                                     f"got {value!r}")
        wh.append(value)
    return (wh[0], wh[1]) if wh[0] and wh[1] else None


def load_npz_points(path) -> np.ndarray:
    """(N, 3) float64 XYZ from a DGP point-cloud ``.npz`` (``data`` key; plain or structured)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "point cloud file is missing")
    if path.stat().st_size == 0:
        raise DatasetError(path, "point cloud file is empty (0 bytes)")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "data" not in z.files:
                raise DatasetError(path, f"point cloud .npz has no 'data' array (has {z.files})")
            X = z["data"]
    except DatasetError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(path, f"corrupt point cloud .npz ({exc.__class__.__name__})") from None
    if X.dtype.fields is not None:
        try:
            X = np.stack([X["X"], X["Y"], X["Z"]], axis=-1).reshape(-1, 3)
        except (KeyError, ValueError):
            raise DatasetError(path, "structured point cloud needs X, Y, Z fields") from None
    if X.ndim != 2 or X.shape[1] < 3:
        raise DatasetError(path, f"point cloud 'data' must be (N, 3+), got {list(X.shape)}")
    X = X[:, :3].astype(np.float64)
    if not np.all(np.isfinite(X)):
        raise DatasetError(path, "point cloud contains NaN or infinite coordinates")
    return X
