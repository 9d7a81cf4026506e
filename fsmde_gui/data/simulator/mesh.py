"""Triangle soup with per-triangle attributes (class, instance, material, colour, params).

Everything in a simulated street is a ``Mesh``: the ray caster gets one triangle array and
looks up every attribute of a hit by its primitive id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# face index of each of the 12 box triangles: 0:-x 1:+x 2:-y 3:+y 4:-z (bottom) 5:+z (top)
BOX_FACE_OF_TRIANGLE = np.repeat(np.arange(6), 2)
_BOX_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
_BOX_TRIS = np.array([
    [0, 1, 3], [0, 3, 2],  # -x
    [4, 6, 7], [4, 7, 5],  # +x
    [0, 4, 5], [0, 5, 1],  # -y
    [2, 3, 7], [2, 7, 6],  # +y
    [0, 2, 6], [0, 6, 4],  # -z
    [1, 5, 7], [1, 7, 3],  # +z
])


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_geometry(center, extent_xyz, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (then yawed) box of ``extent_xyz`` (along x, y, z) -> (8, 3) vertices,
    (12, 3) triangles."""
    v = _BOX_CORNERS * np.asarray(extent_xyz, np.float64)
    v = v @ rot_z(yaw).T + np.asarray(center, np.float64)
    return v, _BOX_TRIS.copy()


def cylinder_geometry(center, radius: float, height: float, axis: str = "z",
                      resolution: int = 10) -> tuple[np.ndarray, np.ndarray]:
    import open3d as o3d  # heavy; imported when the simulator builds a scene

    m = o3d.geometry.TriangleMesh.create_cylinder(radius=radius, height=height,
                                                  resolution=resolution, split=1)
    v = np.asarray(m.vertices)
    if axis == "y":
        v = v[:, [0, 2, 1]]
    elif axis == "x":
        v = v[:, [2, 1, 0]]
    return v + np.asarray(center, np.float64), np.asarray(m.triangles).copy()


def ellipsoid_geometry(center, radii, resolution: int = 6) -> tuple[np.ndarray, np.ndarray]:
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_sphere(radius=1.0, resolution=resolution)
    v = np.asarray(m.vertices) * np.asarray(radii, np.float64)
    return v + np.asarray(center, np.float64), np.asarray(m.triangles).copy()


@dataclass
class Mesh:
    """Triangle soup. ``params`` (T, 4) float32 are material-specific texture parameters;
    ``gloss`` (T,) scales the material's specular and mirror terms (randomised per object)."""

    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    triangles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    semantic: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    instance: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    material: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    params: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    gloss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # lobe scale

    @property
    def num_triangles(self) -> int:
        return int(self.triangles.shape[0])

    def transformed(self, R: np.ndarray, t) -> "Mesh":
        return Mesh(self.vertices @ np.asarray(R).T + np.asarray(t), self.triangles,
                    self.semantic, self.instance, self.material, self.color, self.params,
                    self.gloss)

    @staticmethod
    def concat(meshes: list["Mesh"]) -> "Mesh":
        meshes = [m for m in meshes if m.num_triangles]
        if not meshes:
            return Mesh()
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        return Mesh(
            np.concatenate([m.vertices for m in meshes]),
            np.concatenate([m.triangles + o for m, o in zip(meshes, offsets)]),
            np.concatenate([m.semantic for m in meshes]),
            np.concatenate([m.instance for m in meshes]),
            np.concatenate([m.material for m in meshes]),
            np.concatenate([m.color for m in meshes]),
            np.concatenate([m.params for m in meshes]),
            np.concatenate([m.gloss for m in meshes]),
        )


class MeshBuilder:
    """Collects parts; ``build()`` returns one ``Mesh``."""

    def __init__(self):
        self._parts: list[Mesh] = []

    def add(self, vertices, triangles, semantic: int, instance: int, material,
            color=(0.5, 0.5, 0.5), params=(0, 0, 0, 0), gloss: float = 1.0) -> None:
        """``material`` (and ``color``) may be one value or one per triangle."""
        n = len(triangles)
        mat = np.broadcast_to(np.asarray(material, np.int16), (n,)).copy()
        col = np.broadcast_to(np.asarray(color, np.float32), (n, 3)).copy()
        par = np.broadcast_to(np.asarray(params, np.float32), (n, 4)).copy()
        self._parts.append(Mesh(np.asarray(vertices, np.float64), np.asarray(triangles, np.int64),
                                np.full(n, semantic, np.uint8), np.full(n, instance, np.int32),
                                mat, col, par, np.full(n, gloss, np.float32)))

    def build(self) -> Mesh:
        return Mesh.concat(self._parts)
