"""nuScenes (and simulator output, which is nuScenes plus extra GT folders) as SurroundFrames.

Tables are parsed and checked by :mod:`.nuscenes_tables`, then indexed by the official
nuscenes-devkit (``NuScenes``). Sparse GT depth is the LIDAR_TOP sweep projected into each
camera exactly as ``NuScenesExplorer.map_pointcloud_to_image`` does (lidar -> ego at the
LiDAR timestamp -> global -> ego at the camera timestamp -> camera, ``min_dist`` cut, points
strictly inside the image), then rounded to pixels keeping the nearest depth. 3D boxes
(``sample_annotation`` with their instance's category) are moved into the ego frame of the
frame's LiDAR timestamp, as the devkit's ``get_sample_data`` does for the LiDAR.
"""
from __future__ import annotations

import contextlib
import io
from functools import partial
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.boxes import box_from_world
from ..core.errors import DatasetError
from ..core.rig import make_pose, quaternion_to_matrix
from ..core.types import CAMERA_NAMES, Box3D, CameraView, SurroundFrame
from .base import SceneInfo, SurroundDataset, select_scenes
from .extra_gt import ExtraGT, has_extra_gt
from .images import (image_size_from_header, load_image, resize_image, resize_nearest,
                     scale_intrinsics)
from .lidar import check_nuscenes_pcd_bin_header, load_nuscenes_pcd_bin, rasterize_depth
from .nuscenes_tables import find_version_dir, list_versions, load_tables
from .validate import (check_box_size, check_intrinsic_fits_image, check_quaternion,
                       check_translation)

LIDAR_CHANNEL = "LIDAR_TOP"
MIN_DIST = 1.0


def _open_devkit(root: Path, version: str, tables: dict):
    """The devkit's NuScenes object over already-checked tables (no second JSON parse)."""
    from nuscenes.nuscenes import NuScenes

    # Map rasters are not needed for depth: a map record whose image is absent (a common
    # partial download) is pointed at the data root so the devkit's MapMask check passes.
    tables = dict(tables)
    tables["map"] = [m if m["filename"] and (Path(root) / m["filename"]).is_file()
                     else dict(m, filename="") for m in tables["map"]]

    class _CheckedNuScenes(NuScenes):
        def __load_table__(self, table_name):  # devkit hook: return our parsed table
            if table_name in tables:
                return tables[table_name]
            return super().__load_table__(table_name)

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return _CheckedNuScenes(version=version, dataroot=str(root), verbose=False)
    except DatasetError:
        raise
    except Exception as exc:  # devkit raises bare KeyError/AssertionError/... on bad tables
        raise DatasetError(Path(root) / version, f"nuscenes-devkit cannot index the tables: "
                                                 f"{exc.__class__.__name__}: {exc}") from None


def project_lidar_devkit(scan: np.ndarray, lidar_cs: dict, lidar_pose: dict, cam_pose: dict,
                         cam_cs: dict, K: np.ndarray, wh: tuple[int, int],
                         min_dist: float = MIN_DIST) -> tuple[np.ndarray, np.ndarray]:
    """(uv (M, 2), depth (M,)) of a LiDAR sweep in one camera, step for step as the devkit.

    ``scan`` is the (N, >=4) float32 sweep in the LiDAR frame; ``K`` and ``wh`` the camera's
    intrinsics and (W, H) of the image the points are projected into.
    """
    from nuscenes.utils.data_classes import LidarPointCloud
    from nuscenes.utils.geometry_utils import view_points
    from pyquaternion import Quaternion

    pc = LidarPointCloud(np.ascontiguousarray(scan[:, :4].T))
    pc.rotate(Quaternion(lidar_cs["rotation"]).rotation_matrix)
    pc.translate(np.array(lidar_cs["translation"]))
    pc.rotate(Quaternion(lidar_pose["rotation"]).rotation_matrix)
    pc.translate(np.array(lidar_pose["translation"]))
    pc.translate(-np.array(cam_pose["translation"]))
    pc.rotate(Quaternion(cam_pose["rotation"]).rotation_matrix.T)
    pc.translate(-np.array(cam_cs["translation"]))
    pc.rotate(Quaternion(cam_cs["rotation"]).rotation_matrix.T)
    depths = pc.points[2, :]
    pts = view_points(pc.points[:3, :], np.asarray(K, dtype=np.float64), normalize=True)
    mask = (depths > min_dist) & (pts[0] > 1) & (pts[0] < wh[0] - 1) \
        & (pts[1] > 1) & (pts[1] < wh[1] - 1)
    return pts[:2, mask].T, depths[mask]


