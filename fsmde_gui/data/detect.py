"""``open_dataset``: recognise a dataset folder and open it with the right adapter."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..core.errors import DatasetError
from .base import SurroundDataset
from .ddad_adapter import DDADDataset, find_scene_files
from .extra_gt import has_extra_gt
from .nuscenes_adapter import NuScenesDataset
from .nuscenes_tables import find_version_dir, split_version_path

EXPECTED = ("expected a nuScenes folder (v1.0-*/sample.json + samples/, or its v1.0-* table "
            "folder), a simulator output "
            "(the same plus depth/ and classes.json) or a DDAD/DGP folder "
            "(scene_dataset*.json or <scene>/scene_*.json)")


def detect_format(path) -> Optional[str]:
    """'nuscenes', 'simulator', 'ddad' or None (a ``v1.0-*`` table folder counts as its root)."""
    path = Path(path)
    if not path.is_dir():
        return None
    root, _ = split_version_path(path)
    if find_version_dir(root) is not None:
        return "simulator" if has_extra_gt(root) else "nuscenes"
    if find_scene_files(path, strict=False):
        return "ddad"
    return None


def open_dataset(path, image_size: Optional[tuple[int, int]] = None,
                 version: Optional[str] = None,
                 scenes: Optional[list[str]] = None) -> SurroundDataset:
    """Open any supported dataset folder; DatasetError naming the folder when it is none.

    ``version`` (nuScenes: ``v1.0-mini``, ``v1.0-trainval``, ...) picks the table folder; the
    path may also be the table folder itself (``DIR/v1.0-trainval``). ``scenes`` keeps only
    the named scenes (default: all).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "dataset folder does not exist")
    if not path.is_dir():
        raise DatasetError(path, f"not a folder; {EXPECTED}")
    root, path_version = split_version_path(path)
    if path_version and version and version != path_version:
        raise DatasetError(path, f"is the {path_version} table folder but --version "
                                 f"{version} was asked for")
    version = version or path_version
    fmt = detect_format(path)
    if fmt in ("nuscenes", "simulator"):
        dataset = NuScenesDataset(root, image_size=image_size, version=version, scenes=scenes)
    elif fmt == "ddad":
        if version:
            raise DatasetError(path, f"--version {version} applies to nuScenes folders; "
                                     f"this is a DDAD/DGP folder")
        dataset = DDADDataset(path, image_size=image_size, scenes=scenes)
    else:
        raise DatasetError(path, f"unrecognised dataset folder; {EXPECTED}")
    require_samples(dataset, path)
    return dataset


def require_samples(dataset: SurroundDataset, path) -> None:
    """A dataset with no frame to show, evaluate, export or train on is an error naming the
    folder (every command and the app open datasets through :func:`open_dataset`)."""
    if len(dataset) == 0:
        raise DatasetError(path, f"the dataset has no samples ({len(dataset.scenes)} scenes, "
                                 f"0 frames)")
