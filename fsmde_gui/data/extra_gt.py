"""Dense GT that the simulator writes beside its nuScenes tables.

Layout (see docs/API.md): ``<root>/<kind>/<CAM_*>/<image stem>.png`` for kind in
``depth`` (uint16, metres * 256), ``semantic`` (uint8 class id), ``instance`` (uint16),
``reflection`` (uint8 0/255), ``albedo`` (RGB), ``shading`` (grey), ``specular`` (RGB), plus
``classes.json`` (``{"names": [...]}``) at the root.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import DatasetError
from .images import image_size_from_header, load_png_raster
from .validate import load_json

DEPTH_SCALE = 256.0
# kind -> (CameraView attribute, channels)
GT_KINDS: dict[str, tuple[str, int]] = {
    "depth": ("depth_dense", 1),
    "semantic": ("semantic", 1),
    "instance": ("instance", 1),
    "reflection": ("reflection", 1),
    "albedo": ("albedo", 3),
    "shading": ("shading", 1),
    "specular": ("specular", 3),
}


def has_extra_gt(root: Path) -> bool:
    root = Path(root)
    return (root / "classes.json").is_file() or (root / "depth").is_dir()


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    return arr.astype(np.float32)


class ExtraGT:
    """The extra GT folders of one dataset root."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.kinds = [k for k in GT_KINDS if (self.root / k).is_dir()]
        self.class_names: Optional[list[str]] = None
        cpath = self.root / "classes.json"
        if cpath.exists():
            doc = load_json(cpath, what="class list")
            names = doc.get("names") if isinstance(doc, dict) else doc
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise DatasetError(cpath, "classes.json must hold a list of class names "
                                          "(a list, or an object with 'names')")
            self.class_names = list(names)

    def path(self, kind: str, channel: str, image_filename: str) -> Path:
        return self.root / kind / channel / (Path(image_filename).name.split(".")[0] + ".png")

    def check(self, channel: str, image_filename: str, hw: tuple[int, int]) -> list[Path]:
        """Header-only check of every GT file of one image (exists, PNG, same size)."""
        out = []
        for kind in self.kinds:
            p = self.path(kind, channel, image_filename)
            if not p.is_file():
                raise DatasetError(p, f"{kind} GT file is missing")
            w, h = image_size_from_header(p, f"{kind} GT")
            if (h, w) != tuple(hw):
                raise DatasetError(p, f"{kind} GT is {w}x{h} but the image is {hw[1]}x{hw[0]}")
            out.append(p)
        return out

    def load(self, channel: str, image_filename: str, hw: tuple[int, int]) -> dict:
        """CameraView attribute -> array at the image's original size."""
        out = {}
        for kind in self.kinds:
            attr, channels = GT_KINDS[kind]
            p = self.path(kind, channel, image_filename)
            raw = load_png_raster(p, hw, f"{kind} GT", channels=channels)
            if kind == "depth":
                if raw.dtype != np.uint16:
                    raise DatasetError(p, f"depth GT must be 16-bit (metres*256), got {raw.dtype}")
                val = raw.astype(np.float32) / DEPTH_SCALE
            elif kind == "semantic":
                val = raw.astype(np.uint8)
                if self.class_names is not None and len(val) and int(val.max()) >= len(self.class_names):
                    raise DatasetError(p, f"semantic id {int(val.max())} is not in classes.json "
                                          f"({len(self.class_names)} classes)")
            elif kind == "instance":
                val = raw.astype(np.int32)
            elif kind == "reflection":
                val = raw > 127
            else:
                val = _to_unit_float(raw)
            out[attr] = val
        return out