def _pose(rec: dict) -> np.ndarray:
    return make_pose(quaternion_to_matrix(rec["rotation"]), rec["translation"])


class NuScenesDataset(SurroundDataset):
    """A nuScenes folder (``v1.0-*`` tables + ``samples/``, ``sweeps/``).

    ``version`` picks the table folder (default: v1.0-mini, else trainval, else test);
    ``scenes`` keeps only the named scenes, in that order (default: all).
    """

    format_name = "nuscenes"

    def __init__(self, root, image_size: Optional[tuple[int, int]] = None,
                 version: Optional[str] = None, scenes: Optional[list[str]] = None):
        super().__init__(root, image_size)
        vdir = find_version_dir(self.root, version)
        if vdir is None or not vdir.is_dir():
            raise DatasetError(self.root, "not a nuScenes folder: expected a v1.0-* table "
                                          "folder (e.g. v1.0-mini/sample.json)")
        self.version = vdir.name
        self.table_dir = vdir
        tables = load_tables(vdir)
        self.nusc = _open_devkit(self.root, self.version, tables)
        self.has_boxes = len(tables["sample_annotation"]) > 0
        self.extra: Optional[ExtraGT] = ExtraGT(self.root) if has_extra_gt(self.root) else None
        if self.extra is not None:
            self.format_name = "simulator"
            self.class_names = self.extra.class_names
        self._samples: list[list[str]] = []
        self._sample_index: list[dict[str, int]] = []
        self.subset = scenes is not None
        keep = select_scenes([sc["name"] for sc in self.nusc.scene], scenes,
                             f"{self.root} ({self.version})")
        for scene in (self.nusc.scene[i] for i in keep):
            toks = self._walk_scene(scene)
            self._samples.append(toks)
            self._sample_index.append({t: i for i, t in enumerate(toks)})
            self.scenes.append(SceneInfo(scene["name"], len(toks), scene["token"]))

    # ---- tables ---------------------------------------------------------------------------
    def _walk_scene(self, scene: dict) -> list[str]:
        path = self.table_dir / "sample.json"
        toks, seen, tok = [], set(), scene["first_sample_token"]
        while tok:
            if tok in seen:
                raise DatasetError(path, f"scene {scene['name']}: sample chain loops at {tok}")
            seen.add(tok)
            sample = self.nusc.get("sample", tok)
            if sample["scene_token"] != scene["token"]:
                raise DatasetError(path, f"sample {tok} is linked from scene {scene['name']} "
                                         f"but belongs to scene {sample['scene_token']}")
            missing = [c for c in CAMERA_NAMES if c not in sample["data"]]
            if missing:
                raise DatasetError(self.table_dir / "sample_data.json",
                                   f"sample {tok} (scene {scene['name']}) has no keyframe "
                                   f"image for camera {', '.join(missing)}")
            toks.append(tok)
            tok = sample["next"]
        return toks

    # ---- frames ---------------------------------------------------------------------------
    def frame(self, scene: int, index: int, load_gt: bool = True) -> SurroundFrame:
        self._check_index(scene, index)
        sample = self.nusc.get("sample", self._samples[scene][index])
        cams = {c: sample["data"][c] for c in CAMERA_NAMES}
        frame = self._frame_from_sd(cams, sample["data"].get(LIDAR_CHANNEL), scene, index,
                                    sample["token"], load_gt)
        if load_gt and self.has_boxes:
            frame.boxes = self._boxes(sample, frame.ego_to_world)
        return frame

    def boxes(self, scene: int, index: int) -> Optional[list[Box3D]]:
        """The 3D boxes of a frame (as ``frame(...).boxes``) without loading any image or
        sweep; None when the dataset has no annotations."""
        self._check_index(scene, index)
        if not self.has_boxes:
            return None
        sample = self.nusc.get("sample", self._samples[scene][index])
        lidar = sample["data"].get(LIDAR_CHANNEL)
        sd = self.nusc.get("sample_data", lidar if lidar else sample["data"]["CAM_FRONT"])
        return self._boxes(sample, _pose(self.nusc.get("ego_pose", sd["ego_pose_token"])))

    def _boxes(self, sample: dict, ego_to_world: np.ndarray) -> list[Box3D]:
        """The sample's annotations as boxes in the ego frame of ``ego_to_world``."""
        path = self.table_dir / "sample_annotation.json"
        world_to_ego = np.linalg.inv(ego_to_world)
        boxes = []
        for tok in sample.get("anns", []):
            ann = self.nusc.get("sample_annotation", tok)
            where = f"record (token {tok})"
            boxes.append(box_from_world(
                check_translation(path, ann["translation"], where),
                check_box_size(path, ann["size"], where),
                check_quaternion(path, ann["rotation"], where), world_to_ego,
                ann.get("category_name", ""), tok, ann["instance_token"],
                int(ann.get("num_lidar_pts") or 0)))
        return boxes

    def _frame_from_sd(self, cam_sd: dict[str, str], lidar_sd: Optional[str], scene: int,
                       index: int, token: str, load_gt: bool = True) -> SurroundFrame:
        scan = lidar_rec = None
        if lidar_sd is not None:
            lidar_rec = self.nusc.get("sample_data", lidar_sd)
            if load_gt:
                scan = load_nuscenes_pcd_bin(self.root / lidar_rec["filename"])
        views = [self._view(cam_sd[c], c, lidar_rec, scan, load_gt) for c in CAMERA_NAMES]
        if lidar_rec is not None:
            ego = _pose(self.nusc.get("ego_pose", lidar_rec["ego_pose_token"]))
            stamp = int(lidar_rec["timestamp"])
        else:
            ego = views[CAMERA_NAMES.index("CAM_FRONT")].ego_to_world
            stamp = int(views[CAMERA_NAMES.index("CAM_FRONT")].timestamp)
        points = None
        if scan is not None:
            lcs = self.nusc.get("calibrated_sensor", lidar_rec["calibrated_sensor_token"])
            points = (scan[:, :3].astype(np.float64) @ _pose(lcs)[:3, :3].T
                      + np.asarray(lcs["translation"])).astype(np.float32)
        frame = SurroundFrame(
            views=views, ego_to_world=ego, timestamp=stamp,
            scene_name=self.scenes[scene].name, frame_index=index, token=token,
            lidar_points_ego=points, class_names=self.class_names,
            source="simulator" if self.extra is not None else "nuscenes")
        frame.neighbours = self._neighbours(cam_sd, scene, index)
        return frame

    def _view(self, sd_token: str, channel: str, lidar_rec: Optional[dict],
              scan: Optional[np.ndarray], load_gt: bool) -> CameraView:
        sd = self.nusc.get("sample_data", sd_token)
        cs = self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        pose_rec = self.nusc.get("ego_pose", sd["ego_pose_token"])
        path = self.root / sd["filename"]
        img = load_image(path, (int(sd.get("width") or 0), int(sd.get("height") or 0)))
        src_wh = (img.shape[1], img.shape[0])
        out_wh = self.image_size or src_wh
        K = np.asarray(cs["camera_intrinsic"], dtype=np.float64)
        check_intrinsic_fits_image(self.table_dir / "calibrated_sensor.json", K, src_wh,
                                   f"calibration {cs['token']} ({channel}, image {path.name})")
        if out_wh != src_wh:
            img = resize_image(img, out_wh)
            K = scale_intrinsics(K, src_wh, out_wh)
        view = CameraView(name=channel, image=img, K=K, cam_to_ego=_pose(cs),
                          timestamp=int(sd["timestamp"]), image_path=str(path),
                          ego_to_world=_pose(pose_rec))
        if not load_gt:
            return view
        if scan is not None:
            lidar_cs = self.nusc.get("calibrated_sensor", lidar_rec["calibrated_sensor_token"])
            lidar_pose = self.nusc.get("ego_pose", lidar_rec["ego_pose_token"])
            uv, z = project_lidar_devkit(scan, lidar_cs, lidar_pose, pose_rec, cs, K, out_wh)
            view.depth_sparse = rasterize_depth(uv, z, (out_wh[1], out_wh[0]))
        if self.extra is not None and self.extra.kinds:
            gt = self.extra.load(channel, sd["filename"], (src_wh[1], src_wh[0]))
            for attr, arr in gt.items():
                setattr(view, attr, resize_nearest(arr, out_wh))
        return view

    def _neighbours(self, cam_sd: dict[str, str], scene: int, index: int) -> dict:
        """-1/+1: the previous/next camera sample_data (sweeps at camera rate, else keyframes).

        Loaders take an optional ``load_gt`` (default False: images and poses only); keyframe
        neighbours then also carry their LiDAR, sweep neighbours never do.
        """
        out = {}
        for offset, key in ((-1, "prev"), (1, "next")):
            recs = [self.nusc.get("sample_data", cam_sd[c]) for c in CAMERA_NAMES]
            toks = [r[key] for r in recs]
            if not all(toks):
                continue
            nb = {c: t for c, t in zip(CAMERA_NAMES, toks)}
            nrecs = [self.nusc.get("sample_data", t) for t in toks]
            lidar = None
            sample_tok = nrecs[0]["sample_token"]
            if all(r["is_key_frame"] and r["sample_token"] == sample_tok for r in nrecs):
                lidar = self.nusc.get("sample", sample_tok)["data"].get(LIDAR_CHANNEL)
            nb_index = self._sample_index[scene].get(sample_tok, index) \
                if lidar is not None else index
            out[offset] = partial(self._frame_from_sd, nb, lidar, scene, nb_index, sample_tok,
                                  load_gt=False)
        return out

    # ---- whole-dataset check ----------------------------------------------------------------
    def check_files(self) -> list[Path]:
        checked: list[Path] = []
        wanted = {t for toks in self._samples for t in toks} if self.subset else None
        for sd in self.nusc.sample_data:
            if wanted is not None and sd["sample_token"] not in wanted:
                continue  # a scene that was not selected
            path = self.root / sd["filename"]
            modality = sd.get("sensor_modality")
            if modality == "camera":
                w, h = image_size_from_header(path)
                ew, eh = int(sd.get("width") or 0), int(sd.get("height") or 0)
                if ew and eh and (w, h) != (ew, eh):
                    raise DatasetError(path, f"image is {w}x{h} but sample_data.json says "
                                             f"{ew}x{eh}")
                if self.extra is not None and sd["is_key_frame"]:
                    checked += self.extra.check(sd["channel"], sd["filename"], (h, w))
            elif modality == "lidar" and sd["filename"].endswith(".bin"):
                check_nuscenes_pcd_bin_header(path)
            else:
                if not path.is_file():
                    raise DatasetError(path, f"{modality or 'sensor'} file is missing")
                if path.stat().st_size == 0:
                    raise DatasetError(path, f"{modality or 'sensor'} file is empty (0 bytes)")
            checked.append(path)
        return checked

    def describe(self) -> dict:
        info = super().describe()
        info["version"] = self.version
        info["versions"] = list_versions(self.root)
        if self.has_boxes:
            info["num_boxes"] = sum(len(self.nusc.get("sample", t)["anns"])
                                    for toks in self._samples for t in toks)
        return info
