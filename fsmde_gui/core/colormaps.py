"""Colour maps for depth, error and uncertainty images (numpy + OpenCV look-up tables, no Qt).

``colorize(values, vmin, vmax, cmap)`` maps a float image to uint8 RGB; invalid values
(NaN, or outside ``valid``) become ``invalid_color``. ``colorbar(...)`` draws the matching
vertical bar with tick labels so that every coloured tile can show its scale.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

CMAPS = {
    "turbo": cv2.COLORMAP_TURBO,
    "magma": cv2.COLORMAP_MAGMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "jet": cv2.COLORMAP_JET,
}
DIVERGING = "coolwarm"  # handled here (OpenCV has no diverging map)

# Colours for the six cameras (FL F FR BL B BR), RGB 0..255: distinct on a dark background.
CAMERA_COLORS = np.array([
    [255, 160, 40],
    [240, 70, 70],
    [250, 220, 60],
    [60, 200, 255],
    [80, 120, 255],
    [90, 230, 140],
], dtype=np.uint8)


def lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 RGB table of a named map."""
    if cmap == DIVERGING:
        t = np.linspace(-1.0, 1.0, 256)[:, None]
        blue = np.array([59, 76, 192], dtype=np.float64)
        white = np.array([235, 235, 235], dtype=np.float64)
        red = np.array([180, 4, 38], dtype=np.float64)
        rgb = np.where(t < 0, white + (blue - white) * (-t), white + (red - white) * t)
        return np.clip(rgb, 0, 255).astype(np.uint8)
    if cmap not in CMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; known: {sorted(CMAPS) + [DIVERGING]}")
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], CMAPS[cmap])[:, 0, :]
    return bgr[:, ::-1].copy()


def normalize(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Float image -> uint8 index 0..255 (clipped; +-inf to the ends); NaN -> 0. One float32
    temporary, computed in place."""
    t = np.asarray(values, dtype=np.float32) - np.float32(vmin)
    t *= np.float32(255.0 / max(float(vmax) - float(vmin), 1e-12))
    t += np.float32(0.5)
    t[np.isnan(t)] = 0.0
    np.clip(t, 0, 255, out=t)
    return t.astype(np.uint8)


def colorize(values: np.ndarray, vmin: float, vmax: float, cmap: str = "turbo",
             valid: np.ndarray | None = None, invalid_color=(20, 20, 24),
             reverse: bool = False) -> np.ndarray:
    """(H, W) float -> (H, W, 3) uint8 RGB. ``reverse`` flips the map (near = warm).

    The index image of :func:`normalize` looked up with ``cv2.LUT`` (about twice as fast as
    numpy indexing on a 640 x 360 tile; same pixels, tested)."""
    values = np.asarray(values, dtype=np.float32)
    idx = normalize(values, vmin, vmax)
    rgb = cv2.LUT(cv2.merge([idx, idx, idx]), _lut3(cmap, bool(reverse)))
    bad = ~np.isfinite(values)
    if valid is not None:
        bad |= ~valid
    if bad.any():
        rgb[bad] = np.asarray(invalid_color, dtype=np.uint8)
    return rgb


@functools.lru_cache(maxsize=32)
def _lut3(cmap: str, reverse: bool) -> np.ndarray:
    """``lut(cmap)`` (flipped when ``reverse``) as the (256, 1, 3) table cv2.LUT takes."""
    table = lut(cmap)
    return np.ascontiguousarray(table[::-1] if reverse else table).reshape(256, 1, 3)


def robust_range(values, valid=None, lo: float = 2.0, hi: float = 98.0,
                 fallback=(0.0, 1.0)) -> tuple[float, float]:
    """Percentile range of the valid, finite values (a shared, outlier-proof colour range)."""
    v = np.asarray(values, dtype=np.float32)
    m = np.isfinite(v)
    if valid is not None:
        m &= valid
    if not m.any():
        return fallback
    a, b = np.percentile(v[m], [lo, hi])
    if b - a < 1e-6:
        b = a + 1e-3
    return float(a), float(b)


def colorbar(height: int, vmin: float, vmax: float, cmap: str = "turbo", width: int = 14,
             label_width: int = 44, reverse: bool = False, unit: str = "m",
             background=(24, 24, 28), text_color=(225, 225, 225)) -> np.ndarray:
    """A vertical colour bar (top = vmax) with 3 tick labels: (height, width+label_width, 3)."""
    height = max(int(height), 16)
    t = np.linspace(255, 0, height).astype(np.uint8)
    if reverse:
        t = 255 - t
    bar = np.repeat(lut(cmap)[t][:, None, :], width, axis=1)
    out = np.empty((height, width + label_width, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    out[:, :width] = bar
    scale = 0.32 if height < 120 else 0.38
    for frac in (0.0, 0.5, 1.0):
        value = vmax - frac * (vmax - vmin)
        y = int(round(frac * (height - 1)))
        y_text = min(max(y + 4, 9), height - 2)
        text = f"{value:.3g}{unit}" if abs(value) < 1000 else f"{value:.0f}{unit}"
        cv2.putText(out, text, (width + 3, y_text), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    text_color, 1, cv2.LINE_AA)
        out[y, width - 3:width] = text_color
    return out
