"""What showing a frame needs, computed on a worker thread right after its analysis.

The app asks for a frame's analysis off the GUI thread (a click or the prefetch of the next
frame); :func:`prepare_display` then also draws the tiles of the current panes, the per-view
bin layout and the 3D boxes' wireframes into the analysis' memos, so that showing a
prefetched frame on the GUI thread only converts and paints (on a real 1600 x 900 scene the
tiles were a third of it)."""
from __future__ import annotations

from typing import Optional

from .analysis import FrameAnalysis
from .cloud_geometry import boxes_lines
from .tiles import prepare_tiles


def prepare_display(a: FrameAnalysis, panes: tuple[str, Optional[str]], overlap_heat: bool = False,
                    highlight_pair=None, boxes: bool = False) -> FrameAnalysis:
    """Fill ``a``'s display memos for the tile grids' ``panes`` (left, right or None) with
    the viewer's options; returns ``a`` (the worker's result).

    Ahead-of-time work only: if drawing fails here, the frame's analysis is still returned
    and the GUI draws that part when the frame is shown, where the error is reported as the
    panel's own (a prefetch must not turn a drawing problem into a failed analysis)."""
    try:
        prepare_tiles(a, panes, overlap_heat=overlap_heat, highlight_pair=highlight_pair,
                      boxes=boxes)
        a.view_bin_mass()
        a.memoized("box_wireframe", lambda: boxes_lines(a.frame.boxes))
    except Exception as exc:  # noqa: BLE001 (redone, and reported, on the GUI thread)
        a.unavailable.setdefault("display_prep", f"drawn on showing: {type(exc).__name__}: {exc}")
    return a
