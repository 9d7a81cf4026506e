"""Per-camera images of each display mode (numpy/OpenCV, no Qt): used by the app's tiles
and by the composite PNG export, so what is exported is exactly what is on screen.

The modes themselves (label, tooltip, renderer, split panes) are the registry of ``modes``;
``MODES`` / ``MODE_LABELS`` / ``MODE_TIPS`` are read from it."""
from __future__ import annotations

import cv2
import numpy as np

from ..core.colormaps import colorize
from .analysis import FrameAnalysis
from .box_overlay import draw_boxes
from .results import FrameConsistency
from .modes import all_modes, get_mode, visible_modes
from .tile_renderers import DEPTH_CMAP, TileContext, TileImage, placeholder

__all__ = ["MODES", "MODE_LABELS", "MODE_TIPS", "DEPTH_CMAP", "TileImage", "placeholder",
           "render_tile", "prepare_tiles"]

MODES = visible_modes()  # the modes with a button; "reflection_gt" is a hidden split partner
MODE_LABELS = {m.name: m.label for m in all_modes() if not m.hidden}
MODE_TIPS = {m.name: m.tooltip for m in all_modes() if not m.hidden}


def render_tile(a: FrameAnalysis, cam: int, mode: str, depth_range=None,
                overlap_heat: bool = False, highlight_pair=None, burn_notes: bool = True,
                boxes: bool = False, memo: bool = False) -> TileImage:
    """The image of camera ``cam`` in ``mode``. A mode with nothing to show returns the dimmed
    camera image with ``note`` set (and, when ``burn_notes``, the note written into it; the
    app draws it itself so it stays readable at any tile size). ``boxes`` draws the frame's
    3D boxes into it (the caption says how many are visible, or that the data has none).

    ``memo``: keep the tile in the analysis' display memo and return the kept one when the
    same tile is asked for again (what the app does: tiles are drawn off the GUI thread by
    :func:`prepare_tiles` while a frame is prefetched). A kept tile is shared: never modify
    its ``rgb`` in place."""
    if not memo:
        return _render(a, cam, mode, depth_range, overlap_heat, highlight_pair, burn_notes, boxes)
    hl = tuple(highlight_pair) if highlight_pair is not None else None
    # the deferred reflection mask and its failure change what reflection modes draw
    key = ("tile", cam, mode, tuple(depth_range) if depth_range else None, bool(overlap_heat), hl,
           bool(burn_notes), bool(boxes), a.reflection is not None, a.note("reflection"))
    return a.memoized(key, lambda: _render(a, cam, mode, depth_range, overlap_heat, highlight_pair,
                                           burn_notes, boxes))


def prepare_tiles(a: FrameAnalysis, modes, depth_range=None, overlap_heat: bool = False,
                  highlight_pair=None, boxes: bool = False) -> FrameAnalysis:
    """Draw the six tiles of each mode in ``modes`` (None entries skipped) into the analysis'
    display memo, as the app's grids will ask for them (``burn_notes=False``). Called on a
    worker thread right after a frame's analysis, so that showing the frame only paints (a
    deferred reflection mask is part of the key: its tile is drawn again once it is ready)."""
    for mode in modes:
        if mode is None:
            continue
        for cam in range(len(a.frame.views)):
            render_tile(a, cam, mode, depth_range=depth_range, overlap_heat=overlap_heat,
                        highlight_pair=highlight_pair, burn_notes=False, boxes=boxes, memo=True)
    return a


def _render(a: FrameAnalysis, cam: int, mode: str, depth_range, overlap_heat: bool,
            highlight_pair, burn_notes: bool, boxes: bool) -> TileImage:
    renderer = get_mode(mode).render  # ValueError for an unknown mode
    lo, hi = depth_range or a.depth_range
    tile = renderer(TileContext(a, cam, lo, hi, burn_notes), mode)
    if overlap_heat or highlight_pair is not None:
        tile.rgb = _overlap_overlay(a, cam, tile.rgb, overlap_heat, highlight_pair)
    if boxes:
        if a.frame.boxes is None:
            tile.caption += "  (no 3D boxes)"
        else:
            tile.rgb, n = draw_boxes(tile.rgb, a.frame, cam)
            tile.caption += f"  {n} box{'es' if n != 1 else ''}"  # ASCII: cv2 text too
    return tile


def _overlap_overlay(a: FrameAnalysis, cam: int, rgb: np.ndarray, heat: bool, highlight) -> np.ndarray:
    """Tint each overlap band of this camera by its pair's consistency (turbo, 0..max m);
    outline the highlighted pair's band in white."""
    cons = a.consistency.get("student") or next(iter(a.consistency.values()), FrameConsistency())
    vmax = max(cons.finite_values() + [1e-3])
    out = rgb.astype(np.float32)
    for pair, masks in a.overlaps.items():
        if cam not in pair:
            continue
        m = masks[0] if pair[0] == cam else masks[1]
        if heat:
            v = cons.value(a.pair_name(pair))
            if v is not None and np.isfinite(v):
                col = colorize(np.array([[v]]), 0.0, vmax, "turbo")[0, 0].astype(np.float32)
                out[m] = out[m] * 0.55 + col * 0.45
        if highlight is not None and tuple(highlight) == tuple(pair):
            edge = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            out[m] = out[m] * 0.7 + 255 * 0.3
            out[edge] = 255
    return np.clip(out, 0, 255).astype(np.uint8)
