"""Speed of the geometry core on one 6 x 256 x 448 frame (what the app does interactively):
fuse six depth maps into a 360° cloud, voxel down-sample, remove outliers, write PLY, and the
rig analyses (adjacency, overlap masks, cross-view consistency, overlap mosaic).

Input: frame 0 of the bundled sample scenes (simulator dense GT) when present, else a
ray-cast scene of boxes on a ground plane seen by the real nuScenes rig.
Run: ``.venv/bin/python -m benchmarks.run_all fusion``.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

W, H = 448, 256
REPEATS = 3
SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample_scenes"


def _raycast_frame():
    import open3d as o3d

    from fsmde_gui.core.geometry import pixel_grid
    from fsmde_gui.core.rig import load_rig

    rig = load_rig(width=W, height=H)
    scene = o3d.t.geometry.RaycastingScene()
    boxes = [((200, 200, 0.2), (0, 0, -0.1))]
    rng = np.random.default_rng(0)
    for k in range(40):
        a, r = rng.uniform(0, 2 * np.pi), rng.uniform(6, 40)
        boxes.append(((rng.uniform(1, 5), rng.uniform(1, 5), rng.uniform(1, 8)),
                      (r * np.cos(a), r * np.sin(a), 2.0)))
    for size, centre in boxes:
        b = o3d.geometry.TriangleMesh.create_box(*size)
        b.translate(np.asarray(centre, float) - np.asarray(size, float) / 2)
        scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(b))
    uv1 = np.concatenate([pixel_grid(H, W), np.ones((H, W, 1))], -1)
    depths = []
    for K, T in zip(rig.intrinsics, rig.cam_to_ego):
        dirs = (uv1 @ np.linalg.inv(K).T) @ T[:3, :3].T
        rays = np.concatenate([np.broadcast_to(T[:3, 3], dirs.shape), dirs], -1)
        t = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
        depths.append(np.where(np.isfinite(t), t, 0.0))
    depths = np.stack(depths).astype(np.float32)
    images = (np.clip(depths / 60.0, 0, 1)[..., None] * 255).repeat(3, -1).astype(np.uint8)
    return "ray-cast boxes (real rig)", depths, rig.intrinsics, rig.cam_to_ego, images


def _frame():
    if (SAMPLE / ".complete").exists():
        from fsmde_gui.core.geometry import frame_camera_poses
        from fsmde_gui.data.detect import open_dataset

        f = open_dataset(SAMPLE).frame(0, 0, load_gt=True)
        if f.views[0].depth_dense is not None and f.views[0].hw == (H, W):
            depths = np.stack([v.depth_dense for v in f.views]).astype(np.float32)
            return ("sample scene 0 frame 0 (simulator dense GT)", depths, f.intrinsics,
                    frame_camera_poses(f), f.images)
    return _raycast_frame()


def _time(fn, repeats=REPEATS):
    out, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return out, statistics.median(times)


def main(out_dir: Path) -> dict:
    import torch

    from fsmde_gui.core.adjacency import _ADJACENCY_CACHE, camera_adjacency, neighbour_masks
    from fsmde_gui.core.consistency import cross_view_consistency
    from fsmde_gui.core.fusion import fuse_depth_maps, remove_outliers, voxel_downsample, write_ply
    from fsmde_gui.core.overlap_mosaic import overlap_mosaic

    threads = int(os.environ.get("FSMDE_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    source, depths, Ks, c2e, images = _frame()
    rows = []

    def row(name, ms, points_in=None, points_out=None, note=""):
        rows.append({"step": name, "ms": round(ms, 1), "points_in": points_in,
                     "points_out": points_out, "note": note})

    full, ms = _time(lambda: fuse_depth_maps(depths, Ks, c2e, images=images))
    row("fuse_depth_maps stride 1", ms, int(depths.size), len(full))
    half, ms = _time(lambda: fuse_depth_maps(depths, Ks, c2e, images=images, stride=2))
    row("fuse_depth_maps stride 2", ms, int(depths[:, ::2, ::2].size), len(half))
    down = {}
    for vs in (0.05, 0.1, 0.2):
        down[vs], ms = _time(lambda: voxel_downsample(full, vs))
        row(f"voxel_downsample {vs} m", ms, len(full), len(down[vs]))
    o3d_down, ms = _time(lambda: voxel_downsample(full, 0.05, backend="open3d"))
    row("voxel_downsample 0.05 m, open3d backend", ms, len(full), len(o3d_down))
    clean, ms = _time(lambda: remove_outliers(down[0.1]), repeats=1)
    row("remove_outliers (20 nn, 2 std) on 0.1 m", ms, len(down[0.1]), len(clean))
    clean_half, ms = _time(lambda: remove_outliers(half), repeats=1)
    row("remove_outliers on stride-2 cloud", ms, len(half), len(clean_half))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cloud.ply"
        _, ms = _time(lambda: write_ply(path, full))
        row("write_ply (binary) full cloud", ms, len(full), None,
            f"{path.stat().st_size / 1e6:.1f} MB")
    def adjacency_uncached():
        _ADJACENCY_CACHE.clear()  # measure the computation, not the per-rig cache
        return camera_adjacency(Ks, c2e, (H, W))

    pairs, ms = _time(adjacency_uncached)
    row("camera_adjacency (stride 4, 8 depths)", ms, note=f"{len(pairs)} pairs")
    _, ms = _time(lambda: neighbour_masks(Ks, c2e, (H, W), pairs=pairs))
    row("overlap masks, all pairs, full res", ms)
    cons, ms = _time(lambda: cross_view_consistency(depths, Ks, c2e, pairs=pairs))
    row("cross_view_consistency (6 pairs)", ms, note=f"mean {cons['mean'] * 1000:.2f} mm on GT")
    _, ms = _time(lambda: overlap_mosaic(Ks, c2e, (H, W), images=images, pairs=pairs))
    row("overlap_mosaic", ms)

    print(f"input: {source}, 6 x {H} x {W}, {threads} threads, median of {REPEATS}")
    print(f"{'step':42s} {'ms':>9s} {'points in':>10s} {'points out':>10s}  note")
    for r in rows:
        pin = "" if r["points_in"] is None else str(r["points_in"])
        pout = "" if r["points_out"] is None else str(r["points_out"])
        print(f"{r['step']:42s} {r['ms']:9.1f} {pin:>10s} {pout:>10s}  {r['note']}")
    return {"input": source, "size": [6, H, W], "threads": threads, "rows": rows}


if __name__ == "__main__":
    main(Path(tempfile.gettempdir()))
