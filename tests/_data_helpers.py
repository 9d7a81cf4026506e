"""Helpers for the data tests: writable copies of the real keyframe, table edits, damage."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np

CAMS = ("CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK",
        "CAM_BACK_RIGHT")


def writable_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for dirpath, dirnames, filenames in os.walk(dst):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR)
    return dst


def table_path(root: Path, name: str) -> Path:
    return root / "v1.0-mini" / f"{name}.json"


def read_table(root: Path, name: str):
    return json.loads(table_path(root, name).read_text())


def write_table(root: Path, name: str, data) -> None:
    table_path(root, name).write_text(json.dumps(data, indent=1))


def sample_data_row(root: Path, channel: str) -> dict:
    """The sample_data row of a channel (via calibrated_sensor -> sensor)."""
    sensors = {s["token"]: s["channel"] for s in read_table(root, "sensor")}
    cs = {c["token"]: sensors[c["sensor_token"]] for c in read_table(root, "calibrated_sensor")}
    for r in read_table(root, "sample_data"):
        if cs[r["calibrated_sensor_token"]] == channel:
            return r
    raise KeyError(channel)


def file_of(root: Path, channel: str) -> Path:
    return root / sample_data_row(root, channel)["filename"]


def calibrated_sensor_index(root: Path, channel: str) -> int:
    token = sample_data_row(root, channel)["calibrated_sensor_token"]
    return [c["token"] for c in read_table(root, "calibrated_sensor")].index(token)


def add_fake_dense_gt(root: Path, depth_m: float = 12.5) -> None:
    """Turn a nuScenes copy into 'simulator output': constant dense depth + semantic + classes."""
    (root / "classes.json").write_text(json.dumps({"names": ["sky", "road", "car"]}))
    for cam in CAMS:
        img = file_of(root, cam)
        h, w = cv2.imread(str(img)).shape[:2]
        for kind, arr in (("depth", np.full((h, w), int(depth_m * 256), np.uint16)),
                          ("semantic", np.full((h, w), 2, np.uint8))):
            out = root / kind / cam / (img.name.split(".")[0] + ".png")
            out.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out), arr)


def dgp_with_empty_first_scene(dgp_root: Path, dst: Path) -> Path:
    """A copy of the DGP folder ``dgp_root`` whose scene list starts with a scene that has no
    samples (as a partly downloaded or filtered DDAD folder can have)."""
    shutil.copytree(dgp_root, dst)
    scene_file = next(dst.glob("*/scene_*.json"))
    doc = json.loads(scene_file.read_text())
    doc.update(samples=[], data=[], name="empty-scene")
    (dst / "empty").mkdir()
    (dst / "empty" / "scene_empty.json").write_text(json.dumps(doc))
    meta_file = dst / "scene_dataset_v1.0.json"
    meta = json.loads(meta_file.read_text())
    split = meta["scene_splits"]["0"]
    split["filenames"] = ["empty/scene_empty.json"] + split["filenames"]
    meta_file.write_text(json.dumps(meta))
    return dst
