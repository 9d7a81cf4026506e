"""What every dataset adapter is: a list of scenes of SurroundFrames (see docs/API.md)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from ..core.errors import DatasetError
from ..core.types import SurroundFrame


@dataclass(frozen=True)
class SceneInfo:
    name: str
    num_frames: int
    token: str


def select_scenes(available: list[str], wanted: Optional[list[str]], where) -> list[int]:
    """Indices of the ``wanted`` scene names in ``available`` (in the order asked; all scenes
    when ``wanted`` is None); a name that is not there is a DatasetError naming ``where``."""
    if wanted is None:
        return list(range(len(available)))
    index = {name: i for i, name in enumerate(available)}
    missing = [n for n in wanted if n not in index]
    if missing:
        shown = ", ".join(available[:12]) + (f", ... ({len(available)} scenes)"
                                             if len(available) > 12 else "")
        raise DatasetError(where, f"no scene named {', '.join(map(repr, missing))} "
                                  f"(scenes: {shown or 'none'})")
    return list(dict.fromkeys(index[n] for n in wanted))


class SurroundDataset(ABC):
    """A folder of surround-view scenes; ``frame(scene, index)`` loads one SurroundFrame.

    Subclasses validate their tables and calibration in ``__init__`` (so a bad folder fails at
    open time with a :class:`DatasetError`) and images / LiDAR / extra GT at frame load.
    """

    format_name: str = ""

    def __init__(self, root, image_size: Optional[tuple[int, int]] = None):
        self.root = Path(root)
        if image_size is not None:
            w, h = (int(v) for v in image_size)
            if w <= 0 or h <= 0:
                raise DatasetError(None, f"image_size must be positive (W, H), got {image_size}")
            image_size = (w, h)
        self.image_size = image_size
        self.scenes: list[SceneInfo] = []
        self.class_names: Optional[list[str]] = None

    @abstractmethod
    def frame(self, scene: int, index: int, load_gt: bool = True) -> SurroundFrame:
        """Load frame ``index`` of scene ``scene`` (both 0-based)."""

    @abstractmethod
    def check_files(self) -> list[Path]:
        """Check that every file the tables reference exists and looks sane (header only).

        Returns the checked paths; raises :class:`DatasetError` naming the first bad file.
        """

    def __len__(self) -> int:
        return sum(s.num_frames for s in self.scenes)

    def iter_frames(self) -> Iterator[tuple[int, int]]:
        for si, scene in enumerate(self.scenes):
            for fi in range(scene.num_frames):
                yield si, fi

    def _check_index(self, scene: int, index: int) -> None:
        if not 0 <= scene < len(self.scenes):
            raise IndexError(f"scene {scene} out of range (dataset has {len(self.scenes)})")
        n = self.scenes[scene].num_frames
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range (scene {scene} has {n})")

    def first_scene_with_frames(self) -> Optional[int]:
        """Index of the first scene that has frames (a DDAD or nuScenes folder may list empty
        scenes first), or None when no scene has any."""
        return next((i for i, s in enumerate(self.scenes) if s.num_frames > 0), None)

    def gt_kinds(self) -> list[str]:
        """GT kinds present in this dataset (from its first frame)."""
        scene = self.first_scene_with_frames()
        if scene is None:
            return []
        return self.frame(scene, 0, load_gt=True).gt_kinds()

    def describe(self) -> dict:
        """What ``fsmde info`` prints: checks every referenced file first, then loads frame 0."""
        files = self.check_files()
        info: dict = {
            "format": self.format_name,
            "root": str(self.root),
            "num_scenes": len(self.scenes),
            "num_frames": len(self),
            "num_files_checked": len(files),
            "scenes": [{"name": s.name, "frames": s.num_frames, "token": s.token}
                       for s in self.scenes],
        }
        scene = self.first_scene_with_frames()
        if scene is None:
            info.update(cameras=[], lidar_points=0, gt_kinds=[], class_names=self.class_names)
            return info
        frame = self.frame(scene, 0, load_gt=True)
        cams = []
        for v in frame.views:
            h, w = v.hw
            cams.append({"name": v.name, "width": w, "height": h,
                         "fx": float(v.K[0, 0]), "fy": float(v.K[1, 1]),
                         "cx": float(v.K[0, 2]), "cy": float(v.K[1, 2]),
                         "lidar_pixels": int((v.depth_sparse > 0).sum())
                         if v.depth_sparse is not None else 0})
        info.update(
            cameras=cams,
            lidar_points=int(len(frame.lidar_points_ego)) if frame.lidar_points_ego is not None else 0,
            gt_kinds=frame.gt_kinds(),
            boxes=bool(getattr(self, "has_boxes", False)),
            class_names=self.class_names,
            source=frame.source,
        )
        return info


__all__ = ["SceneInfo", "SurroundDataset", "select_scenes"]
