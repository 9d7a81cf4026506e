"""Thin wrapper over ``open3d.t.geometry.RaycastingScene`` for one ``Mesh``."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .mesh import Mesh

if TYPE_CHECKING:
    import open3d as o3d


def num_threads() -> int:
    """Threads for open3d ray casting: ``FSMDE_NUM_THREADS`` (0 = all cores)."""
    try:
        return max(0, int(os.environ.get("FSMDE_NUM_THREADS", "0")))
    except ValueError:
        return 0


class RayScene:
    """Ray queries against one mesh; hit attributes are looked up by primitive id."""

    def __init__(self, mesh: Mesh):
        import open3d as o3d  # heavy; imported when the simulator casts rays

        self.mesh = mesh
        self._scene = o3d.t.geometry.RaycastingScene()
        self._scene.add_triangles(
            o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.vertices, np.float32)),
            o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.triangles, np.uint32)))
        self._threads = num_threads()

    @staticmethod
    def _rays(origins: np.ndarray, dirs: np.ndarray) -> "o3d.core.Tensor":
        import open3d as o3d

        o = np.broadcast_to(origins, dirs.shape)
        return o3d.core.Tensor.from_numpy(np.ascontiguousarray(np.concatenate([o, dirs], -1),
                                                               np.float32))

    def cast(self, origins: np.ndarray, dirs: np.ndarray) -> dict[str, np.ndarray]:
        """First hits: ``t`` (in units of |dir|, inf = miss), ``prim`` (triangle index, -1 =
        miss) and ``normal`` (geometric, unit, facing the ray origin)."""
        if len(dirs) == 0:
            return {"t": np.zeros(0, np.float32), "prim": np.zeros(0, np.int64),
                    "normal": np.zeros((0, 3), np.float32)}
        out = self._scene.cast_rays(self._rays(origins, dirs), nthreads=self._threads)
        t = out["t_hit"].numpy()
        hit = np.isfinite(t)
        prim = out["primitive_ids"].numpy().astype(np.int64)
        prim[~hit] = -1
        n = out["primitive_normals"].numpy()
        flip = np.sum(n * dirs, axis=-1) > 0
        n[flip] *= -1
        return {"t": t, "prim": prim, "normal": n}

    def occluded(self, origins: np.ndarray, dirs: np.ndarray, tfar: float = np.inf) -> np.ndarray:
        if len(dirs) == 0:
            return np.zeros(0, bool)
        return self._scene.test_occlusions(self._rays(origins, dirs), tnear=0.0, tfar=tfar,
                                           nthreads=self._threads).numpy().astype(bool)
