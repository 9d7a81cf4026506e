"""What showing a frame needs, computed on a worker thread right after its analysis.

The app asks for a frame's analysis off the GUI thread (a click or the prefetch of the next
frame); :func:`prepare_display` then also draws the tiles of the current panes and the
per-view bin layout and the 3D boxes' wireframes into the analysis' memos, so that showing a prefetched frame on the GUI
thread only converts and paints (a real 1600 x 900 scene: the tiles were a third of it)."""
from __future__ import annotations

from typing import Optional

from .analysis import FrameAnalysis
from .cloud_geometry import boxes_lines
from .tiles import prepare_tiles


def prepare_display(a: FrameAnalysis, panes: tuple[str, Optional[str]], overlap_heat: bool = False,
                    highlight_pair=None, boxes: bool = False) -> FrameAnalysis:
    """Fill ``a``'s display memos for the tile grids' ``panes`` (left, right or None) with
    the viewer's options; returns ``a`` (the worker's result)."""
    prepare_tiles(a, panes, overlap_heat=overlap_heat, highlight_pair=highlight_pair, boxes=boxes)
    a.view_bin_mass()
    a.memoized("box_wireframe", lambda: boxes_lines(a.frame.boxes))
    return a
