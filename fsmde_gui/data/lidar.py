"""LiDAR files and sparse depth: load sweeps, project points into a camera, rasterise depth."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import DatasetError

NUSCENES_POINT_DIMS = 5  # x, y, z, intensity, ring index (float32)


def load_nuscenes_pcd_bin(path) -> np.ndarray:
    """A nuScenes ``.pcd.bin`` sweep as (N, 5) float32, checked (missing, empty, truncated)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "LiDAR file is missing")
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(path, "LiDAR file is empty (0 bytes)")
    rec = 4 * NUSCENES_POINT_DIMS
    if size % rec:
        raise DatasetError(path, f"truncated LiDAR file: {size} bytes is not a multiple of "
                                 f"{NUSCENES_POINT_DIMS} float32 per point ({rec} bytes)")
    try:
        scan = np.fromfile(path, dtype=np.float32).reshape(-1, NUSCENES_POINT_DIMS)
    except OSError as exc:
        raise DatasetError(path, f"cannot read LiDAR file: {exc.strerror or exc}") from None
    if not np.all(np.isfinite(scan[:, :3])):
        raise DatasetError(path, "LiDAR file contains NaN or infinite coordinates")
    return scan


def check_nuscenes_pcd_bin_header(path) -> None:
    """Size-only check (no read) used when validating a whole dataset."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "LiDAR file is missing")
    size = path.stat().st_size
    if size == 0:
        raise DatasetError(path, "LiDAR file is empty (0 bytes)")
    if size % (4 * NUSCENES_POINT_DIMS):
        raise DatasetError(path, f"truncated LiDAR file: {size} bytes is not a multiple of "
                                 f"{NUSCENES_POINT_DIMS} float32 per point")


def transform(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to (N, 3) points (float64 result)."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ T[:3, :3].T + T[:3, 3]


def project_to_image(points_cam: np.ndarray, K: np.ndarray, wh: tuple[int, int],
                     min_dist: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame (N, 3) points -> (uv (M, 2), depth (M,)) of those in the image.

    Same rule as the nuScenes devkit's ``map_pointcloud_to_image``: depth > min_dist and
    1 < u < W - 1, 1 < v < H - 1.
    """
    pts = np.asarray(points_cam, dtype=np.float64)
    z = pts[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uvw = pts @ np.asarray(K, dtype=np.float64).T
        uv = uvw[:, :2] / uvw[:, 2:3]
    keep = (z > min_dist) & (uv[:, 0] > 1) & (uv[:, 0] < wh[0] - 1) \
        & (uv[:, 1] > 1) & (uv[:, 1] < wh[1] - 1)
    return uv[keep], z[keep]


def rasterize_depth(uv: np.ndarray, depth: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 depth map: points rounded to pixels, nearest depth kept, 0 = none."""
    h, w = hw
    out = np.zeros((h, w), dtype=np.float32)
    if len(depth):
        u = np.clip(np.round(uv[:, 0]).astype(np.int64), 0, w - 1)
        v = np.clip(np.round(uv[:, 1]).astype(np.int64), 0, h - 1)
        flat, d = v * w + u, np.asarray(depth, dtype=np.float64)
        order = np.argsort(d, kind="stable")  # nearest first: the first point of a pixel
        pix, first = np.unique(flat[order], return_index=True)  # is the one kept
        near = d[order[first]]
        out.reshape(-1)[pix] = np.where(np.isfinite(near), near, 0.0)  # all +inf: no depth
        # nor has a pixel with a NaN or -inf point (its minimum would be NaN / -inf)
        out.reshape(-1)[flat[np.isnan(d) | (d == -np.inf)]] = 0.0
    return out


def sparse_depth_from_ego_points(points_ego: np.ndarray, cam_to_ego: np.ndarray, K: np.ndarray,
                                 hw: tuple[int, int], min_dist: float = 1.0) -> np.ndarray:
    """Sparse depth of ego-frame points seen by one camera (same timestamp assumed)."""
    pts_cam = transform(np.linalg.inv(cam_to_ego), points_ego)
    uv, z = project_to_image(pts_cam, K, (hw[1], hw[0]), min_dist)
    return rasterize_depth(uv, z, hw)
