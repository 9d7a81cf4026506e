"""Which cameras of the rig overlap, and where — computed from the rig geometry, never listed.

A pixel of view ``i`` *overlaps* view ``j`` when the 3D point it sees, at one of a set of
depths (by default 2..50 m, or at the depth a given depth map holds), projects in front of
camera ``j`` and inside its image. Two views are *adjacent* when each sees more than a
threshold fraction of its pixels in the other. On the nuScenes rig this gives the six ring
pairs (FL-F, F-FR, FR-BR, BR-B, B-BL, BL-FL) and nothing else.
"""
from __future__ import annotations

import numpy as np

from .geometry import EPS_Z, pixel_grid, relative_transform

__all__ = ["DEFAULT_OVERLAP_DEPTHS", "overlap_masks", "overlap_fractions", "camera_adjacency",
           "neighbour_masks"]

DEFAULT_OVERLAP_DEPTHS: tuple[float, ...] = (2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 32.0, 50.0)
"""Depths (metres, z in the source camera) at which pixels are tested when no depth map is given."""


_ADJACENCY_CACHE: dict = {}  # (rig bytes, hw, depths, threshold, stride) -> pairs


def _check_rig(Ks, cam_to_ego) -> tuple[np.ndarray, np.ndarray]:
    Ks = np.asarray(Ks, dtype=np.float64)
    cam_to_ego = np.asarray(cam_to_ego, dtype=np.float64)
    if Ks.ndim != 3 or Ks.shape[1:] != (3, 3) or cam_to_ego.shape != (len(Ks), 4, 4):
        raise ValueError(f"need Ks (V, 3, 3) and cam_to_ego (V, 4, 4), got {Ks.shape} and "
                         f"{cam_to_ego.shape}")
    return Ks, cam_to_ego


def _depth_for_view(depth, view: int, hw: tuple[int, int]) -> np.ndarray:
    """(D,) depth values, or the (H, W) depth map of ``view`` when ``depth`` is (V, H, W)."""
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim <= 1:
        d = np.atleast_1d(d)
        if len(d) == 0 or not np.all(d > 0):
            raise ValueError(f"overlap depths must be positive, got {d}")
        return d
    if d.ndim == 3 and d.shape[1:] == tuple(hw):
        return d[view]
    raise ValueError(f"depth must be a number, a list of depths or (V, H, W) maps of size "
                     f"{tuple(hw)}, got shape {d.shape}")


def _seen_in(K_i, K_j, T_i_to_j, hw: tuple[int, int], depth_i: np.ndarray,
             stride: int) -> np.ndarray:
    """(H/stride, W/stride) bool: pixels of view i whose point lands inside view j."""
    h, w = hw
    uv = pixel_grid(h, w)[::stride, ::stride]
    hs, ws = uv.shape[:2]
    uv1 = np.concatenate([uv, np.ones((hs, ws, 1))], axis=-1).reshape(-1, 3)
    rays = uv1 @ np.linalg.inv(K_i).T  # (N, 3), z = 1
    # a point at depth d on ray r lands at K_j (R d r + t) = d * a + b in homogeneous pixels;
    # "inside view j" is tested without dividing: -0.5 z <= x < (W - 0.5) z, same for y
    a = np.ascontiguousarray(((K_j @ T_i_to_j[:3, :3]) @ rays.T).astype(np.float32))  # (3, N)
    b = (K_j @ T_i_to_j[:3, 3]).astype(np.float32)  # (3,)
    if depth_i.ndim == 1:  # a set of depths: seen at any of them
        seen = np.zeros(a.shape[1], dtype=bool)
        for d in depth_i.astype(np.float32):
            seen |= _lands_inside(d * a[0] + b[0], d * a[1] + b[1], d * a[2] + b[2], hw)
    else:
        d = depth_i[::stride, ::stride].reshape(-1).astype(np.float32)
        ok = np.isfinite(d) & (d > 0)
        d = np.where(ok, d, 0)
        seen = ok & _lands_inside(d * a[0] + b[0], d * a[1] + b[1], d * a[2] + b[2], hw)
    return seen.reshape(hs, ws)


