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


def _write(dataset, root: Path, progress, cancel) -> dict:
    total = len(dataset)
    done = 0
    scene_files = []
    n_images = n_clouds = 0
    now = timestamp_to_json(int(datetime.now(timezone.utc).timestamp() * 1e6))
    for si, info in enumerate(dataset.scenes):
        sdir_name = f"{si:06d}"
        sdir = root / sdir_name
        data: list[dict] = []
        samples: list[dict] = []
        prev_keys: dict[str, str] = {}
        written_cal: set[str] = set()
        for fi in range(info.num_frames):
            if cancel is not None and cancel.is_set():  # nothing is written to OUT
                return {"format": "dgp", "cancelled": True, "frames": done, "total": total}
            frame = dataset.frame(si, fi, load_gt=True)
            names, intr, extr = [], [], []
            keys = []
            for v in frame.views:
                dname = DDAD_CAMERA_FOR[v.name]
                rel = f"rgb/{dname}/{fi:06d}.png"
                ok, buf = cv2.imencode(".png", cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
                if not ok:  # imwrite would not report a short write: encode, then write checked
                    raise DatasetError(sdir / rel, "PNG encoding failed")
                atomic_write_bytes(sdir / rel, buf.tobytes())
                n_images += 1
                ego = v.ego_to_world if v.ego_to_world is not None else frame.ego_to_world
                h, w = v.hw
                datum = {"id": _datum_id(info.name, dname, v.timestamp or frame.timestamp, fi),
                         "datum": {"image": {"filename": rel, "height": h, "width": w,
                                             "channels": 3, "annotations": {}, "metadata": {},
                                             "pose": pose_to_json(ego @ v.cam_to_ego)}}}
                data.append(datum)
                keys.append((dname, datum))
                names.append(dname)
                intr.append(intrinsics_to_json(v.K))
                extr.append(pose_to_json(v.cam_to_ego))
            if frame.lidar_points_ego is not None:
                rel = f"point_cloud/{LIDAR_NAME}/{fi:06d}.npz"
                npz = io.BytesIO()
                np.savez_compressed(npz, data=np.asarray(frame.lidar_points_ego, dtype=np.float32))
                atomic_write_bytes(sdir / rel, npz.getvalue())
                n_clouds += 1
                datum = {"id": _datum_id(info.name, LIDAR_NAME, frame.timestamp, fi),
                         "datum": {"point_cloud": {"filename": rel, "point_format": ["X", "Y", "Z"],
                                                   "annotations": {}, "metadata": {},
                                                   "point_fields": [],
                                                   "pose": pose_to_json(frame.ego_to_world)}}}
                data.append(datum)
                keys.append((LIDAR_NAME, datum))
                names.append(LIDAR_NAME)
                intr.append({"fx": 0.0, "fy": 0.0, "cx": 0.0, "cy": 0.0, "skew": 0.0})
                extr.append(pose_to_json(np.eye(4)))
            calib = {"names": names, "intrinsics": intr, "extrinsics": extr}
            cal_key = _sha1(calib)
            if cal_key not in written_cal:
                _dump(sdir / "calibration" / f"{cal_key}.json", calib)
                written_cal.add(cal_key)
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
            samples.append({"id": _datum_id(info.name, "", frame.timestamp, fi),
                            "datum_keys": datum_keys, "calibration_key": cal_key, "metadata": {}})
            done += 1
            if progress is not None:
                progress(done, total)
        scene = {"name": info.name, "description": f"converted from {dataset.format_name}",
                 "log": info.name, "samples": samples, "data": data, "metadata": {},
                 "creation_date": now, "ontologies": {}}
        sfile = f"scene_{_sha1(scene)}.json"
        _dump(sdir / sfile, scene)
        scene_files.append(f"{sdir_name}/{sfile}")
    meta = {"metadata": {"name": Path(str(dataset.root)).name, "version": "1.0",
                         "creation_date": now[:10], "creator": "fsmde convert",
                         "description": f"{dataset.format_name} dataset written by FSMDE Studio",
                         "origin": "INTERNAL", "available_annotation_types": []},
            "scene_splits": {"0": {"filenames": scene_files}}}
    _dump(root / DATASET_FILE, meta)
    return {"format": "dgp", "scenes": len(scene_files), "frames": done, "images": n_images,
            "point_clouds": n_clouds}
