"""Load and validate the nuScenes JSON tables before the devkit sees them.

The devkit trusts its tables (a wrong one ends in a bare KeyError or AssertionError); here each
table is parsed once, its records and cross-references are checked, and a problem becomes a
:class:`DatasetError` naming the table file. The devkit then indexes the checked tables.
"""
from __future__ import annotations

from pathlib import Path

from ..core.errors import DatasetError
import numpy as np

from .validate import (check_intrinsic, check_intrinsic_fits_image, check_quaternion,
                       check_relative_path, check_translation, load_json, require_fields)

VERSION_PREFERENCE = ("v1.0-mini", "v1.0-trainval", "v1.0-test")

TABLE_FIELDS: dict[str, dict[str, type | tuple | None]] = {
    "category": {"token": str, "name": str},
    "attribute": {"token": str, "name": str},
    "visibility": {"token": str},
    "instance": {"token": str, "category_token": str},
    "sensor": {"token": str, "channel": str, "modality": str},
    "calibrated_sensor": {"token": str, "sensor_token": str, "translation": list,
                          "rotation": list, "camera_intrinsic": list},
    "ego_pose": {"token": str, "timestamp": int, "translation": list, "rotation": list},
    "log": {"token": str},
    "scene": {"token": str, "name": str, "first_sample_token": str, "log_token": str},
    "sample": {"token": str, "timestamp": int, "prev": str, "next": str, "scene_token": str},
    "sample_data": {"token": str, "sample_token": str, "ego_pose_token": str,
                    "calibrated_sensor_token": str, "timestamp": int, "is_key_frame": bool,
                    "filename": str, "prev": str, "next": str},
    "sample_annotation": {"token": str, "sample_token": str, "instance_token": str,
                          "translation": list, "size": list, "rotation": list},
    "map": {"token": str, "log_tokens": list, "filename": str},
}
TABLE_NAMES = tuple(TABLE_FIELDS)


def list_versions(root: Path) -> list[str]:
    """Names of the ``v1.0-*`` table folders under ``root`` (with a ``sample.json`` first)."""
    root = Path(root)
    if not root.is_dir():
        return []
    cands = sorted(p for p in root.glob("v1.0-*") if p.is_dir() and any(p.glob("*.json")))
    complete = [p.name for p in cands if (p / "sample.json").exists()]
    return complete + [p.name for p in cands if p.name not in complete]


def find_version_dir(root: Path, version: str | None = None) -> Path | None:
    """The ``v1.0-*`` folder holding the tables, or None. Without ``version``: mini, trainval,
    test (in that order) of the complete ones. A ``version`` that is not there is an error
    naming the versions that are."""
    root = Path(root)
    names = list_versions(root)
    if version:
        if version not in names:
            raise DatasetError(root, f"no {version} tables here (versions found: "
                                     f"{', '.join(names) or 'none'})")
        return root / version
    if not names:
        return None
    complete = [n for n in names if (root / n / "sample.json").exists()] or names
    for name in VERSION_PREFERENCE:
        if name in complete:
            return root / name
    return root / complete[0]


def split_version_path(path: Path) -> tuple[Path, str | None]:
    """``DIR/v1.0-trainval`` (a table folder given as the dataset) -> ``(DIR, "v1.0-trainval")``;
    any other path -> ``(path, None)``."""
    path = Path(path)
    if path.name.startswith("v1.0-") and path.is_dir() and (path / "sample.json").exists():
        return path.parent, path.name
    return path, None