def _lands_inside(x: np.ndarray, y: np.ndarray, z: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Homogeneous pixels (x, y, z) in front of the camera and on the image (no division)."""
    h, w = hw
    return ((z > EPS_Z) & (x >= -0.5 * z) & (x < (w - 0.5) * z)
            & (y >= -0.5 * z) & (y < (h - 0.5) * z))


def overlap_masks(Ks, cam_to_ego, hw: tuple[int, int], i: int, j: int,
                  depth=DEFAULT_OVERLAP_DEPTHS, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of view ``i`` seen by view ``j`` and pixels of view ``j`` seen by view ``i``.

    ``Ks (V, 3, 3)``, ``cam_to_ego (V, 4, 4)``, ``hw = (H, W)`` shared by all views.
    ``depth``: a depth or list of depths in metres (a pixel counts when it is seen at any of
    them), or ``(V, H, W)`` depth maps (each pixel tested at its own depth, 0 = not seen).
    Returns ``(mask_i, mask_j)``, bool ``(H, W)`` (``(H/stride, W/stride)`` with ``stride``).
    """
    Ks, cam_to_ego = _check_rig(Ks, cam_to_ego)
    hw = (int(hw[0]), int(hw[1]))
    T_i_to_j = relative_transform(cam_to_ego[j], cam_to_ego[i])
    T_j_to_i = relative_transform(cam_to_ego[i], cam_to_ego[j])
    mask_i = _seen_in(Ks[i], Ks[j], T_i_to_j, hw, _depth_for_view(depth, i, hw), stride)
    mask_j = _seen_in(Ks[j], Ks[i], T_j_to_i, hw, _depth_for_view(depth, j, hw), stride)
    return mask_i, mask_j


def overlap_fractions(Ks, cam_to_ego, hw: tuple[int, int], depth=DEFAULT_OVERLAP_DEPTHS,
                      stride: int = 4) -> np.ndarray:
    """``(V, V)`` matrix: entry ``[i, j]`` is the fraction of view ``i``'s pixels seen by view
    ``j`` (diagonal 1). ``stride`` subsamples the pixel grid (fractions barely change)."""
    Ks, cam_to_ego = _check_rig(Ks, cam_to_ego)
    v = len(Ks)
    frac = np.eye(v)
    for i in range(v):
        for j in range(i + 1, v):
            mi, mj = overlap_masks(Ks, cam_to_ego, hw, i, j, depth=depth, stride=stride)
            frac[i, j], frac[j, i] = mi.mean(), mj.mean()
    return frac


def camera_adjacency(Ks, cam_to_ego, hw: tuple[int, int], depth=DEFAULT_OVERLAP_DEPTHS,
                     threshold: float = 0.02, stride: int = 4) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, where both views see more than ``threshold`` of their
    pixels in the other (see :func:`overlap_fractions`), sorted."""
    Ks, cam_to_ego = _check_rig(Ks, cam_to_ego)
    depth_key = np.asarray(depth, dtype=np.float64)
    key = None
    if depth_key.ndim <= 1:  # same rig, same answer: evaluation calls this for every frame
        key = (Ks.tobytes(), cam_to_ego.tobytes(), (int(hw[0]), int(hw[1])),
               depth_key.tobytes(), float(threshold), int(stride))
        if key in _ADJACENCY_CACHE:
            return list(_ADJACENCY_CACHE[key])
    frac = overlap_fractions(Ks, cam_to_ego, hw, depth=depth, stride=stride)
    both = np.minimum(frac, frac.T)
    v = len(frac)
    pairs = [(i, j) for i in range(v) for j in range(i + 1, v) if both[i, j] > threshold]
    if key is not None:
        if len(_ADJACENCY_CACHE) >= 64:
            _ADJACENCY_CACHE.pop(next(iter(_ADJACENCY_CACHE)))
        _ADJACENCY_CACHE[key] = tuple(pairs)
    return pairs


def neighbour_masks(Ks, cam_to_ego, hw: tuple[int, int], pairs=None,
                    depth=DEFAULT_OVERLAP_DEPTHS,
                    stride: int = 1) -> dict[tuple[int, int], np.ndarray]:
    """For every ordered adjacent pair ``(i, j)``: the ``(H, W)`` mask of view ``i`` seen by ``j``.

    ``pairs`` defaults to :func:`camera_adjacency`; both orders of each pair are returned.
    """
    if pairs is None:
        pairs = camera_adjacency(Ks, cam_to_ego, hw, depth=depth if np.ndim(depth) <= 1
                                 else DEFAULT_OVERLAP_DEPTHS)
    out = {}
    for i, j in pairs:
        out[(i, j)], out[(j, i)] = overlap_masks(Ks, cam_to_ego, hw, i, j, depth=depth,
                                                 stride=stride)
    return out
