"""The frame an ONNX export is checked on (ONNX Runtime vs torch), opened here, in the
evaluation room, and passed into :func:`fsmde_gui.models.onnx_export.export_student_onnx`
(models open no dataset). Used by ``fsmde export-model`` and ``fsmde bench speed``.
"""
from __future__ import annotations

from pathlib import Path

from ..core.types import SurroundFrame
from ..data.detect import open_dataset
from ..models.onnx_export import random_frame
from ..paths import KEYFRAME

CHECK_DATASET = KEYFRAME
"""The default check dataset: the bundled real nuScenes keyframe."""


def check_frame(dataset: str | Path | None = None) -> tuple[SurroundFrame, str]:
    """``(frame, name)``: the first frame of ``dataset`` (default: the bundled real nuScenes
    keyframe), or a fixed random 6-view frame when there is none."""
    root = Path(dataset) if dataset is not None else CHECK_DATASET
    if dataset is not None or (root / "v1.0-mini").is_dir():
        ds = open_dataset(root)  # refuses a folder without frames
        return ds.frame(ds.first_scene_with_frames(), 0, load_gt=False), str(root)
    return random_frame()


__all__ = ["CHECK_DATASET", "check_frame"]