def _index(path: Path, records: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i, r in enumerate(records):
        if r["token"] in out:
            raise DatasetError(path, f"record {i}: duplicate token {r['token']}")
        out[r["token"]] = r
    return out


def load_tables(version_dir: Path) -> dict[str, list[dict]]:
    """All 13 tables, parsed and checked (fields, types, calibration, references)."""
    version_dir = Path(version_dir)
    tables: dict[str, list[dict]] = {}
    for name, fields in TABLE_FIELDS.items():
        path = version_dir / f"{name}.json"
        data = load_json(path, expect=list, what=f"{name} table")
        for i, rec in enumerate(data):
            where = f"record {i}" + (f" (token {rec['token']})" if isinstance(rec, dict)
                                     and isinstance(rec.get("token"), str) else "")
            require_fields(path, rec, fields, where)
        tables[name] = data
    _check_calibration(version_dir, tables)
    _check_references(version_dir, tables)
    _check_filenames(version_dir, tables)
    _check_intrinsics_fit_images(version_dir, tables)
    return tables


def _check_filenames(vdir: Path, t: dict[str, list[dict]]) -> None:
    """Every file a table names lies inside the dataset folder (no absolute path, no '..')."""
    path = vdir / "sample_data.json"
    for i, sd in enumerate(t["sample_data"]):
        check_relative_path(path, sd["filename"], f"record {i} (token {sd['token']})")
    path = vdir / "map.json"
    for i, m in enumerate(t["map"]):
        if m["filename"]:
            check_relative_path(path, m["filename"], f"record {i} (token {m['token']})")


def _image_size(path: Path, i: int, sd: dict) -> tuple[int, int]:
    """(W, H) a sample_data record states (0 when it states none)."""
    wh = []
    for key in ("width", "height"):
        value = sd.get(key, 0)
        if value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DatasetError(path, f"record {i} (token {sd['token']}) field '{key}' must be "
                                     f"a non-negative integer, got {value!r}")
        wh.append(value)
    return wh[0], wh[1]


def _check_intrinsics_fit_images(vdir: Path, t: dict[str, list[dict]]) -> None:
    """Each camera calibration against the image size of the sample_data that use it."""
    sensors = {s["token"]: s for s in t["sensor"]}
    calibs = {cs["token"]: (i, cs) for i, cs in enumerate(t["calibrated_sensor"])}
    sd_path = vdir / "sample_data.json"
    sizes: dict[tuple[str, int, int], None] = {}
    for i, sd in enumerate(t["sample_data"]):
        w, h = _image_size(sd_path, i, sd)
        if w and h:
            sizes.setdefault((sd["calibrated_sensor_token"], w, h), None)
    path = vdir / "calibrated_sensor.json"
    for token, w, h in sizes:
        i, cs = calibs[token]
        sensor = sensors[cs["sensor_token"]]
        if sensor["modality"] != "camera":
            continue
        where = f"record {i} (token {token}) ({sensor['channel']}, images of sample_data.json)"
        check_intrinsic_fits_image(path, np.asarray(cs["camera_intrinsic"], np.float64), (w, h),
                                   where)


def _check_calibration(vdir: Path, t: dict[str, list[dict]]) -> None:
    sensors = {s["token"]: s for s in t["sensor"]}
    path = vdir / "calibrated_sensor.json"
    for i, cs in enumerate(t["calibrated_sensor"]):
        where = f"record {i} (token {cs['token']})"
        check_translation(path, cs["translation"], where)
        check_quaternion(path, cs["rotation"], where)
        sensor = sensors.get(cs["sensor_token"])
        if sensor is None:
            raise DatasetError(path, f"{where} refers to sensor_token {cs['sensor_token']} "
                                     f"which is not in sensor.json")
        if sensor["modality"] == "camera":
            check_intrinsic(path, cs["camera_intrinsic"], f"{where} ({sensor['channel']})")
    path = vdir / "ego_pose.json"
    for i, ep in enumerate(t["ego_pose"]):
        where = f"record {i} (token {ep['token']})"
        check_translation(path, ep["translation"], where)
        check_quaternion(path, ep["rotation"], where)


def _check_ref(path: Path, i: int, rec: dict, field: str, target: dict, target_name: str,
               allow_empty: bool = False) -> None:
    tok = rec[field]
    if allow_empty and tok == "":
        return
    if tok not in target:
        raise DatasetError(path, f"record {i} (token {rec['token']}): {field} {tok!r} "
                                 f"is not in {target_name}.json")


def _check_references(vdir: Path, t: dict[str, list[dict]]) -> None:
    idx = {name: _index(vdir / f"{name}.json", t[name]) for name in TABLE_NAMES}
    p = vdir / "sample_data.json"
    for i, sd in enumerate(t["sample_data"]):
        _check_ref(p, i, sd, "calibrated_sensor_token", idx["calibrated_sensor"], "calibrated_sensor")
        _check_ref(p, i, sd, "ego_pose_token", idx["ego_pose"], "ego_pose")
        _check_ref(p, i, sd, "sample_token", idx["sample"], "sample")
        _check_ref(p, i, sd, "prev", idx["sample_data"], "sample_data", allow_empty=True)
        _check_ref(p, i, sd, "next", idx["sample_data"], "sample_data", allow_empty=True)
    p = vdir / "sample.json"
    for i, s in enumerate(t["sample"]):
        _check_ref(p, i, s, "scene_token", idx["scene"], "scene")
        _check_ref(p, i, s, "prev", idx["sample"], "sample", allow_empty=True)
        _check_ref(p, i, s, "next", idx["sample"], "sample", allow_empty=True)
    p = vdir / "scene.json"
    for i, sc in enumerate(t["scene"]):
        _check_ref(p, i, sc, "first_sample_token", idx["sample"], "sample")
        _check_ref(p, i, sc, "log_token", idx["log"], "log")
    p = vdir / "sample_annotation.json"
    for i, a in enumerate(t["sample_annotation"]):
        _check_ref(p, i, a, "sample_token", idx["sample"], "sample")
        _check_ref(p, i, a, "instance_token", idx["instance"], "instance")
    p = vdir / "instance.json"
    for i, ins in enumerate(t["instance"]):
        _check_ref(p, i, ins, "category_token", idx["category"], "category")
    p = vdir / "map.json"
    if not t["map"]:
        raise DatasetError(p, "map table is empty (the devkit needs one record per log)")
    mapped = {tok for m in t["map"] for tok in m["log_tokens"]}
    for i, log in enumerate(t["log"]):
        if log["token"] not in mapped:
            raise DatasetError(p, f"log {log['token']} (log.json record {i}) is in no map "
                                  f"record's log_tokens")
