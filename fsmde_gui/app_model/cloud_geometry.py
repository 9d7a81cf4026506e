"""Wireframes of the fused-cloud view, in the ego frame (numpy, no Qt): the ego car's box,
the frame's 3D boxes coloured by class and the camera frustums."""
from __future__ import annotations

import numpy as np

from ..core.boxes import box_color, box_segments

EGO_EXTENT_XYZ = (4.1, 1.85, 1.6)  # length, width, height in metres (a nuScenes Renault Zoe)


def box_lines(center, extent_xyz) -> np.ndarray:
    """The 12 edges of an axis-aligned box of ``extent_xyz`` (along x, y, z) at ``center``."""
    cx, cy, cz = center
    lx, ly, lz = (s / 2 for s in extent_xyz)
    c = np.array([[cx + sx * lx, cy + sy * ly, cz + sz * lz]
                  for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float32)
    edges = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
    return np.concatenate([c[list(e)] for e in edges])


def boxes_lines(boxes) -> tuple[np.ndarray, np.ndarray]:
    """(2M, 3) segment ends and (2M, 4) colours of the boxes' wireframes (ego frame)."""
    if not boxes:
        return np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)
    segs, cols = [], []
    for box in boxes:
        seg = box_segments(box).reshape(-1, 3)
        segs.append(seg)
        cols.append(np.tile([*(np.asarray(box_color(box.category)) / 255.0), 1.0], (len(seg), 1)))
    return np.concatenate(segs).astype(np.float32), np.concatenate(cols).astype(np.float32)


def frustum_lines(K: np.ndarray, cam_to_ego: np.ndarray, hw, depth: float = 2.5) -> np.ndarray:
    """Line segments (2M, 3) of a camera frustum drawn to ``depth`` metres, in ego frame."""
    h, w = hw
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    rays = np.linalg.solve(K, np.c_[corners, np.ones(4)].T).T * depth
    pts = (cam_to_ego[:3, :3] @ rays.T).T + cam_to_ego[:3, 3]
    o = cam_to_ego[:3, 3]
    seg = []
    for k in range(4):
        seg += [o, pts[k], pts[k], pts[(k + 1) % 4]]
    return np.asarray(seg, np.float32)
