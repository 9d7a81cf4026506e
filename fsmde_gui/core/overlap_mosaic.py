"""A picture of the rig's overlaps: the six views (FL F FR / BL B BR), each pixel that another
view also sees tinted with that neighbour's colour (:data:`fusion.CAMERA_COLORS`)."""
from __future__ import annotations

import cv2
import numpy as np

from .adjacency import DEFAULT_OVERLAP_DEPTHS, neighbour_masks
from .fusion import CAMERA_COLORS
from .types import CAMERA_NAMES, SHORT_NAMES

__all__ = ["overlap_mosaic"]


def overlap_mosaic(Ks, cam_to_ego, hw: tuple[int, int], images: np.ndarray | None = None,
                   depth=DEFAULT_OVERLAP_DEPTHS, pairs=None, alpha: float = 0.6,
                   names=CAMERA_NAMES, labels: bool = True) -> np.ndarray:
    """(rows*H, 3*W, 3) uint8 RGB mosaic of the overlap masks of every view, 3 views a row.

    Each tile shows the view's image (``images (V, H, W, 3)`` uint8, or dark grey) with the
    pixels seen by neighbour ``j`` blended towards ``CAMERA_COLORS[j]`` (``alpha``), and a
    label ``NAME  ->NB xx%`` per neighbour. ``depth`` and ``pairs`` are passed to
    :func:`fsmde_gui.core.adjacency.neighbour_masks` (adjacency from the geometry by default).
    """
    Ks = np.asarray(Ks, dtype=np.float64)
    h, w = int(hw[0]), int(hw[1])
    v = len(Ks)
    if images is None:
        tiles = np.full((v, h, w, 3), 48, dtype=np.uint8)
    else:
        images = np.asarray(images)
        if images.shape != (v, h, w, 3) or images.dtype != np.uint8:
            raise ValueError(f"images must be ({v}, {h}, {w}, 3) uint8, got {images.shape} "
                             f"{images.dtype}")
        tiles = (images.astype(np.float32) * 0.6).astype(np.uint8)  # dim, so tints stand out
    masks = neighbour_masks(Ks, cam_to_ego, (h, w), pairs=pairs, depth=depth)
    tiles = tiles.astype(np.float32)
    captions: list[list[tuple[str, np.ndarray]]] = [[] for _ in range(v)]
    for (i, j), m in sorted(masks.items()):
        colour = CAMERA_COLORS[j % len(CAMERA_COLORS)] * 255.0
        tiles[i][m] = (1 - alpha) * tiles[i][m] + alpha * colour
        short = SHORT_NAMES.get(names[j], str(j)) if j < len(names) else str(j)
        captions[i].append((f"->{short} {100 * m.mean():.0f}%", colour))
    tiles = np.clip(tiles, 0, 255).astype(np.uint8)
    cols = 3
    rows = (v + cols - 1) // cols
    mosaic = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    scale = max(0.35, min(h, w) / 500.0)
    thick = max(1, int(round(scale * 2)))
    for k in range(v):
        tile = np.ascontiguousarray(tiles[k])
        if labels:
            name = SHORT_NAMES.get(names[k], str(k)) if k < len(names) else str(k)
            y = int(22 * scale / 0.5)
            _text(tile, name, (6, y), scale, (255, 255, 255), thick)
            for n, (text, colour) in enumerate(captions[k]):
                _text(tile, text, (6, y + int((n + 1) * 22 * scale / 0.5)), scale,
                      tuple(int(c) for c in colour), thick)
        cv2.rectangle(tile, (0, 0), (w - 1, h - 1), (255, 255, 255), 1)
        r, c = divmod(k, cols)
        mosaic[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return mosaic


def _text(img, text, org, scale, colour, thick):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
