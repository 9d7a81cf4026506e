"""Checks shared by the adapters: JSON files, record fields, intrinsics and poses.

Every check raises :class:`DatasetError` naming the file and saying what is wrong.
"""
from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterable

import numpy as np

from ..core.errors import DatasetError
from ..core.rig import make_pose, quaternion_to_matrix

QUATERNION_TOL = 1e-3
# a plausible pinhole focal length, as a multiple of the image width (fisheye-wide to telephoto)
MIN_FOCAL_PER_WIDTH = 0.1
MAX_FOCAL_PER_WIDTH = 20.0


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
    data = parse_json_text(path, text)
    if expect is not None and not isinstance(data, expect):
        raise DatasetError(path, f"{what} must be a JSON {_type_name(expect)}, "
                                 f"got {_type_name(type(data))}")
    return data


def parse_json_text(path, text: str) -> Any:
    """``json.loads`` with the two ways it fails on hostile text as DatasetErrors naming
    ``path``: invalid JSON, and nesting deeper than the parser's recursion limit (a file of
    200,000 ``[`` would otherwise end in a RecursionError)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"invalid JSON (truncated or corrupt?) at line {exc.lineno} "
                                 f"column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise DatasetError(path, "JSON nested too deeply (not a table of records)") from None


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
        if types is not None and not _is_instance(record[name], types):
            tn = "/".join(_type_name(t) for t in (types if isinstance(types, tuple) else (types,)))
            raise DatasetError(path, f"{where} field '{name}' must be {tn}, "
                                     f"got {_type_name(type(record[name]))}")


def _is_instance(value: Any, types: type | tuple) -> bool:
    """``isinstance`` where a JSON boolean is not an integer (``true`` is no timestamp)."""
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _all_numbers(value: Any) -> bool:
    """A JSON number or a (nested) list of them: no strings ("1.5"), booleans or nulls, which
    numpy would silently turn into numbers."""
    if isinstance(value, (list, tuple)):
        return all(_all_numbers(v) for v in value)
    return _is_number(value)


def _numbers(path, value, n: int, where: str, name: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or not _all_numbers(value):
        raise DatasetError(path, f"{where} {name} must be {n} numbers, got {_short(value)}")
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
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not _all_numbers(value) or not isinstance(value, (list, tuple)):
        raise DatasetError(path, f"{where} camera_intrinsic must be a 3x3 matrix of numbers, "
                                 f"got {_short(value)}")
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


def check_intrinsic_fits_image(path, K: np.ndarray, wh: tuple[int, int], where: str) -> None:
    """A checked K (see :func:`check_intrinsic`) that can belong to a ``W x H`` image: the
    principal point inside the image and focal lengths between 0.1 W and 20 W. Intrinsics
    left at the calibration's size after the images were resized (1600x900 K, 800x450
    images) fail here instead of projecting every LiDAR point beside the picture."""
    w, h = int(wh[0]), int(wh[1])
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    if not (0.0 <= cx <= w and 0.0 <= cy <= h):
        raise DatasetError(path, f"{where} camera_intrinsic does not fit the {w}x{h} image: "
                                 f"principal point ({cx:g}, {cy:g}) is outside it (intrinsics "
                                 f"for about {2 * cx:.0f}x{2 * cy:.0f} images? scale "
                                 f"camera_intrinsic with the images)")
    lo, hi = MIN_FOCAL_PER_WIDTH * w, MAX_FOCAL_PER_WIDTH * w
    for name, f in (("fx", fx), ("fy", fy)):
        if not lo < f < hi:
            raise DatasetError(path, f"{where} camera_intrinsic does not fit the {w}x{h} image: "
                                     f"focal length {name}={f:g} is not between {lo:g} and "
                                     f"{hi:g} (0.1 to 20 times the width)")


def check_relative_path(path, value: str, where: str, name: str = "filename") -> str:
    """A file reference of a dataset table: relative and inside the dataset folder (no
    absolute path, no ``..``, no drive). Returns it unchanged."""
    if not isinstance(value, str) or not value:
        raise DatasetError(path, f"{where} {name} must be a non-empty relative path, got "
                                 f"{_short(value)}")
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or value.startswith("~"):
        raise DatasetError(path, f"{where} {name} {value!r} is an absolute path; dataset "
                                 f"files must be named relative to the dataset folder")
    if ".." in posix.parts or ".." in windows.parts:
        raise DatasetError(path, f"{where} {name} {value!r} points outside the dataset folder "
                                 f"(contains '..')")
    if "\0" in value:
        raise DatasetError(path, f"{where} {name} contains a NUL character")
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
