"""Pinhole geometry: back-project, transform, project, warp (numpy for the app, torch for training).

Conventions (as in :mod:`fsmde_gui.core.types`)
-----------------------------------------------
* Pixel ``(u, v)`` = (column, row); integer coordinates are pixel *centres* (the convention of
  OpenCV's ``remap`` and of kornia's ``depth_to_3d_v2``/``grid_sample(align_corners=True)``).
* Camera frame: x right, y down, z forward. Depth is the z coordinate, metres; 0 = no value.
* ``T_a_to_b`` (4x4) maps points expressed in frame ``a`` into frame ``b``:
  ``p_b = T_a_to_b @ p_a``. ``cam_to_ego`` is therefore ``T_cam_to_ego``.

The numpy functions broadcast over leading dimensions; the torch functions are thin wrappers
over kornia (``depth_to_3d_v2``, ``transform_points``, ``project_points``, ``grid_sample``).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

EPS_Z = 1e-6
"""Points with z below this (behind or on the camera plane) do not project."""

__all__ = [
    "pixel_grid", "backproject", "transform_points", "project", "relative_transform",
    "frame_camera_poses", "inside_image", "warp_image", "backproject_torch", "project_torch",
    "warp_image_torch",
]


# ----------------------------------------------------------------------------------- numpy
@lru_cache(maxsize=16)
def _pixel_grid_cached(h: int, w: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    grid = np.stack([u, v], axis=-1)
    grid.setflags(write=False)
    return grid


def pixel_grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) float64 pixel coordinates ``(u, v)`` (read-only, cached)."""
    return _pixel_grid_cached(int(h), int(w))


def _check_K(K: np.ndarray) -> np.ndarray:
    K = np.asarray(K, dtype=np.float64)
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics must be (..., 3, 3), got shape {K.shape}")
    return K


