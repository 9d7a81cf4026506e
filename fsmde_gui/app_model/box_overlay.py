"""3D boxes drawn into a camera tile (numpy/OpenCV, no Qt): each visible box's wireframe,
cut at the camera plane and the image border (:func:`fsmde_gui.core.boxes.project_box`),
coloured by class, the front face crossed to show the heading."""
from __future__ import annotations

import cv2
import numpy as np

from ..core.boxes import box_color, frame_box_segments

SHIFT = 4  # sub-pixel bits for cv2.line: smooth lines on small tiles


def draw_boxes(rgb: np.ndarray, frame, cam: int) -> tuple[np.ndarray, int]:
    """``rgb`` (a tile of camera ``cam``, any size) with the frame's boxes drawn on it, and
    how many boxes are visible. The boxes are projected at the view's own size and scaled."""
    out = np.ascontiguousarray(rgb).copy()
    h, w = out.shape[:2]
    vh, vw = frame.views[cam].hw
    scale = np.array([w / vw, h / vh]) * (1 << SHIFT)
    thick = 1 if w < 500 else 2
    drawn = frame_box_segments(frame, cam)
    for seg, box in drawn:
        colour = tuple(int(c) for c in box_color(box.category))
        for (p0, p1) in np.round(seg * scale).astype(np.int64):
            cv2.line(out, tuple(int(v) for v in p0), tuple(int(v) for v in p1), colour, thick,
                     cv2.LINE_AA, SHIFT)
    return out, len(drawn)
