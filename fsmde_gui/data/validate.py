"""Checks shared by the adapters: JSON files, record fields, intrinsics and poses.

Every check raises :class:`DatasetError` naming the file and saying what is wrong.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..core.errors import DatasetError
from ..core.rig import make_pose, quaternion_to_matrix

QUATERNION_TOL = 1e-3


def load_json(path, expect: type | None = None, what: str = "table") -> Any:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, f"{what} file is missing")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"cannot read {what}: {exc}") from None
    if not text.strip():
        raise DatasetError(path, f"{what} file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON (truncated or corrupt?) at line {exc.lineno} "
                                 f"column {exc.colno}: {exc.msg}") from None
    if expect is not None and not isinstance(data, expect):
        raise DatasetError(path, f"{what} must be a JSON {_type_name(expect)}, "
                                 f"got {_type_name(type(data))}")
    return data


def _type_name(t) -> str:
    return {list: "list", dict: "object", str: "string", int: "integer", float: "number",
            bool: "boolean", type(None): "null"}.get(t, getattr(t, "__name__", str(t)))


def require_fields(path, record: Any, fields: dict[str, type | tuple], where: str) -> None:
    """``record`` is a dict holding each field with the given type(s)."""
    if not isinstance(record, dict):
        raise DatasetError(path, f"{where} must be a JSON object, got {_type_name(type(record))}")
    for name, types in fields.items():
        if name not in record:
            raise DatasetError(path, f"{where} is missing required field '{name}'")
        if types is not None and not isinstance(record[name], types):
            tn = "/".join(_type_name(t) for t in (types if isinstance(types, tuple) else (types,)))
            raise DatasetError(path, f"{where} field '{name}' must be {tn}, "
                                     f"got {_type_name(type(record[name]))}")


def _numbers(path, value, n: int, where: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(path, f"{where} {name} must be {n} numbers") from None
    if arr.shape != (n,):
        raise DatasetError(path, f"{where} {name} must have {n} numbers, got shape "
                                 f"{list(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise DatasetError(path, f"{where} {name} contains NaN or infinite values")
    return arr


def check_translation(path, value, where: str) -> np.ndarray:
    return _numbers(path, value, 3, where, "translation")


def check_box_size(path, value, where: str) -> np.ndarray:
    """A 3D box's (width, length, height): three finite positive numbers."""
    size = _numbers(path, value, 3, where, "size")
    if np.any(size <= 0):
        raise DatasetError(path, f"{where} size must be positive, got {list(size)}")
    return size


def check_quaternion(path, value, where: str) -> np.ndarray:
    """(w, x, y, z) finite unit quaternion."""
    q = _numbers(path, value, 4, where, "rotation quaternion")
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        raise DatasetError(path, f"{where} rotation quaternion is zero")
    if abs(norm - 1.0) > QUATERNION_TOL:
        raise DatasetError(path, f"{where} rotation quaternion is not unit (norm {norm:.6g})")
    return q


def check_pose(path, translation, rotation_wxyz, where: str) -> np.ndarray:
    """4x4 pose from checked translation + unit quaternion."""
    t = check_translation(path, translation, where)
    q = check_quaternion(path, rotation_wxyz, where)
    return make_pose(quaternion_to_matrix(q), t)


def check_intrinsic(path, value, where: str) -> np.ndarray:
    """3x3 finite pinhole K with positive focal lengths and last row (0, 0, 1)."""
    try:
        K = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(path, f"{where} camera_intrinsic must be a 3x3 matrix") from None
    if K.shape != (3, 3):
        shape = "x".join(str(s) for s in K.shape) or "scalar"
        raise DatasetError(path, f"{where} camera_intrinsic must be 3x3, got {shape}")
    if not np.all(np.isfinite(K)):
        raise DatasetError(path, f"{where} camera_intrinsic contains NaN or infinite values")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise DatasetError(path, f"{where} camera_intrinsic focal lengths must be positive "
                                 f"(fx={K[0, 0]:g}, fy={K[1, 1]:g})")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or abs(K[1, 0]) > 0:
        raise DatasetError(path, f"{where} camera_intrinsic is not a pinhole matrix "
                                 f"(last row must be 0 0 1)")
    return K


def check_finite_number(path, value, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DatasetError(path, f"{where} {name} must be a finite number, got {value!r}")
    return float(value)


def index_by_token(path, records: Iterable[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i, r in enumerate(records):
        tok = r["token"]
        if tok in out:
            raise DatasetError(path, f"record {i}: duplicate token {tok}")
        out[tok] = r
    return out
