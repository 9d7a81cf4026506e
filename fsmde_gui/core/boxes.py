"""3D boxes (:class:`~fsmde_gui.core.types.Box3D`): corners, points inside, projection into a
camera with clipping (behind the camera and at the image border), classes and colours.

Corner order is the nuscenes-devkit's (``Box.corners``): 0-3 the front face (x = +l/2),
4-7 the rear face, each face as (+y +z), (-y +z), (-y -z), (+y -z) in the box frame.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .geometry import frame_camera_poses
from .rig import make_pose, quaternion_to_matrix
from .types import Box3D

BOX_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 0),  # front face
    (4, 5), (5, 6), (6, 7), (7, 4),  # rear face
    (0, 4), (1, 5), (2, 6), (3, 7),  # sides
)
HEADING_EDGES: tuple[tuple[int, int], ...] = ((0, 2), (1, 3))
"""The front face's diagonals: a cross that shows which way the box faces."""

BOX_CLASSES: tuple[str, ...] = ("car", "truck", "bus", "trailer", "construction_vehicle",
                                "pedestrian", "motorcycle", "bicycle", "traffic_cone",
                                "barrier", "other")
"""The ten nuScenes detection classes, plus ``other`` for every remaining category."""

_CATEGORY_CLASS = {
    "vehicle.car": "car", "vehicle.truck": "truck", "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus", "vehicle.trailer": "trailer",
    "vehicle.construction": "construction_vehicle", "vehicle.motorcycle": "motorcycle",
    "vehicle.bicycle": "bicycle", "movable_object.trafficcone": "traffic_cone",
    "movable_object.barrier": "barrier", "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian", "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
}

CLASS_COLORS: dict[str, tuple[int, int, int]] = {  # RGB
    "car": (255, 158, 0), "truck": (255, 99, 71), "bus": (255, 69, 160),
    "trailer": (255, 140, 90), "construction_vehicle": (233, 150, 70),
    "pedestrian": (0, 150, 255), "motorcycle": (255, 61, 99), "bicycle": (220, 20, 60),
    "traffic_cone": (47, 230, 79), "barrier": (180, 180, 190), "other": (190, 120, 255),
}


def box_class(category: str) -> str:
    """The detection class of a nuScenes category name (as the devkit maps them), else other."""
    return _CATEGORY_CLASS.get(category, "other")


def box_color(category: str) -> tuple[int, int, int]:
    return CLASS_COLORS[box_class(category)]


def box_from_world(translation, size: tuple[float, float, float], rotation_wxyz,
                   world_to_ego: np.ndarray, category: str, token: str = "",
                   instance_token: str = "", num_lidar_pts: int = 0) -> Box3D:
    """A box given in the world frame (a ``sample_annotation`` row) moved into an ego frame."""
    T = np.asarray(world_to_ego, np.float64) @ make_pose(quaternion_to_matrix(rotation_wxyz),
                                                         translation)
    w, l, h = (float(v) for v in size)
    return Box3D(center=T[:3, 3].copy(), size=(w, l, h), rotation=T[:3, :3].copy(),
                 category=str(category), token=str(token), instance_token=str(instance_token),
                 num_lidar_pts=int(num_lidar_pts))


def box_corners(box: Box3D) -> np.ndarray:
    """(8, 3) float64 corners in the box's frame of reference (ego), devkit order."""
    w, l, h = box.size
    x = l / 2 * np.array([1, 1, 1, 1, -1, -1, -1, -1], np.float64)
    y = w / 2 * np.array([1, -1, -1, 1, 1, -1, -1, 1], np.float64)
    z = h / 2 * np.array([1, 1, -1, -1, 1, 1, -1, -1], np.float64)
    return np.stack([x, y, z], 1) @ np.asarray(box.rotation, np.float64).T \
        + np.asarray(box.center, np.float64)


def box_segments(box: Box3D, heading: bool = True) -> np.ndarray:
    """(E, 2, 3) wireframe segments (12 edges, plus the front cross with ``heading``)."""
    c = box_corners(box)
    edges = BOX_EDGES + (HEADING_EDGES if heading else ())
    return c[np.asarray(edges)]


def points_in_box(points: np.ndarray, box: Box3D) -> np.ndarray:
    """(N,) bool: which of ``points`` (N, 3), same frame as the box, lie inside it."""
    local = (np.asarray(points, np.float64) - box.center) @ np.asarray(box.rotation, np.float64)
    w, l, h = box.size
    return (np.abs(local[:, 0]) <= l / 2) & (np.abs(local[:, 1]) <= w / 2) \
        & (np.abs(local[:, 2]) <= h / 2)


