"""What the viewer shows, as a Qt-free model (after napari's ``ViewerModel`` / ``Dims``).

``ViewerState`` holds the position (scene, frame) in the open dataset, the display mode,
split view, overlap heat, 3D boxes, the highlighted camera pair and playback. Each setter
validates (a frame is clamped into the scene, an unknown mode or scene is refused) and
emits its event only when the value changes: ``state.events.frame.connect(callback)``.
The Qt window dispatches user actions to the state and redraws on its events.
"""
from __future__ import annotations

from numbers import Integral
from typing import Optional, Sequence

from .events import EmitterGroup
from .modes import get_mode

EVENTS = ("dataset", "scene", "frame", "position", "mode", "split", "overlap_heat", "boxes",
          "highlight_pair", "playing", "interval_ms")
DEFAULT_MODE = "student"
DEFAULT_INTERVAL_MS = 500


def _index(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


class ViewerState:
    """The viewer's state; ``events`` has one emitter per attribute (see ``EVENTS``), and
    ``position`` fires once per move with ``(scene, frame)`` (also on a newly opened dataset)."""

    def __init__(self, frame_counts: Sequence[int] = ()):
        self.events = EmitterGroup(*EVENTS, source=self)
        self._frame_counts: tuple[int, ...] = tuple(int(n) for n in frame_counts)
        self._scene = 0
        self._frame = 0
        self._mode = DEFAULT_MODE
        self._split = False
        self._overlap_heat = False
        self._boxes = False
        self._highlight_pair: Optional[tuple[int, int]] = None
        self._playing = False
        self._interval_ms = DEFAULT_INTERVAL_MS

    # ------------------------------------------------------------------ position
    @property
    def frame_counts(self) -> tuple[int, ...]:
        """Frames per scene of the open dataset (empty: none open)."""
        return self._frame_counts

    @property
    def num_frames(self) -> int:
        """Frames of the current scene (0 without a dataset)."""
        return self._frame_counts[self._scene] if self._frame_counts else 0

    @property
    def scene(self) -> int:
        return self._scene

    @scene.setter
    def scene(self, value: int) -> None:
        """A new scene starts at its first frame."""
        self.go_to(value, 0)

    @property
    def frame(self) -> int:
        return self._frame

    @frame.setter
    def frame(self, value: int) -> None:
        self.go_to(self._scene, value)

    @property
    def position(self) -> tuple[int, int]:
        return (self._scene, self._frame)

    def set_dataset(self, frame_counts: Sequence[int], scene: int = 0, frame: int = 0) -> None:
        """A dataset was opened: its frames per scene; start at ``scene`` (clamped into the
        dataset; a scene without frames gives way to the first one with frames) / ``frame``
        (clamped into the scene). ``position`` fires even when the indices are the old ones:
        they denote a frame of the new data."""
        counts = tuple(int(n) for n in frame_counts)
        if any(n < 0 for n in counts):
            raise ValueError(f"negative frame count in {counts}")
        self._frame_counts = counts
        self.events.dataset(counts)
        if not counts:
            self._move(0, 0)
            return
        scene = min(max(_index(scene, "scene"), 0), len(counts) - 1)
        if counts[scene] == 0:
            scene = next((i for i, n in enumerate(counts) if n > 0), scene)
        self._move(scene, self._clamp(scene, _index(frame, "frame")))
        self.events.position(self.position)

    def go_to(self, scene: int, frame: int) -> bool:
        """Move to ``frame`` of ``scene`` (the frame clamped into the scene); refuses a scene
        the dataset does not have or one without frames. True when the position changed."""
        scene, frame = _index(scene, "scene"), _index(frame, "frame")
        if not 0 <= scene < len(self._frame_counts):
            raise ValueError(f"scene {scene} is out of range "
                             f"(the dataset has {len(self._frame_counts)} scenes)")
        if self._frame_counts[scene] == 0:
            raise ValueError(f"scene {scene} has no frames")
        changed = self._move(scene, self._clamp(scene, frame))
        if changed:
            self.events.position(self.position)
        return changed

    def step(self, delta: int, wrap: bool = False) -> bool:
        """``delta`` frames on (clamped at the scene's ends, or wrapping round with ``wrap``)."""
        n = self.num_frames
        if n == 0:
            return False
        target = self._frame + _index(delta, "delta")
        return self.go_to(self._scene, target % n if wrap else target)

    def _clamp(self, scene: int, frame: int) -> int:
        return max(0, min(frame, self._frame_counts[scene] - 1))

    def _move(self, scene: int, frame: int) -> bool:
        changed = (scene, frame) != self.position
        if scene != self._scene:
            self._scene = scene
            self.events.scene(scene)
        if frame != self._frame:
            self._frame = frame
            self.events.frame(frame)
        return changed

    # ------------------------------------------------------------------ display
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, name: str) -> None:
        mode = get_mode(name)  # ValueError for an unknown mode
        if mode.hidden:
            raise ValueError(f"display mode {name!r} is only shown as a split partner")
        self._set("mode", name)

    def toggle_student_teacher(self) -> None:
        self.mode = "teacher" if self._mode == "student" else "student"

    @property
    def split(self) -> bool:
        return self._split

    @split.setter
    def split(self, on: bool) -> None:
        """Side by side (see ``DisplayMode.split_panes``); from a mode that split view does not
        keep, switching split on goes to "student" first."""
        on = bool(on)
        if on and not get_mode(self._mode).splits:
            self.mode = DEFAULT_MODE
        self._set("split", on)

    def panes(self) -> tuple[str, Optional[str]]:
        """The modes of the two tile grids: (left, right), right None without split view."""
        if not self._split:
            return (self._mode, None)
        return get_mode(self._mode).split_panes()

    def tile_options(self) -> dict:
        """What, besides the mode, decides how the tiles are drawn: ``overlap_heat``,
        ``highlight_pair``, ``boxes`` (keyword arguments of the tile renderers)."""
        return {"overlap_heat": self._overlap_heat, "highlight_pair": self._highlight_pair,
                "boxes": self._boxes}

    @property
    def overlap_heat(self) -> bool:
        return self._overlap_heat

    @overlap_heat.setter
    def overlap_heat(self, on: bool) -> None:
        self._set("overlap_heat", bool(on))

    @property
    def boxes(self) -> bool:
        return self._boxes

    @boxes.setter
    def boxes(self, on: bool) -> None:
        self._set("boxes", bool(on))

    @property
    def highlight_pair(self) -> Optional[tuple[int, int]]:
        return self._highlight_pair

    @highlight_pair.setter
    def highlight_pair(self, pair) -> None:
        if pair is not None:
            if len(pair) != 2:
                raise ValueError(f"a camera pair has two cameras, got {pair!r}")
            pair = (_index(pair[0], "camera"), _index(pair[1], "camera"))
        self._set("highlight_pair", pair)

    # ------------------------------------------------------------------ playback
    @property
    def playing(self) -> bool:
        return self._playing

    @playing.setter
    def playing(self, on: bool) -> None:
        self._set("playing", bool(on))

    @property
    def interval_ms(self) -> int:
        return self._interval_ms

    @interval_ms.setter
    def interval_ms(self, ms: int) -> None:
        ms = _index(ms, "interval_ms")
        if ms <= 0:
            raise ValueError(f"the playback interval must be positive, got {ms} ms")
        self._set("interval_ms", ms)

    def _set(self, name: str, value) -> None:
        if getattr(self, f"_{name}") == value:
            return
        setattr(self, f"_{name}", value)
        getattr(self.events, name)(value)
