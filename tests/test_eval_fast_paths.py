"""The evaluation's fast paths give the figures of the straightforward code they replace.

Each reference below is the earlier implementation, kept verbatim in spirit (whole maps,
every strided pixel projected, one sphere test per box over all points, ``np.minimum.at``):
the optimised code must reproduce it to the last bit (or float round-off) on small cases.
"""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core import consistency as C
from fsmde_gui.core.adjacency import camera_adjacency
from fsmde_gui.core.bin_stats import bin_stats
from fsmde_gui.core.box_metrics import BoxDepthErrors
from fsmde_gui.core.boxes import box_class, box_of_points, points_in_box
from fsmde_gui.core.geometry import (EPS_Z, backproject, frame_camera_poses, inside_image,
                                     pixel_grid, project, relative_transform,
                                     transform_points)
from fsmde_gui.core.rig import load_rig
from fsmde_gui.core.types import Box3D, DepthResult
from fsmde_gui.data.detect import open_dataset
from fsmde_gui.data.lidar import rasterize_depth
from fsmde_gui.evaluation.evaluate import FrameScores, image_metrics


# ----------------------------------------------------------------- the earlier implementations
def one_way_reference(depth_i, depth_j, K_i, K_j, T_i_to_j, occlusion_tol, edge_tol, max_depth,
                      stride):
    d_i = np.asarray(depth_i, dtype=np.float64)[::stride, ::stride]
    Ks_i = np.diag([1.0 / stride, 1.0 / stride, 1.0]) @ np.asarray(K_i, np.float64)
    valid = np.isfinite(d_i) & (d_i > 0) & (d_i <= max_depth)
    pix = np.flatnonzero(valid)
    pts_i = backproject(np.where(valid, d_i, 0.0), Ks_i)[valid]
    pts_j = transform_points(T_i_to_j, pts_i)
    uv, z = project(pts_j, K_j)
    dj = np.asarray(depth_j)
    inside = (z > EPS_Z) & inside_image(uv, dj.shape, margin=0)
    uv, pts_j, pix = uv[inside], pts_j[inside], pix[inside]
    d_j, ok = C._bilinear_depth(dj, uv, max_depth, edge_tol)
    ok &= pts_j[:, 2] <= (1.0 + occlusion_tol) * d_j
    uv1 = np.concatenate([uv[ok], np.ones((int(ok.sum()), 1))], axis=1)
    back_j = (uv1 @ np.linalg.inv(np.asarray(K_j, np.float64)).T) * d_j[ok, None]
    return np.linalg.norm(pts_j[ok] - back_j, axis=1), d_j[ok], pix[ok]


def box_of_points_reference(points, boxes):
    points = np.asarray(points, np.float64)
    out = np.full(len(points), -1, np.int64)
    for i, box in enumerate(boxes):
        r = 0.5 * float(np.linalg.norm(box.size))
        near = np.flatnonzero((out < 0) & (np.sum((points - box.center) ** 2, 1) <= r * r))
        if near.size:
            out[near[points_in_box(points[near], box)]] = i
    return out


def box_sums_reference(frame, depth, max_depth, min_depth):
    """{class: [n, sum AbsRel, sum sq err, n δ<1.25]} as the per-view, whole-map code had it."""
    sums = {}
    poses = frame_camera_poses(frame)
    for v, view in enumerate(frame.views):
        gt = view.depth_sparse
        valid = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
        if not valid.any():
            continue
        rows, cols = np.nonzero(valid)
        z = gt[rows, cols].astype(np.float64)
        rays = np.stack([cols, rows, np.ones_like(cols)], 1).astype(np.float64) \
            @ np.linalg.inv(np.asarray(view.K, np.float64)).T
        pts = (rays * z[:, None]) @ poses[v][:3, :3].T + poses[v][:3, 3]
        pred = np.clip(np.asarray(depth[v], np.float64)[rows, cols], min_depth, max_depth)
        owner = box_of_points_reference(pts, frame.boxes)
        classes = np.array([box_class(b.category) for b in frame.boxes] + ["background"])
        label = classes[owner]
        for cls in np.unique(label):
            g, p = z[label == cls], pred[label == cls]
            ratio = np.maximum(g / p, p / g)
            row = np.array([g.size, np.sum(np.abs(g - p) / g), np.sum((g - p) ** 2),
                            np.sum(ratio < 1.25)], np.float64)
            sums[str(cls)] = sums.get(str(cls), np.zeros(4)) + row
    return sums


