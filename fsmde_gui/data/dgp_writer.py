"""Write any SurroundDataset in TRI's DGP format (the layout DDAD ships in).

Output (read back by :class:`fsmde_gui.data.ddad_adapter.DDADDataset` and, field for field,
the layout of TRI-ML/dgp)::

    OUT/scene_dataset_v1.0.json                 metadata + scene_splits {"0": {"filenames"}}
    OUT/<NNNNNN>/scene_<sha1>.json              samples + data (datums)
    OUT/<NNNNNN>/calibration/<sha1>.json        names, intrinsics, extrinsics (sensor->vehicle)
    OUT/<NNNNNN>/rgb/CAMERA_XX/<NNNNNN>.png     lossless copy of the frame's images
    OUT/<NNNNNN>/point_cloud/LIDAR/<NNNNNN>.npz "data": (N, 3) float32, vehicle frame

Camera names follow ``DDAD_CAMERA_FOR``; the LiDAR's extrinsics are the identity (points are
stored in the vehicle frame, as DDAD's merged point cloud is). Datum poses are sensor -> world
in the source's world frame. The whole folder is written beside OUT and renamed into place.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from ..core.atomic_io import atomic_write_bytes, atomic_write_text, final_name
from ..core.errors import DatasetError
from .dgp_format import (DDAD_CAMERA_FOR, LIDAR_NAME, intrinsics_to_json, pose_to_json,
                               timestamp_to_json)

DATASET_FILE = "scene_dataset_v1.0.json"


def _sha1(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, indent=2).encode("utf-8")).hexdigest()


def _dump(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, sort_keys=True, indent=2))


def _datum_id(log: str, name: str, stamp: int, index: int) -> dict:
    return {"log": log, "name": name, "timestamp": timestamp_to_json(stamp), "index": str(index)}


def write_dgp(dataset, out, progress: Optional[Callable[[int, int], None]] = None,
              cancel=None, overwrite: bool = False) -> dict:
    """Write ``dataset`` (any SurroundDataset) to folder ``out`` in DGP format; returns a summary.

    ``progress(done, total)`` after each frame; when the ``threading.Event`` ``cancel`` is set
    the conversion stops at the next frame, ``out`` is left untouched and the summary has
    ``"cancelled": True``.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise DatasetError(out, "output exists and is not a folder")
        if any(out.iterdir()) and not overwrite:
            raise DatasetError(out, "output folder is not empty (choose another or overwrite)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise DatasetError(out, f"cannot create the output folder: {exc.strerror or exc}") from exc
    try:
        summary = _write(dataset, tmp, progress, cancel)
        if summary.get("cancelled"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
    except OSError as exc:  # a full disk: nothing is left, the error names the final file
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(final_name(exc.filename, tmp, out), exc.strerror or str(exc)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["out"] = str(out)
    return summary


@dataclass
class _Counts:
    """Frames, images and point clouds written so far."""

    frames: int = 0
    images: int = 0
    clouds: int = 0


def _write(dataset, root: Path, progress, cancel) -> dict:
    """Write every scene and then the dataset file into ``root``; returns the summary."""
    total = len(dataset)
    counts = _Counts()
    scene_files = []
    now = timestamp_to_json(int(datetime.now(timezone.utc).timestamp() * 1e6))
    for si, info in enumerate(dataset.scenes):
        sfile = _write_scene(dataset, root, si, info, now, counts, total, progress, cancel)
        if sfile is None:  # cancelled: nothing is written to OUT
            return {"format": "dgp", "cancelled": True, "frames": counts.frames, "total": total}
        scene_files.append(sfile)
    _dump(root / DATASET_FILE, _dataset_document(dataset, now, scene_files))
    return {"format": "dgp", "scenes": len(scene_files), "frames": counts.frames,
            "images": counts.images, "point_clouds": counts.clouds}


def _dataset_document(dataset, now: str, scene_files: list[str]) -> dict:
    return {"metadata": {"name": Path(str(dataset.root)).name, "version": "1.0",
                         "creation_date": now[:10], "creator": "fsmde convert",
                         "description": f"{dataset.format_name} dataset written by FSMDE Studio",
                         "origin": "INTERNAL", "available_annotation_types": []},
            "scene_splits": {"0": {"filenames": scene_files}}}


def _write_scene(dataset, root: Path, si: int, info, now, counts: _Counts, total: int,
                 progress, cancel) -> Optional[str]:
    """Write scene ``si`` (files, calibrations, scene JSON); returns the scene file's path
    relative to ``root``, or None when ``cancel`` was set."""
    sdir_name = f"{si:06d}"
    sdir = root / sdir_name
    data: list[dict] = []
    samples: list[dict] = []
    prev_keys: dict[str, str] = {}
    written_cal: set[str] = set()
    for fi in range(info.num_frames):
        if cancel is not None and cancel.is_set():
            return None
        frame = dataset.frame(si, fi, load_gt=True)
        keys, calib = _write_frame_datums(sdir, info.name, frame, fi, counts)
        data.extend(datum for _, datum in keys)
        cal_key = _sha1(calib)
        if cal_key not in written_cal:
            _dump(sdir / "calibration" / f"{cal_key}.json", calib)
            written_cal.add(cal_key)
        datum_keys = _link_datums(keys, data, prev_keys, si, fi)
        samples.append({"id": _datum_id(info.name, "", frame.timestamp, fi),
                        "datum_keys": datum_keys, "calibration_key": cal_key, "metadata": {}})
        counts.frames += 1
        if progress is not None:
            progress(counts.frames, total)
    scene = {"name": info.name, "description": f"converted from {dataset.format_name}",
             "log": info.name, "samples": samples, "data": data, "metadata": {},
             "creation_date": now, "ontologies": {}}
    sfile = f"scene_{_sha1(scene)}.json"
    _dump(sdir / sfile, scene)
    return f"{sdir_name}/{sfile}"


def _write_frame_datums(sdir: Path, log: str, frame, fi: int,
                        counts: _Counts) -> tuple[list[tuple[str, dict]], dict]:
    """Write one frame's images and point cloud; returns ([(sensor name, datum)], calibration)."""
    names, intr, extr = [], [], []
    keys = []
    for v in frame.views:
        dname = DDAD_CAMERA_FOR[v.name]
        keys.append((dname, _write_image_datum(sdir, log, frame, v, dname, fi)))
        counts.images += 1
        names.append(dname)
        intr.append(intrinsics_to_json(v.K))
        extr.append(pose_to_json(v.cam_to_ego))
    if frame.lidar_points_ego is not None:
        keys.append((LIDAR_NAME, _write_point_cloud_datum(sdir, log, frame, fi)))
        counts.clouds += 1
        names.append(LIDAR_NAME)
        intr.append({"fx": 0.0, "fy": 0.0, "cx": 0.0, "cy": 0.0, "skew": 0.0})
        extr.append(pose_to_json(np.eye(4)))
    return keys, {"names": names, "intrinsics": intr, "extrinsics": extr}


def _write_image_datum(sdir: Path, log: str, frame, v, dname: str, fi: int) -> dict:
    rel = f"rgb/{dname}/{fi:06d}.png"
    ok, buf = cv2.imencode(".png", cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
    if not ok:  # imwrite would not report a short write: encode, then write checked
        raise DatasetError(sdir / rel, "PNG encoding failed")
    atomic_write_bytes(sdir / rel, buf.tobytes())
    ego = v.ego_to_world if v.ego_to_world is not None else frame.ego_to_world
    h, w = v.hw
    return {"id": _datum_id(log, dname, v.timestamp or frame.timestamp, fi),
            "datum": {"image": {"filename": rel, "height": h, "width": w,
                                "channels": 3, "annotations": {}, "metadata": {},
                                "pose": pose_to_json(ego @ v.cam_to_ego)}}}


def _write_point_cloud_datum(sdir: Path, log: str, frame, fi: int) -> dict:
    rel = f"point_cloud/{LIDAR_NAME}/{fi:06d}.npz"
    npz = io.BytesIO()
    np.savez_compressed(npz, data=np.asarray(frame.lidar_points_ego, dtype=np.float32))
    atomic_write_bytes(sdir / rel, npz.getvalue())
    return {"id": _datum_id(log, LIDAR_NAME, frame.timestamp, fi),
            "datum": {"point_cloud": {"filename": rel, "point_format": ["X", "Y", "Z"],
                                      "annotations": {}, "metadata": {},
                                      "point_fields": [],
                                      "pose": pose_to_json(frame.ego_to_world)}}}


def _link_datums(keys: list[tuple[str, dict]], data: list[dict], prev_keys: dict[str, str],
                 si: int, fi: int) -> list[str]:
    """Give each datum of the frame its key and chain it to the same sensor's previous datum."""
    datum_keys = []
    for dname, datum in keys:
        key = _sha1({"scene": si, "frame": fi, "id": datum["id"]})
        datum["key"] = key
        datum["prev_key"] = prev_keys.get(dname, "")
        datum["next_key"] = ""
        if dname in prev_keys:
            prev = next(d for d in reversed(data) if d.get("key") == prev_keys[dname])
            prev["next_key"] = key
        prev_keys[dname] = key
        datum_keys.append(key)
    return datum_keys