def box_of_points(points: np.ndarray, boxes: list[Box3D]) -> np.ndarray:
    """(N,) int: index of the box holding each point, -1 for none (first box wins on overlap)."""
    points = np.asarray(points, np.float64)
    out = np.full(len(points), -1, np.int64)
    if not len(points):
        return out
    order = np.argsort(points[:, 0], kind="stable")  # points by x: a box only looks at the
    xs = points[order, 0]  # slab |x - centre x| <= r (plus round-off) around it
    for i, box in enumerate(boxes):
        r = 0.5 * float(np.linalg.norm(box.size))  # cheap sphere test first
        cx, slack = float(box.center[0]), 1e-9 * (1.0 + abs(float(box.center[0])) + r)
        a = int(np.searchsorted(xs, cx - r - slack, side="left"))
        b = int(np.searchsorted(xs, cx + r + slack, side="right"))
        if a == b:
            continue
        cand = np.sort(order[a:b])
        cand = cand[out[cand] < 0]
        near = cand[np.sum((points[cand] - box.center) ** 2, 1) <= r * r]
        if near.size:
            out[near[points_in_box(points[near], box)]] = i
    return out


def _clip_near(seg: np.ndarray, near: float) -> Optional[np.ndarray]:
    """Segments (E, 2, 3) in camera coordinates cut at the plane z = near; (E', 2, 3)."""
    z0, z1 = seg[:, 0, 2], seg[:, 1, 2]
    keep = (z0 >= near) | (z1 >= near)
    seg = seg[keep].copy()
    z0, z1 = z0[keep], z1[keep]
    for a, b, za, zb in ((0, 1, z0, z1), (1, 0, z1, z0)):
        cut = za < near  # this end is behind: move it along the segment to z = near
        if cut.any():
            t = ((near - za[cut]) / (zb[cut] - za[cut]))[:, None]
            seg[cut, a] = seg[cut, a] + t * (seg[cut, b] - seg[cut, a])
    return seg


def _clip_rect(p0: np.ndarray, p1: np.ndarray, w: float, h: float):
    """Liang-Barsky: segments (E, 2) x2 clipped to [0, w] x [0, h]; returns (keep, q0, q1)."""
    d = p1 - p0
    t0 = np.zeros(len(p0))
    t1 = np.ones(len(p0))
    keep = np.ones(len(p0), bool)
    for p, q in ((-d[:, 0], p0[:, 0]), (d[:, 0], w - p0[:, 0]),
                 (-d[:, 1], p0[:, 1]), (d[:, 1], h - p0[:, 1])):
        par = p == 0
        keep &= ~(par & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = q / p
        t0 = np.where(~par & (p < 0), np.maximum(t0, r), t0)
        t1 = np.where(~par & (p > 0), np.minimum(t1, r), t1)
    keep &= t0 <= t1
    return keep, p0 + t0[:, None] * d, p0 + t1[:, None] * d


def project_box(box: Box3D, K: np.ndarray, ego_to_cam: np.ndarray, hw: tuple[int, int],
                near: float = 0.1, heading: bool = True) -> np.ndarray:
    """(M, 2, 2) pixel segments of a box's wireframe as seen by one camera.

    ``ego_to_cam`` maps the box's (ego) frame into the camera (x right, y down, z forward);
    ``hw`` is the image (H, W). Edges are cut at ``z = near`` (parts behind the camera are not
    drawn) and clipped to the image; a box out of view gives an empty (0, 2, 2) array.
    """
    seg = box_segments(box, heading)
    T = np.asarray(ego_to_cam, np.float64)
    cam = seg @ T[:3, :3].T + T[:3, 3]
    cam = _clip_near(cam, near)
    if not len(cam):
        return np.zeros((0, 2, 2))
    hom = cam @ np.asarray(K, np.float64).T
    uv = hom[..., :2] / hom[..., 2:3]
    h, w = hw
    keep, q0, q1 = _clip_rect(uv[:, 0], uv[:, 1], float(w), float(h))
    return np.stack([q0[keep], q1[keep]], 1)


def ego_to_cameras(frame) -> np.ndarray:
    """(V, 4, 4) frame-ego -> camera transforms (motion-compensated per camera, as the LiDAR
    GT), so boxes in ``frame.boxes`` can be projected with :func:`project_box`."""
    return np.linalg.inv(frame_camera_poses(frame))


def frame_box_segments(frame, cam: int, hw: Optional[tuple[int, int]] = None,
                       heading: bool = True) -> list[tuple[np.ndarray, Box3D]]:
    """The boxes visible in camera ``cam`` of a frame: ``[(segments (M, 2, 2), box)]``,
    farthest first (the order to draw them in). ``hw`` defaults to the view's image size."""
    if not frame.boxes:
        return []
    view = frame.views[cam]
    T = ego_to_cameras(frame)[cam]
    out = []
    for box in frame.boxes:
        seg = project_box(box, view.K, T, hw or view.hw, heading=heading)
        if len(seg):
            out.append((float((T[:3, :3] @ box.center + T[:3, 3])[2]), seg, box))
    out.sort(key=lambda t: -t[0])
    return [(seg, box) for _, seg, box in out]


__all__ = ["BOX_EDGES", "HEADING_EDGES", "BOX_CLASSES", "CLASS_COLORS", "box_class",
           "box_color", "box_from_world", "box_corners", "box_segments", "points_in_box",
           "box_of_points", "project_box", "ego_to_cameras", "frame_box_segments"]