def backproject(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Depth maps ``(..., H, W)`` + intrinsics ``(..., 3, 3)`` -> camera points ``(..., H, W, 3)``.

    A pixel ``(u, v)`` with depth ``z`` becomes ``z * K^-1 [u, v, 1]``; depth 0 gives the origin.
    Output dtype is float32 when ``depth`` is float32, else float64.
    """
    depth = np.asarray(depth)
    if depth.ndim < 2:
        raise ValueError(f"depth must be (..., H, W), got shape {depth.shape}")
    K = _check_K(K)
    h, w = depth.shape[-2:]
    out_dtype = np.float32 if depth.dtype == np.float32 else np.float64
    Kinv = np.linalg.inv(K)  # (..., 3, 3)
    uv1 = np.concatenate([pixel_grid(h, w), np.ones((h, w, 1))], axis=-1)  # (H, W, 3)
    # rays (..., H, W, 3) = Kinv @ uv1 for every pixel
    rays = uv1 @ np.swapaxes(Kinv, -1, -2)[..., None, :, :]  # (..., H, W, 3): one GEMM per row
    return (rays * depth[..., None]).astype(out_dtype, copy=False)


def _apply_matrix(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``M (..., k, k)`` applied to vectors ``x (..., k)``, leading dims broadcasting.

    Uses matmul (BLAS) rather than einsum, which is several times slower here: a single matrix
    is one GEMM, and per-view matrices (``M (V, 1, ..., 1, k, k)`` against ``x (V, H, W, k)``)
    one GEMM per row. Matrices that vary along the last leading dim of ``x`` use einsum.
    """
    if M.ndim == 2:
        return x @ M.T
    if x.ndim >= 2 and M.shape[-3] == 1:
        # batch over x's leading dims but its last (the rows of each GEMM)
        return x @ np.swapaxes(M[..., 0, :, :], -1, -2)
    return np.einsum("...ij,...j->...i", M, x)


def transform_points(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a rigid/affine 4x4 transform ``T`` to points ``(..., 3)``; keeps float32 input float32.

    ``T`` may carry leading batch dims that broadcast against the points' leading dims
    (e.g. ``T (V, 4, 4)`` with ``pts (V, N, 3)`` needs ``T[:, None]``).
    """
    T = np.asarray(T)
    pts = np.asarray(pts)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"transform must be (..., 4, 4), got shape {T.shape}")
    if pts.shape[-1] != 3:
        raise ValueError(f"points must be (..., 3), got shape {pts.shape}")
    dtype = np.float32 if pts.dtype == np.float32 else np.float64
    R = T[..., :3, :3].astype(dtype)
    t = T[..., :3, 3].astype(dtype)
    return (_apply_matrix(R, pts) + t).astype(dtype, copy=False)


def project(pts_cam: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera points ``(..., 3)`` -> pixel coordinates ``uv (..., 2)`` and depth ``z (...)``.

    Points with ``z <= EPS_Z`` (behind the camera) get ``uv = nan``; check ``z > 0`` or use
    :func:`inside_image`.
    """
    pts_cam = np.asarray(pts_cam)
    K = _check_K(K)
    if pts_cam.shape[-1] != 3:
        raise ValueError(f"points must be (..., 3), got shape {pts_cam.shape}")
    dtype = np.float32 if pts_cam.dtype == np.float32 else np.float64
    z = pts_cam[..., 2]
    hom = _apply_matrix(K.astype(dtype), pts_cam)
    front = z > EPS_Z
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = hom[..., :2] / np.where(front, z, np.nan)[..., None]
    return uv.astype(dtype, copy=False), z.astype(dtype, copy=False)


def relative_transform(src_to_ref: np.ndarray, tgt_to_ref: np.ndarray) -> np.ndarray:
    """``T_tgt_to_src`` from two poses in a common frame (e.g. two ``cam_to_ego`` matrices).

    ``T_tgt_to_src = inv(T_src_to_ref) @ T_tgt_to_ref``; broadcasts over leading dims.
    """
    return np.linalg.inv(np.asarray(src_to_ref, np.float64)) @ np.asarray(tgt_to_ref, np.float64)


def frame_camera_poses(frame, motion_compensated: bool = True) -> np.ndarray:
    """``(V, 4, 4)`` camera -> ego transforms of a ``SurroundFrame``, all in the ego frame *at
    the frame's timestamp* (the one its LiDAR points use).

    On real rigs each camera fires at its own time (nuScenes: up to ~40 ms apart), so the ego
    pose differs per camera: ``inv(frame.ego_to_world) @ view.ego_to_world @ view.cam_to_ego``
    puts every view where the car was when the frame was taken. Use these poses to fuse views
    or compare them (consistency) on real data. Views without an ego pose (or
    ``motion_compensated=False``) keep their plain ``cam_to_ego``.
    """
    poses = []
    world_to_frame = None
    if motion_compensated and frame.ego_to_world is not None:
        world_to_frame = np.linalg.inv(np.asarray(frame.ego_to_world, np.float64))
    for view in frame.views:
        T = np.asarray(view.cam_to_ego, np.float64)
        if world_to_frame is not None and view.ego_to_world is not None:
            T = world_to_frame @ np.asarray(view.ego_to_world, np.float64) @ T
        poses.append(T)
    return np.stack(poses)


def inside_image(uv: np.ndarray, hw: tuple[int, int], margin: float = 0.5) -> np.ndarray:
    """True where pixel coordinates fall on the image ``hw = (H, W)``.

    ``margin=0.5`` accepts the whole area of border pixels (``-0.5 <= u < W - 0.5``); use
    ``margin=0`` to require bilinear interpolation support (``0 <= u <= W - 1``).
    """
    h, w = hw
    u, v = uv[..., 0], uv[..., 1]
    if margin > 0:
        ok = (u >= -margin) & (u < w - margin) & (v >= -margin) & (v < h - margin)
    else:
        tol = 1e-4  # round-off of a pixel that maps onto itself
        ok = (u >= -tol) & (u <= w - 1 + tol) & (v >= -tol) & (v <= h - 1 + tol)
    return ok & np.isfinite(u) & np.isfinite(v)


def warp_image(src_image: np.ndarray, tgt_depth: np.ndarray, K_tgt: np.ndarray,
               K_src: np.ndarray, T_tgt_to_src: np.ndarray,
               interpolation: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Resample ``src_image`` onto the target view's pixel grid, using the target's depth.

    Every target pixel is back-projected with ``tgt_depth (H, W)`` and ``K_tgt``, moved into
    the source camera by ``T_tgt_to_src`` and projected with ``K_src`` into ``src_image``
    (``(Hs, Ws)`` or ``(Hs, Ws, C)``, any size), which is sampled there with ``cv2.remap``.

    Returns ``(warped, valid)``: ``warped`` has the target size and ``src_image``'s dtype and
    channels (0 where invalid), ``valid (H, W)`` bool is True where the target depth is > 0,
    the point lies in front of the source camera and lands on the source image.
    """
    src_image = np.asarray(src_image)
    tgt_depth = np.asarray(tgt_depth, dtype=np.float64)
    if tgt_depth.ndim != 2:
        raise ValueError(f"tgt_depth must be (H, W), got shape {tgt_depth.shape}")
    if src_image.ndim not in (2, 3):
        raise ValueError(f"src_image must be (H, W) or (H, W, C), got shape {src_image.shape}")
    modes = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
    if interpolation not in modes:
        raise ValueError(f"interpolation must be one of {sorted(modes)}, got {interpolation!r}")
    pts_tgt = backproject(tgt_depth, K_tgt)
    pts_src = transform_points(np.asarray(T_tgt_to_src, np.float64), pts_tgt)
    uv, z = project(pts_src, K_src)
    hs, ws = src_image.shape[:2]
    margin = 0.0 if interpolation == "linear" else 0.5
    valid = (tgt_depth > 0) & (z > EPS_Z) & inside_image(uv, (hs, ws), margin=margin)
    map_xy = np.where(valid[..., None], uv, -1e4).astype(np.float32)
    image = src_image
    if image.dtype == np.bool_:
        image = image.astype(np.uint8)
    warped = cv2.remap(image, map_xy[..., 0], map_xy[..., 1], modes[interpolation],
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if warped.ndim == 2 and src_image.ndim == 3:  # cv2 drops a single channel
        warped = warped[..., None]
    warped[~valid] = 0
    return warped.astype(src_image.dtype, copy=False), valid


# ----------------------------------------------------------------------------------- torch
def backproject_torch(depth, K):
    """``depth (B, 1, H, W)``, ``K (B, 3, 3)`` -> camera points ``(B, H, W, 3)`` (kornia)."""
    from kornia.geometry.depth import depth_to_3d_v2

    if depth.dim() != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth must be (B, 1, H, W), got shape {tuple(depth.shape)}")
    return depth_to_3d_v2(depth[:, 0], K.to(depth))


def project_torch(pts_cam, K):
    """Camera points ``(B, ..., 3)`` + ``K (B, 3, 3)`` -> ``(uv (B, ..., 2), z (B, ...))`` (kornia).

    z is clamped to ``EPS_Z`` before division, so points behind the camera give finite but
    meaningless ``uv``: mask them with ``z > 0``.
    """
    from kornia.geometry.camera.perspective import project_points

    extra = pts_cam.dim() - 2
    Kb = K.to(pts_cam).reshape(K.shape[0], *([1] * extra), 3, 3)
    z = pts_cam[..., 2]
    return project_points(_clamp_z(pts_cam), Kb), z


def _clamp_z(pts_cam):
    """Points with z clamped to at least ``EPS_Z`` (keeps gradients of the valid ones)."""
    import torch

    return torch.cat([pts_cam[..., :2], pts_cam[..., 2:3].clamp(min=EPS_Z)], dim=-1)


def warp_image_torch(src_image, tgt_depth, K_tgt, K_src, T_tgt_to_src, mode: str = "bilinear"):
    """Torch/kornia twin of :func:`warp_image`, differentiable (photometric losses).

    ``src_image (B, C, Hs, Ws)``, ``tgt_depth (B, 1, H, W)``, ``K_tgt``/``K_src (B, 3, 3)``,
    ``T_tgt_to_src (B, 4, 4)`` -> ``(warped (B, C, H, W), valid (B, 1, H, W) bool)``.
    Sampling is ``grid_sample(align_corners=True)``, zeros outside, like kornia's
    ``warp_frame_depth`` (which needs one shared K and equal sizes; this does not).
    """
    import torch.nn.functional as F
    from kornia.geometry.conversions import normalize_pixel_coordinates
    from kornia.geometry.linalg import transform_points as kt_transform_points

    if src_image.dim() != 4:
        raise ValueError(f"src_image must be (B, C, H, W), got shape {tuple(src_image.shape)}")
    pts_tgt = backproject_torch(tgt_depth, K_tgt)  # (B, H, W, 3)
    pts_src = kt_transform_points(T_tgt_to_src.to(pts_tgt)[:, None], pts_tgt)
    uv, z = project_torch(pts_src, K_src)  # (B, H, W, 2), (B, H, W)
    hs, ws = src_image.shape[-2:]
    u, v = uv[..., 0], uv[..., 1]
    tol = 1e-4
    valid = ((tgt_depth[:, 0] > 0) & (z > EPS_Z) & (u >= -tol) & (u <= ws - 1 + tol)
             & (v >= -tol) & (v <= hs - 1 + tol))
    grid = normalize_pixel_coordinates(uv, hs, ws).to(src_image)
    warped = F.grid_sample(src_image, grid, mode=mode, padding_mode="zeros", align_corners=True)
    warped = warped * valid[:, None].to(warped.dtype)
    return warped, valid[:, None]
