"""A PNG contact sheet of one simulated frame: the six views and their GT maps.

Rows (each split FL F FR / BL B BR): image, depth (inverse, magma), semantic (class
colours), reflection mask, albedo, shading, specular (x3 for visibility).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.types import CAMERA_NAMES

from fsmde_gui.data.nuscenes_writer import write_bytes_atomic
from .classes import CLASS_COLORS, CLASS_NAMES

KINDS = ("image", "depth", "semantic", "reflection", "albedo", "shading", "specular")


def _read(path: Path) -> np.ndarray:
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise DatasetError(path, "missing or unreadable image")
    return a


def _tile(kind: str, a: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """-> BGR uint8."""
    if kind == "image":
        return a
    if kind == "depth":
        d = a.astype(np.float32) / 256.0
        inv = np.where(d > 0, 1.0 / np.maximum(d, 1e-3), 0.0)
        t = cv2.applyColorMap((np.clip(inv / 0.3, 0, 1) * 255).astype(np.uint8),
                              cv2.COLORMAP_MAGMA)
        t[d == 0] = 0
        return t
    if kind == "semantic":
        return palette[np.minimum(a, len(palette) - 1)][..., ::-1]
    if kind == "shading":
        return cv2.cvtColor((a >> 8).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if kind == "reflection":
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if kind == "specular":
        return np.clip(a.astype(np.int32) * 3, 0, 255).astype(np.uint8)
    return a  # albedo (already BGR as read by OpenCV)


def preview_mosaic(root: str | Path, frame: int = 0, kinds=KINDS) -> np.ndarray:
    """(rows, cols, 3) BGR uint8 mosaic of frame ``frame`` (global index, sorted by file name)."""
    root = Path(root)
    palette = np.array([CLASS_COLORS[n] for n in CLASS_NAMES], np.uint8)
    cpath = root / "classes.json"
    if cpath.exists():
        doc = json.loads(cpath.read_text())
        palette = np.array([c["color"] for c in doc.get("classes", [])] or palette, np.uint8)
    rows = []
    for kind in kinds:
        tiles = []
        for cam in CAMERA_NAMES:
            images = sorted((root / "samples" / cam).glob("*.jpg"))
            if not images:
                raise DatasetError(root / "samples" / cam, "no images")
            if not 0 <= frame < len(images):
                raise DatasetError(root, f"frame {frame} out of range (0..{len(images) - 1})")
            img = images[frame]
            path = img if kind == "image" else root / kind / cam / f"{img.stem}.png"
            tiles.append(_tile(kind, _read(path), palette))
        rows.append(np.concatenate(tiles[:3], 1))
        rows.append(np.concatenate(tiles[3:], 1))
    return np.concatenate(rows, 0)


def save_preview(root: str | Path, out_png: str | Path, frame: int = 0) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", preview_mosaic(root, frame))
    if not ok:
        raise DatasetError(out_png, "PNG encoding failed")
    write_bytes_atomic(out_png, buf.tobytes())
    return out_png
