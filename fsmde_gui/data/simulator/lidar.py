"""A 32-beam spinning LiDAR (Velodyne HDL-32E-like, as nuScenes' LIDAR_TOP).

Beams: 32 elevations from -30.67 deg to +10.67 deg, 1084 azimuth steps per sweep (about
34.7 k rays, like a real nuScenes sweep). Returns ``(N, 5)`` float32 points in the LiDAR
frame: x, y, z, intensity (0..255, from surface albedo and incidence), ring (beam index,
0 = lowest). No range noise (so it agrees with the dense depth GT); a few returns drop out.
"""
from __future__ import annotations

import numpy as np

from .raycast import RayScene
from .textures import surface_appearance

ELEVATIONS_DEG = np.linspace(-30.67, 10.67, 32)
AZIMUTH_STEPS = 1084
MIN_RANGE, MAX_RANGE = 1.0, 100.0


def beam_directions(num_azimuth: int = AZIMUTH_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (32 * A, 3) in the LiDAR frame and the ring index of each."""
    el = np.deg2rad(ELEVATIONS_DEG)[:, None]
    az = np.linspace(0, 2 * np.pi, num_azimuth, endpoint=False)[None, :]
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                  np.sin(el) * np.ones_like(az)], axis=-1).reshape(-1, 3)
    ring = np.repeat(np.arange(len(ELEVATIONS_DEG)), num_azimuth)
    return d, ring


def scan(scene: RayScene, lidar_to_world: np.ndarray, seed: int, rng: np.random.Generator,
         dropout: float = 0.02, num_azimuth: int = AZIMUTH_STEPS) -> np.ndarray:
    d_l, ring = beam_directions(num_azimuth)
    R, o = lidar_to_world[:3, :3], lidar_to_world[:3, 3]
    d_w = d_l @ R.T
    hits = scene.cast(np.broadcast_to(o, d_w.shape), d_w)
    t = hits["t"]
    keep = (hits["prim"] >= 0) & (t >= MIN_RANGE) & (t <= MAX_RANGE)
    keep &= rng.random(len(t)) >= dropout
    idx = np.flatnonzero(keep)
    P_w = o + t[idx, None].astype(np.float64) * d_w[idx]
    prim = hits["prim"][idx]
    n = hits["normal"][idx]
    mesh = scene.mesh
    app = surface_appearance(P_w, n, mesh.material[prim], mesh.color[prim], mesh.params[prim],
                             mesh.semantic[prim], seed, mesh.gloss[prim])
    cos = np.abs(np.sum(n * d_w[idx], axis=1))
    intensity = np.clip(app["albedo"].mean(axis=1) * (0.3 + 0.7 * cos) * 120.0, 0, 255)
    P_l = t[idx, None].astype(np.float64) * d_l[idx]  # exact, in the LiDAR frame
    return np.concatenate([P_l, intensity[:, None], ring[idx, None]], axis=1).astype(np.float32)