def rasterize_reference(uv, depth, hw):
    h, w = hw
    out = np.full((h, w), np.inf, dtype=np.float64)
    if len(depth):
        u = np.clip(np.round(uv[:, 0]).astype(np.int64), 0, w - 1)
        v = np.clip(np.round(uv[:, 1]).astype(np.int64), 0, h - 1)
        np.minimum.at(out, (v, u), np.asarray(depth, dtype=np.float64))
    out[~np.isfinite(out)] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sim(tiny_sim_root):
    """Two simulator frames and a wrong prediction for each (scaled per view, noisy, holes)."""
    ds = open_dataset(tiny_sim_root)
    rng = np.random.default_rng(7)
    out = []
    for s, i in list(ds.iter_frames())[:2]:
        frame = ds.frame(s, i)
        gt = np.stack([v.depth_gt for v in frame.views]).astype(np.float32)
        pred = gt * rng.uniform(0.9, 1.15, (len(gt), 1, 1)) \
            * rng.normal(1.0, 0.02, gt.shape)
        pred[:, ::17, ::13] = 0.0  # no depth here
        pred[0, 5:9, 5:9] = np.nan
        out.append((frame, pred.astype(np.float32)))
    return out


# --------------------------------------------------------------------------------------- tests
def room_depths(Ks, cam_to_ego, hw):
    """Exact z-depth of a room seen by the rig: ground z = 0, walls at x = -15 / 18, y = +-12,
    one pillar face at x = 6 (|y| < 1.5)."""
    h, w = hw
    uv1 = np.concatenate([pixel_grid(h, w), np.ones((h, w, 1))], -1)
    out = []
    for K, T in zip(Ks, cam_to_ego):
        d = (uv1 @ np.linalg.inv(K).T) @ T[:3, :3].T  # ego-frame direction of camera z = 1
        o = T[:3, 3]
        best = np.full((h, w), np.inf)
        for axis, c in ((2, 0.0), (0, -15.0), (0, 18.0), (1, -12.0), (1, 12.0), (0, 6.0)):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (c - o[axis]) / d[..., axis]
            hit = o + t[..., None] * d
            ok = t > 0
            if axis == 0 and c == 6.0:
                ok &= (np.abs(hit[..., 1]) < 1.5) & (hit[..., 2] < 3.0)
            best = np.where(ok & (t < best), t, best)
        out.append(np.where(np.isfinite(best), best, 0.0))
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize("stride, cached", [(1, True), (3, True), (2, False)])
def test_culled_consistency_equals_projecting_every_pixel(stride, cached, monkeypatch):
    if not cached:  # the ray grid rebuilt per call, as for full-resolution maps
        monkeypatch.setattr(C, "_CACHED_GRID_PIXELS", 0)
    rig = load_rig(width=448, height=256)
    Ks, poses = rig.intrinsics, rig.cam_to_ego
    rng = np.random.default_rng(stride)
    pred = room_depths(Ks, poses, (256, 448))
    pred *= rng.uniform(0.9, 1.15, (6, 1, 1)) * rng.normal(1.0, 0.01, pred.shape)
    pred[:, ::17, ::13] = 0.0  # no depth here
    pred[0, 5:9, 400:420] = np.nan
    pred[3, 100:140] = 95.0  # beyond the cap
    pred = pred.astype(np.float32)
    pairs = camera_adjacency(Ks, poses, (256, 448))
    matched = 0
    for i, j in pairs:
        for a, b in ((i, j), (j, i)):
            T = relative_transform(poses[b], poses[a])
            ref = one_way_reference(pred[a], pred[b], Ks[a], Ks[b], T, 0.05, 0.05, 80.0, stride)
            got = C._one_way(pred[a], pred[b], Ks[a], Ks[b], T, 0.05, 0.05, 80.0, stride)
            np.testing.assert_array_equal(got[2], ref[2])  # the same pixels matched
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
            matched += len(ref[2])
    assert matched > 2000 // stride ** 2  # the case has overlaps to cull around
    details = C.cross_view_consistency_details(pred, Ks, poses, pairs, stride=stride)
    for (i, j), (name, c) in zip(pairs, details.items()):
        T = relative_transform(poses[j], poses[i])
        a = one_way_reference(pred[i], pred[j], Ks[i], Ks[j], T, 0.05, 0.05, 80.0, stride)
        b = one_way_reference(pred[j], pred[i], Ks[j], Ks[i], np.linalg.inv(T), 0.05, 0.05,
                              80.0, stride)
        dist = np.concatenate([a[0], b[0]])
        assert c.count == len(dist) > 0, name
        assert c.mean == pytest.approx(dist.mean(), rel=1e-12)
        assert c.median == pytest.approx(np.median(dist), rel=1e-12)


