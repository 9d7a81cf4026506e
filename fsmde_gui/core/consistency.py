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
from functools import lru_cache

import numpy as np

from .adjacency import camera_adjacency
from .geometry import (EPS_Z, backproject, inside_image, project, relative_transform,
                       transform_points)
from .types import CAMERA_NAMES, MAX_DEPTH_M

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


TILE = 16
"""Source pixels are culled in tiles of TILE x TILE (strided) pixels before projecting:
a tile whose points cannot reach view j's image is skipped (see :func:`_tiles_reaching`)."""
_CULL_MARGIN = 2.0  # pixels beyond the image a tile may reach and still be kept (round-off)


@dataclass(frozen=True)
class _RayGrid:
    """The rays of one camera's strided pixel grid and their range per tile."""

    rays: np.ndarray  # (h * w, 3) K^-1 [stride u', stride v', 1], read-only
    tile: np.ndarray  # (h * w,) tile index of each pixel
    lo: np.ndarray  # (tiles, 3) smallest ray component per tile
    hi: np.ndarray  # (tiles, 3) largest


def _tiled(a: np.ndarray, fill: float) -> np.ndarray:
    """``(h, w, ...)`` -> ``(tiles, TILE * TILE, ...)``, padded with ``fill``."""
    h, w = a.shape[:2]
    ty, tx = -(-h // TILE), -(-w // TILE)
    pad = np.full((ty * TILE, tx * TILE) + a.shape[2:], fill, a.dtype)
    pad[:h, :w] = a
    pad = pad.reshape((ty, TILE, tx, TILE) + a.shape[2:]).swapaxes(1, 2)
    return pad.reshape((ty * tx, TILE * TILE) + a.shape[2:])


_CACHED_GRID_PIXELS = 250_000
"""Ray grids up to this size are cached (the evaluation's strided 400 x 225 nuScenes grid:
3 MB a camera); a full-resolution one (1.44 million pixels, 46 MB) is rebuilt per call."""


def _ray_grid(K, stride: int, hs: int, ws: int) -> _RayGrid:
    """The :class:`_RayGrid` of intrinsics ``K`` on an ``(hs, ws)`` strided grid, cached
    when small: a rig's intrinsics are static, so one grid per camera and stride."""
    key = (np.ascontiguousarray(K, dtype=np.float64).tobytes(), int(stride), hs, ws)
    return _cached_ray_grid(*key) if hs * ws <= _CACHED_GRID_PIXELS else _make_ray_grid(*key)


def _make_ray_grid(K_bytes: bytes, stride: int, hs: int, ws: int) -> _RayGrid:
    K = np.frombuffer(K_bytes, np.float64).reshape(3, 3)
    # pixel (u', v') of the strided map is pixel (stride u', stride v') of the full one
    Ks = np.diag([1.0 / stride, 1.0 / stride, 1.0]) @ K
    rays = backproject(np.ones((hs, ws)), Ks)  # depth 1: the rays themselves
    tx = -(-ws // TILE)
    tile = (np.arange(hs, dtype=np.int32)[:, None] // TILE) * tx \
        + np.arange(ws, dtype=np.int32)[None, :] // TILE
    tiled = _tiled(rays, np.nan)
    grid = _RayGrid(rays.reshape(-1, 3), tile.reshape(-1), np.nanmin(tiled, axis=1),
                    np.nanmax(tiled, axis=1))
    for arr in (grid.rays, grid.tile, grid.lo, grid.hi):
        arr.setflags(write=False)
    return grid


_cached_ray_grid = lru_cache(maxsize=24)(_make_ray_grid)


@dataclass(frozen=True)
class _Source:
    """The valid strided pixels of one view and the depth range of each tile."""

    depth: np.ndarray  # (h * w,) float64 strided depth
    valid: np.ndarray  # (h * w,) bool
    grid: _RayGrid
    d_lo: np.ndarray  # (tiles,) smallest valid depth of each tile (inf: none)
    d_hi: np.ndarray  # (tiles,) largest (-inf: none)


def _source(depth_i, K_i, max_depth: float, stride: int) -> _Source:
    """View i as the source of a pair: only its strided pixels are read and converted (not
    the whole float32 map)."""
    d = np.asarray(depth_i)[::stride, ::stride].astype(np.float64)
    grid = _ray_grid(K_i, stride, *d.shape)
    valid = np.isfinite(d) & (d > 0) & (d <= max_depth)
    d_lo = _tiled(np.where(valid, d, np.inf), np.inf).min(axis=1)
    d_hi = _tiled(np.where(valid, d, -np.inf), -np.inf).max(axis=1)
    return _Source(d.reshape(-1), valid.reshape(-1), grid, d_lo, d_hi)


_CORNERS = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], bool)


def _tiles_reaching(src: _Source, K_j, T_i_to_j, hw_j: tuple[int, int]) -> np.ndarray:
    """(tiles,) bool, False only for tiles none of whose valid points can land inside view j.

    A tile's points ``d r`` (d in its depth range, r in its ray range) lie in an axis-aligned
    box; moved into camera j, the box's 8 corners bound every linear function of its points.
    The tile is culled when, for one of the image's side planes (u >= 0, u <= W - 1, same
    for v, widened by ``_CULL_MARGIN``) or the plane z = EPS_Z, every corner is outside:
    then no point of the tile can pass :func:`inside_image`. A conservative test: the exact
    one runs on the kept points."""
    g = src.grid
    has = np.flatnonzero(src.d_lo <= src.d_hi)
    lo, hi = src.d_lo[has, None], src.d_hi[has, None]
    r_lo, r_hi = g.lo[has], g.hi[has]
    ends = np.stack([lo * r_lo, lo * r_hi, hi * r_lo, hi * r_hi])
    # d > 0: a box holding the tile's points has the extreme products as its faces
    corners = np.where(_CORNERS, ends.max(0)[:, None], ends.min(0)[:, None])  # (n, 8, 3)
    T = np.asarray(T_i_to_j, np.float64)
    pj = corners @ T[:3, :3].T + T[:3, 3]
    hom = pj @ np.asarray(K_j, np.float64).T
    x, y, z = hom[..., 0], hom[..., 1], pj[..., 2]
    h, w = hw_j
    m = _CULL_MARGIN
    planes = np.stack([z - EPS_Z, x + m * z, (w - 1 + m) * z - x, y + m * z,
                       (h - 1 + m) * z - y])  # (5, n, 8): >= 0 on the kept side
    out = np.zeros(len(g.lo), bool)
    out[has] = (planes.max(axis=2) >= 0).all(axis=0)
    return out


def _one_way(depth_i, depth_j, K_i, K_j, T_i_to_j, occlusion_tol, edge_tol, max_depth, stride,
             source: _Source | None = None):
    """Distances (metres), depths in j and flat indices (into the strided grid of view i) of
    the pixels of view i matched in view j. ``source``: :func:`_source` of view i, when
    already computed (each view is the source of two pairs)."""
    src = source if source is not None else _source(depth_i, K_i, max_depth, stride)
    dj = np.asarray(depth_j)
    keep = _tiles_reaching(src, K_j, T_i_to_j, dj.shape)
    pix = np.flatnonzero(src.valid & keep[src.grid.tile])  # ascending, as without culling
    pts_i = src.grid.rays[pix] * src.depth[pix, None]  # (N, 3) in camera i
    pts_j = transform_points(T_i_to_j, pts_i)  # in camera j
    uv, z = project(pts_j, K_j)
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
    return _pair_consistency(depth_i, depth_j, K_i, K_j, T_i_to_j, occlusion_tol, edge_tol,
                             max_depth, stride)


def _pair_consistency(depth_i, depth_j, K_i, K_j, T_i_to_j, occlusion_tol, edge_tol, max_depth,
                      stride, sources=(None, None)) -> PairConsistency:
    """:func:`pair_consistency`; ``sources``: the two views' :func:`_source`, if known."""
    T_i_to_j = np.asarray(T_i_to_j, dtype=np.float64)
    args = (occlusion_tol, edge_tol, max_depth, stride)
    a, da, _ = _one_way(depth_i, depth_j, K_i, K_j, T_i_to_j, *args, source=sources[0])
    b, db, _ = _one_way(depth_j, depth_i, K_j, K_i, np.linalg.inv(T_i_to_j), *args,
                        source=sources[1])
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
    out, sources = {}, {}
    for v in sorted({v for pair in pairs for v in pair}):  # each view is in two pairs
        sources[v] = _source(depths[v], Ks[v], max_depth, stride)
    for i, j in pairs:
        T_i_to_j = relative_transform(cam_to_ego[j], cam_to_ego[i])
        out[pair_name(i, j, names)] = _pair_consistency(
            depths[i], depths[j], Ks[i], Ks[j], T_i_to_j, occlusion_tol, edge_tol, max_depth,
            stride, (sources[i], sources[j]))
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
