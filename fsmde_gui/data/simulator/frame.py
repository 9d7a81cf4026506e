"""Simulate one synchronised frame of a street: six camera views, a LiDAR sweep, boxes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fsmde_gui.core.rig import Rig
from fsmde_gui.core.types import CAMERA_NAMES

from .layout import Street
from .lidar import scan
from .raycast import RayScene
from .render import render_cameras


@dataclass
class SimBox:
    instance: int
    category: str
    center: np.ndarray  # (3,) world
    size: tuple[float, float, float]  # width, length, height
    yaw: float
    moving: bool
    num_lidar_pts: int = 0


@dataclass
class SimFrame:
    time_s: float
    ego_to_world: np.ndarray  # (4, 4)
    views: list[dict]  # per camera (CAMERA_NAMES order): image, depth, semantic, ...
    lidar: np.ndarray  # (N, 5) float32 in the LiDAR frame
    boxes: list[SimBox]


def actor_boxes(street: Street, t: float) -> list[SimBox]:
    boxes = []
    for a in street.actors:
        lo, hi = a.mesh.vertices.min(0), a.mesh.vertices.max(0)
        R, p = a.pose(t)
        center = R @ ((lo + hi) / 2) + p
        size = (float(hi[1] - lo[1]), float(hi[0] - lo[0]), float(hi[2] - lo[2]))
        boxes.append(SimBox(a.instance, a.category, center, size, float(a.yaw),
                            bool(np.linalg.norm(a.velocity) > 0.05)))
    return boxes


def _count_points_in_boxes(boxes: list[SimBox], pts_world: np.ndarray) -> None:
    for b in boxes:
        c, s = np.cos(b.yaw), np.sin(b.yaw)
        d = pts_world - b.center
        lx = c * d[:, 0] + s * d[:, 1]
        ly = -s * d[:, 0] + c * d[:, 1]
        inside = ((np.abs(lx) <= b.size[1] / 2) & (np.abs(ly) <= b.size[0] / 2)
                  & (np.abs(d[:, 2]) <= b.size[2] / 2))
        b.num_lidar_pts = int(inside.sum())


def simulate_frame(street: Street, rig: Rig, t: float, rng: np.random.Generator,
                   lidar: bool = True, box_range: float = 60.0) -> SimFrame:
    ego = street.ego_to_world(t)
    scene = RayScene(street.mesh_at(t))
    cams = [(c.K, ego @ c.cam_to_ego, c.width, c.height) for c in rig.cameras]
    assert [c.name for c in rig.cameras] == list(CAMERA_NAMES)
    views = render_cameras(scene, street.sun, street.texture_seed, cams)
    lidar_to_world = ego @ rig.lidar_to_ego
    pts = scan(scene, lidar_to_world, street.texture_seed, rng) if lidar else np.zeros((0, 5),
                                                                                       np.float32)
    boxes = [b for b in actor_boxes(street, t)
             if np.linalg.norm(b.center[:2] - ego[:2, 3]) <= box_range]
    if len(pts):
        pw = pts[:, :3].astype(np.float64) @ lidar_to_world[:3, :3].T + lidar_to_world[:3, 3]
        _count_points_in_boxes(boxes, pw)
    return SimFrame(t, ego, views, pts, boxes)
