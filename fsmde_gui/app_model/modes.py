"""The display modes of the camera tiles as objects, in one registry (no Qt).

A ``DisplayMode`` says what its button shows (label, tooltip), how a tile is drawn (one of
the renderers of ``tile_renderers``) and what split view shows: the left and right panes,
and whether split view keeps the mode (otherwise switching split on goes to "student").
``reflection_gt`` is hidden: it has no button and is only drawn as reflection's right pane.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import tile_renderers as r


@dataclass(frozen=True)
class DisplayMode:
    name: str
    label: str
    tooltip: str
    render: Callable[[r.TileContext, str], r.TileImage]
    split_partner: str = "teacher"  # the right pane in split view
    split_left: Optional[str] = None  # the left pane in split view (None: this mode)
    splits: bool = False  # split view keeps this mode
    hidden: bool = False  # no button: drawn only as another mode's split partner

    def split_panes(self) -> tuple[str, str]:
        """(left, right) modes of the two tile grids in split view."""
        return (self.split_left or self.name, self.split_partner)


_REGISTRY: dict[str, DisplayMode] = {}


def register_mode(mode: DisplayMode) -> DisplayMode:
    if mode.name in _REGISTRY:
        raise ValueError(f"display mode {mode.name!r} is already registered")
    _REGISTRY[mode.name] = mode
    return mode


def get_mode(name: str) -> DisplayMode:
    """The mode called ``name`` (hidden ones included); ValueError names the known modes."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown display mode {name!r}; modes: {', '.join(visible_modes())}") from None


def all_modes() -> tuple[DisplayMode, ...]:
    return tuple(_REGISTRY.values())


def visible_modes() -> tuple[str, ...]:
    """The names of the modes with a button, in button order (keys 1..n)."""
    return tuple(m.name for m in _REGISTRY.values() if not m.hidden)


for _mode in (
    DisplayMode("rgb", "RGB", "The camera images", r.rgb_tile),
    DisplayMode("student", "Student depth",
                "Student metric depth (near = warm), shared colour range",
                r.model_depth_tile, splits=True),
    DisplayMode("teacher", "Teacher depth",
                "Teacher relative depth, aligned to metric scale with the sparse GT "
                "(per-view scale/shift shown in the caption)",
                r.model_depth_tile, split_left="student", splits=True),
    DisplayMode("gt", "GT / LiDAR",
                "Ground-truth depth: LiDAR points (real data) or dense simulator depth", r.gt_tile),
    DisplayMode("error", "Error vs GT", "|student − GT| in metres where GT exists", r.error_tile),
    DisplayMode("diff", "Student − teacher",
                "Student − teacher depth in metres (blue: student nearer)", r.diff_tile),
    DisplayMode("entropy", "Bin entropy",
                "Entropy of the student's bin probabilities: high = uncertain", r.entropy_tile),
    DisplayMode("reflection", "Reflection mask",
                "Predicted reflective pixels (red) with the GT outline (green) on simulator data",
                r.reflection_tile, split_partner="reflection_gt", splits=True),
    DisplayMode("reflection_gt", "Reflection GT",
                "The simulator's reflective pixels (green), beside the predicted mask",
                r.reflection_gt_tile, split_partner="reflection_gt", hidden=True),
):
    register_mode(_mode)
