"""Cross-view depth consistency: do adjacent cameras put the same surface at the same place?

For an adjacent pair (i, j), every pixel of view i with a depth is back-projected, moved into
camera j and projected. Where it lands inside view j, view j's depth there is read
(bilinear in inverse depth, which is exact on planes; the four neighbouring pixels must all
have depth and agree within ``edge_tol``, else the point sits on a depth edge and is
skipped) and back-projected too. Occlusion test: when the point of view i lies *behind*
view j's surface by more than ``occlusion_tol`` (relative), j cannot see it and it is
skipped. Points in front of j's surface are kept: j should have seen them, so they are a
real inconsistency. The 3D distance between the two points (metres) is pooled over both
directions (i -> j and j -> i). On ground-truth depth of a static scene it is ~0 (sub-mm
on planes); it grows with any per-view scale error: a view whose depth is 10 % too long is
skipped as "occluded" in one direction but measured in the other.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .adjacency import camera_adjacency
from .geometry import (EPS_Z, backproject, inside_image, project, relative_transform,
                       transform_points)
from .types import CAMERA_NAMES
from .types import MAX_DEPTH_M

__all__ = ["PairConsistency", "pair_consistency", "cross_view_consistency",
           "cross_view_consistency_details", "consistency_maps", "pair_name"]


@dataclass
class PairConsistency:
    """Consistency of one camera pair, both directions pooled."""

    mean: float  # metres (nan when no pixel matched)
    median: float  # metres
    count: int  # matched pixels
    mean_rel: float  # mean of distance / depth (scale-free)

    def as_dict(self) -> dict:
        return asdict(self)


def pair_name(i: int, j: int, names=CAMERA_NAMES) -> str:
    """``"CAM_A|CAM_B"``: the key of pair ``(i, j)`` in :func:`cross_view_consistency`."""
    return f"{names[i]}|{names[j]}"


def _bilinear_depth(depth: np.ndarray, uv: np.ndarray, max_depth: float, edge_tol: float):
    """Depth of ``depth (H, W)`` at ``uv (N, 2)`` (inside, 0 <= u <= W-1): bilinear in inverse
    depth over the 4 neighbours; ``ok`` False where a neighbour lacks depth or the 4 disagree
    by more than ``edge_tol`` (a depth edge)."""
    h, w = depth.shape
    u, v = uv[:, 0], uv[:, 1]
    u0 = np.clip(np.floor(u).astype(np.int64), 0, w - 1)
    v0 = np.clip(np.floor(v).astype(np.int64), 0, h - 1)
    u1 = np.minimum(u0 + 1, w - 1)
    v1 = np.minimum(v0 + 1, h - 1)
    fu, fv = u - u0, v - v0
    corners = np.stack([depth[v0, u0], depth[v0, u1], depth[v1, u0], depth[v1, u1]])
    corners = corners.astype(np.float64)
    ok = np.all(np.isfinite(corners) & (corners > 0) & (corners <= max_depth), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(ok, corners, 1.0)
        ok &= corners.max(0) <= (1.0 + edge_tol) * corners.min(0)
        weights = np.stack([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv])
        d = 1.0 / np.sum(weights * inv, axis=0)
    return d, ok


def _one_way(depth_i, depth_j, K_i, K_j, T_i_to_j, occlusion_tol, edge_tol, max_depth, stride):
    """Distances (metres), depths in j and flat indices (into the strided grid of view i) of
    the pixels of view i matched in view j."""
    d_i = np.asarray(depth_i, dtype=np.float64)[::stride, ::stride]
    # pixel (u', v') of the strided map is pixel (stride u', stride v') of the full one
    Ks_i = np.diag([1.0 / stride, 1.0 / stride, 1.0]) @ np.asarray(K_i, np.float64)
    valid = np.isfinite(d_i) & (d_i > 0) & (d_i <= max_depth)
    pix = np.flatnonzero(valid)
    pts_i = backproject(np.where(valid, d_i, 0.0), Ks_i)[valid]  # (N, 3) in camera i
    pts_j = transform_points(T_i_to_j, pts_i)  # in camera j
    uv, z = project(pts_j, K_j)
    dj = np.asarray(depth_j)
    inside = (z > EPS_Z) & inside_image(uv, dj.shape, margin=0)
    uv, pts_j, pix = uv[inside], pts_j[inside], pix[inside]
    d_j, ok = _bilinear_depth(dj, uv, max_depth, edge_tol)
    ok &= pts_j[:, 2] <= (1.0 + occlusion_tol) * d_j  # behind j's surface: hidden from j
    uv1 = np.concatenate([uv[ok], np.ones((int(ok.sum()), 1))], axis=1)
    back_j = (uv1 @ np.linalg.inv(np.asarray(K_j, np.float64)).T) * d_j[ok, None]
    dist = np.linalg.norm(pts_j[ok] - back_j, axis=1)
    return dist, d_j[ok], pix[ok]


def pair_consistency(depth_i: np.ndarray, depth_j: np.ndarray, K_i, K_j, T_i_to_j,
                     occlusion_tol: float = 0.05, edge_tol: float = 0.05,
                     max_depth: float = MAX_DEPTH_M, stride: int = 1) -> PairConsistency:
    """Consistency of two views given their depth maps, intrinsics and ``T_i_to_j`` (4x4,
    camera i -> camera j). ``stride`` subsamples the *source* pixels (speed)."""
    T_i_to_j = np.asarray(T_i_to_j, dtype=np.float64)
    args = (occlusion_tol, edge_tol, max_depth, stride)
    a, da, _ = _one_way(depth_i, depth_j, K_i, K_j, T_i_to_j, *args)
    b, db, _ = _one_way(depth_j, depth_i, K_j, K_i, np.linalg.inv(T_i_to_j), *args)
    dist = np.concatenate([a, b])
    if len(dist) == 0:
        return PairConsistency(float("nan"), float("nan"), 0, float("nan"))
    rel = dist / np.concatenate([da, db])
    return PairConsistency(float(dist.mean()), float(np.median(dist)), int(len(dist)),
                           float(rel.mean()))


def _rig_inputs(depths, Ks, cam_to_ego, pairs):
    """Checked arrays ``depths (V,H,W)``, ``Ks (V,3,3)``, ``cam_to_ego (V,4,4)`` and the pairs
    (default: :func:`fsmde_gui.core.adjacency.camera_adjacency` of the rig)."""
    depths = np.asarray(depths)
    Ks = np.asarray(Ks, dtype=np.float64)
    cam_to_ego = np.asarray(cam_to_ego, dtype=np.float64)
    v = len(depths)
    if depths.ndim != 3 or Ks.shape != (v, 3, 3) or cam_to_ego.shape != (v, 4, 4):
        raise ValueError(f"need depths (V, H, W), Ks (V, 3, 3), cam_to_ego (V, 4, 4); got "
                         f"{depths.shape}, {Ks.shape}, {cam_to_ego.shape}")
    if pairs is None:
        pairs = camera_adjacency(Ks, cam_to_ego, depths.shape[1:])
    return depths, Ks, cam_to_ego, pairs


def cross_view_consistency_details(depths: np.ndarray, Ks, cam_to_ego, pairs=None,
                                   names=CAMERA_NAMES, occlusion_tol: float = 0.05,
                                   edge_tol: float = 0.05, max_depth: float = MAX_DEPTH_M,
                                   stride: int = 1) -> dict[str, PairConsistency]:
    """:class:`PairConsistency` per adjacent pair, keyed ``"CAM_A|CAM_B"``.

    ``depths (V, H, W)`` metres (0 = none), ``Ks (V, 3, 3)``, ``cam_to_ego (V, 4, 4)``;
    ``pairs`` defaults to :func:`fsmde_gui.core.adjacency.camera_adjacency` of the rig.
    """
    depths, Ks, cam_to_ego, pairs = _rig_inputs(depths, Ks, cam_to_ego, pairs)
    out = {}
    for i, j in pairs:
        T_i_to_j = relative_transform(cam_to_ego[j], cam_to_ego[i])
        out[pair_name(i, j, names)] = pair_consistency(depths[i], depths[j], Ks[i], Ks[j],
                                                       T_i_to_j, occlusion_tol, edge_tol,
                                                       max_depth, stride)
    return out


def cross_view_consistency(depths: np.ndarray, Ks, cam_to_ego, pairs=None, names=CAMERA_NAMES,
                           occlusion_tol: float = 0.05, edge_tol: float = 0.05,
                           max_depth: float = MAX_DEPTH_M, stride: int = 1) -> dict[str, float]:
    """Mean 3D distance (metres) between the two views' points of the same surface, one entry
    per adjacent pair ``"CAM_A|CAM_B"``, plus ``"mean"`` (mean over the pairs with matches;
    nan if none). Medians and counts: :func:`cross_view_consistency_details`."""
    details = cross_view_consistency_details(depths, Ks, cam_to_ego, pairs, names,
                                             occlusion_tol, edge_tol, max_depth, stride)
    out = {name: c.mean for name, c in details.items()}
    vals = [v for v in out.values() if np.isfinite(v)]
    out["mean"] = float(np.mean(vals)) if vals else float("nan")
    return out


def consistency_maps(depths: np.ndarray, Ks, cam_to_ego, pairs=None,
                     occlusion_tol: float = 0.05, edge_tol: float = 0.05,
                     max_depth: float = MAX_DEPTH_M) -> np.ndarray:
    """Per-pixel cross-view distance ``(V, H, W)`` float32, metres: for each pixel of each view
    the mean, over the adjacent views that see the same surface, of the distance between its
    point and theirs; NaN where no neighbour matched (outside the overlaps, occluded, no
    depth). The map behind :func:`cross_view_consistency`, for display. A view whose depth is
    too long is "hidden" behind its neighbours' surfaces, so its error shows on their pixels."""
    depths, Ks, cam_to_ego, pairs = _rig_inputs(depths, Ks, cam_to_ego, pairs)
    v = len(depths)
    total = np.zeros(depths.shape, dtype=np.float64).reshape(v, -1)
    count = np.zeros_like(total)
    for i, j in pairs:
        for a, b in ((i, j), (j, i)):
            T = relative_transform(cam_to_ego[b], cam_to_ego[a])
            dist, _, pix = _one_way(depths[a], depths[b], Ks[a], Ks[b], T, occlusion_tol,
                                    edge_tol, max_depth, 1)
            total[a, pix] += dist  # pix are unique within one direction
            count[a, pix] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, total / count, np.nan)
    return out.reshape(depths.shape).astype(np.float32)
