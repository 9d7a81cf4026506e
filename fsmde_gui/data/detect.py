"""``open_dataset``: recognise a dataset folder and open it with the right adapter."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..core.errors import DatasetError
from .base import SurroundDataset

EXPECTED = ("expected a nuScenes folder (v1.0-*/sample.json + samples/), a simulator output "
            "(the same plus depth/ and classes.json) or a DDAD/DGP folder "
            "(scene_dataset*.json or <scene>/scene_*.json)")


def detect_format(path) -> Optional[str]:
    """'nuscenes', 'simulator', 'ddad' or None."""
    from .ddad_adapter import find_scene_files
    from .extra_gt import has_extra_gt
    from .nuscenes_tables import find_version_dir

    path = Path(path)
    if not path.is_dir():
        return None
    if find_version_dir(path) is not None:
        return "simulator" if has_extra_gt(path) else "nuscenes"
    if find_scene_files(path, strict=False):
        return "ddad"
    return None


def open_dataset(path, image_size: Optional[tuple[int, int]] = None) -> SurroundDataset:
    """Open any supported dataset folder; DatasetError naming the folder when it is none."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "dataset folder does not exist")
    if not path.is_dir():
        raise DatasetError(path, f"not a folder; {EXPECTED}")
    fmt = detect_format(path)
    if fmt in ("nuscenes", "simulator"):
        from .nuscenes_adapter import NuScenesDataset

        return NuScenesDataset(path, image_size=image_size)
    if fmt == "ddad":
        from .ddad_adapter import DDADDataset

        return DDADDataset(path, image_size=image_size)
    raise DatasetError(path, f"unrecognised dataset folder; {EXPECTED}")