def test_box_of_points_equals_one_sphere_test_per_box():
    rng = np.random.default_rng(3)
    boxes = []
    for k in range(40):  # overlapping boxes: the first one holding a point must win
        yaw = rng.uniform(-np.pi, np.pi)
        R = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        boxes.append(Box3D(center=rng.uniform(-20, 20, 3) * [1, 1, 0.1],
                           size=tuple(rng.uniform(0.5, 6, 3)), rotation=R, category="car"))
    pts = rng.uniform(-25, 25, (5000, 3)) * [1, 1, 0.1]
    pts[:5] = [b.center for b in boxes[:5]]  # on a centre
    pts[5] = np.nan
    ref = box_of_points_reference(pts, boxes)
    assert (ref >= 0).sum() > 100
    np.testing.assert_array_equal(box_of_points(pts, boxes), ref)
    assert box_of_points(pts[:0], boxes).shape == (0,)


def test_box_errors_equal_the_whole_map_computation(sim):
    acc = BoxDepthErrors(80.0, 1e-3)
    ref: dict = {}
    for frame, pred in sim:
        assert frame.boxes
        acc.add(frame, pred)
        for cls, row in box_sums_reference(frame, pred, 80.0, 1e-3).items():
            ref[cls] = ref.get(cls, np.zeros(4)) + row
    assert set(acc._sums) == set(ref) and len(ref) >= 2
    for cls in ref:
        np.testing.assert_allclose(acc._sums[cls], ref[cls], rtol=1e-12)


def test_frame_scores_on_gt_pixels_equal_whole_map_figures(sim):
    rng = np.random.default_rng(5)
    scores = FrameScores(80.0, 1e-3, consistency=False)
    ref_metrics: dict[str, list[dict]] = {}
    ref_bins = []
    for frame, pred in sim:
        v = len(frame.views)
        centers = np.sort(rng.uniform(1, 80, (v, 16)), axis=1).astype(np.float32)
        probs = rng.dirichlet(np.ones(16), (v, 6, 8)).transpose(0, 3, 1, 2).astype(np.float32)
        scores.add(frame, DepthResult(depth=pred, bin_centers=centers, bin_probs=probs))
        for k, view in enumerate(frame.views):
            ref_metrics.setdefault(view.name, []).append(
                image_metrics(pred[k], view.depth_sparse, 80.0, 1e-3))
            ref_bins.append(bin_stats(centers[k], probs[k], view.depth_sparse, 80.0))
    assert {k: len(r) for k, r in scores.per_cam.items()} == \
        {k: len(r) for k, r in ref_metrics.items()}
    for name, rows in ref_metrics.items():
        for got, ref in zip(scores.per_cam[name], rows):
            assert got.keys() == ref.keys()
            for key in ref:
                assert got[key] == pytest.approx(ref[key], rel=1e-12, nan_ok=True), key
    assert scores.bin_rows == ref_bins


def test_rasterize_depth_keeps_the_nearest_point_as_minimum_at_did():
    rng = np.random.default_rng(1)
    for trial in range(60):
        n = int(rng.integers(0, 200))
        uv, d = rng.uniform(-2, 12, (n, 2)), rng.uniform(0.5, 90, n)
        if trial % 3 == 0 and n:
            d[rng.integers(0, n, 5)] = rng.choice([np.nan, np.inf, -np.inf, 3.0], 5)
        if trial % 4 == 0:
            d = d.astype(np.float32)
        got, ref = rasterize_depth(uv, d, (9, 11)), rasterize_reference(uv, d, (9, 11))
        assert got.dtype == ref.dtype == np.float32
        np.testing.assert_array_equal(got, ref)
