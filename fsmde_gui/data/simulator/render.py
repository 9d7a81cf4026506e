"""Camera rendering: z-depth, semantics, instances and a decomposed image.

Image model (stored consistently): ``image = albedo * shading + specular`` where
``albedo`` is the procedural surface colour, ``shading`` (grey, in [0, 1]) is
``ambient + (1 - ambient) * max(0, n.l) * sun_visible`` (sun + ambient, Lambertian, shadow
rays), and ``specular`` (RGB, >= 0) is the non-Lambertian residual: a Blinn-Phong sun
highlight plus a one-bounce mirror reflection weighted by Schlick's Fresnel term (glass,
car paint, wet road). ``specular`` is stored after clipping the image to [0, 1], so the
identity holds exactly in float. Reflective-pixel mask: every glass (windows, car glass) and
wet-road pixel, plus car paint where the specular residual is visible (mean > 0.03). Sky pixels: albedo = sky colour, shading = 1, specular = 0,
depth = 0, semantic = sky.
"""
from __future__ import annotations

import numpy as np

from .classes import SKY
from .layout import Sun
from .mesh import Mesh
from .noise import fbm
from .raycast import RayScene
from .textures import surface_appearance

EPS = 0.02  # offset of secondary rays along the normal (m)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (N, 3) arrays."""
    return np.einsum("ij,ij->i", a, b)


def sky_color(d: np.ndarray, sun: Sun) -> np.ndarray:
    """(N, 3) unit directions -> sky radiance (with a sun glow)."""
    e = np.clip(d[:, 2], 0.0, 1.0) ** 0.5
    col = sun.sky_horizon[None] * (1 - e[:, None]) + sun.sky_zenith[None] * e[:, None]
    below = d[:, 2] < 0
    col[below] = sun.sky_horizon * 0.85
    if sun.cloud_cover > 0:  # fbm clouds on a layer 1.5 km up, faded towards the horizon
        up = d[:, 2] > 0.02
        if up.any():
            du = d[up]
            x, y = du[:, 0] / du[:, 2] * 1500.0, du[:, 1] / du[:, 2] * 1500.0
            f = fbm(x, y, 2500.0, sun.cloud_seed, 4)
            lo = 1.0 - sun.cloud_cover
            m = np.clip((f - lo) / 0.15, 0.0, 1.0) * np.clip((du[:, 2] - 0.02) / 0.15, 0.0, 1.0)
            white = 0.92 - 0.25 * np.clip((f - lo) / 0.4, 0.0, 1.0)  # thick clouds are darker
            col[up] = col[up] * (1 - m[:, None]) + (white * m)[:, None]
    c = np.clip(d @ sun.direction, 0.0, 1.0)
    strength = float(np.max(sun.color))  # overcast: dim glow
    glow = (c ** 400 * 2.0 + c ** 12 * 0.15) * strength
    return np.clip(col + glow[:, None] * sun.color[None], 0.0, 1.0).astype(np.float32)


def _shade(scene: RayScene, P: np.ndarray, n: np.ndarray, sun: Sun, shadows: bool = True):
    lam = np.clip(n @ sun.direction, 0.0, None).astype(np.float32)
    visible = np.ones(len(P), np.float32)
    lit = lam > 0
    if shadows and lit.any():
        occ = scene.occluded(P[lit] + EPS * n[lit], np.broadcast_to(sun.direction, (lit.sum(), 3)))
        visible[np.flatnonzero(lit)[occ]] = 0.0
    shading = sun.ambient + (1 - sun.ambient) * lam * visible
    return shading.astype(np.float32), visible, lam


def _appearance(mesh: Mesh, prim: np.ndarray, P: np.ndarray, n: np.ndarray, seed: int) -> dict:
    return surface_appearance(P, n, mesh.material[prim], mesh.color[prim], mesh.params[prim],
                              mesh.semantic[prim], seed, mesh.gloss[prim])


def shade_points(scene: RayScene, P: np.ndarray, prim: np.ndarray, n: np.ndarray, sun: Sun,
                 seed: int, shadows: bool = True) -> np.ndarray:
    """Diffuse radiance (albedo * shading) of surface points (used for reflections)."""
    app = _appearance(scene.mesh, prim, P, n, seed)
    shading, _, _ = _shade(scene, P, n, sun, shadows)
    return app["albedo"] * shading[:, None]


def render_rays(scene: RayScene, origins: np.ndarray, dirs: np.ndarray, sun: Sun,
                seed: int, reflections: bool = True) -> dict[str, np.ndarray]:
    """Render N rays. ``dirs`` are un-normalised so that ``t`` is the wanted depth unit
    (camera rays with z_cam = 1 give z-depth). Returns flat per-ray arrays."""
    N = len(dirs)
    hits = scene.cast(origins, dirs)
    t, prim, nrm = hits["t"], hits["prim"], hits["normal"]
    hit = prim >= 0
    dirs = np.asarray(dirs, np.float32)
    dn = dirs / np.sqrt(_dot(dirs, dirs))[:, None]
    out = {
        "depth": np.where(hit, t, 0.0).astype(np.float32),
        "semantic": np.full(N, SKY, np.uint8),
        "instance": np.zeros(N, np.int32),
        "albedo": np.zeros((N, 3), np.float32),
        "shading": np.ones(N, np.float32),
        "specular": np.zeros((N, 3), np.float32),
        "reflective": np.zeros(N, bool),
    }
    sky = ~hit
    out["albedo"][sky] = sky_color(dn[sky], sun)
    idx = np.flatnonzero(hit)
    if len(idx):
        o = np.broadcast_to(origins, dirs.shape)[idx]
        P = (o + t[idx, None] * dirs[idx]).astype(np.float32)
        n = nrm[idx]
        p = prim[idx]
        app = _appearance(scene.mesh, p, P, n, seed)
        shading, visible, lam = _shade(scene, P, n, sun)
        V = -dn[idx]
        H = sun.direction[None] + V
        H /= np.sqrt(_dot(H, H))[:, None]
        nh = np.clip(_dot(n, H), 0.0, 1.0)
        spec = (app["ks"] * nh ** app["shininess"] * visible * (lam > 0))[:, None] * sun.color
        mirror = app["kr_max"] > 0
        if reflections and mirror.any():
            m = np.flatnonzero(mirror)
            cos = np.clip(_dot(n[m], V[m]), 0.0, 1.0)
            F = app["kr0"][m] + (app["kr_max"][m] - app["kr0"][m]) * (1 - cos) ** 5
            R = -V[m] + 2 * _dot(V[m], n[m])[:, None] * n[m]
            R = R.astype(np.float32)
            sec = scene.cast((P[m] + EPS * n[m]).astype(np.float32), R)
            radiance = np.empty((len(m), 3), np.float32)
            sh = sec["prim"] >= 0
            radiance[~sh] = sky_color(R[~sh], sun)
            if sh.any():
                Ps = P[m][sh] + EPS * n[m][sh] + sec["t"][sh, None] * R[sh]
                radiance[sh] = shade_points(scene, Ps, sec["prim"][sh], sec["normal"][sh], sun,
                                            seed, shadows=True)
            spec[m] += F[:, None] * radiance
        diffuse = app["albedo"] * shading[:, None]
        image = np.clip(diffuse + spec, 0.0, 1.0)
        spec = image - diffuse
        out["semantic"][idx] = app["semantic"]
        out["instance"][idx] = scene.mesh.instance[p]
        out["albedo"][idx] = app["albedo"]
        out["shading"][idx] = shading
        out["specular"][idx] = spec
        # glass and wet road always; car paint where its reflection is visible
        out["reflective"][idx] = mirror & (app["glass_or_wet"] | (spec.mean(axis=1) > 0.03))
    out["image"] = np.clip(out["albedo"] * out["shading"][:, None] + out["specular"], 0.0, 1.0)
    return out


def camera_rays(K: np.ndarray, cam_to_world: np.ndarray, width: int, height: int):
    """Origins (3,) and un-normalised world directions (H*W, 3) with z_cam = 1 per pixel
    (pixel centres at integer coordinates, OpenCV/nuScenes convention)."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
    M = cam_to_world[:3, :3] @ np.linalg.inv(K)
    return cam_to_world[:3, 3].copy(), (pix @ M.T).astype(np.float32)


def render_cameras(scene: RayScene, sun: Sun, seed: int, cameras: list[tuple]) -> list[dict]:
    """``cameras``: list of (K, cam_to_world, width, height). All views are cast in one batch.
    Returns per camera: image (H,W,3) float32, depth (H,W) float32 z-depth (0 = sky),
    semantic uint8, instance int32, albedo, shading (H,W), specular, reflective (bool)."""
    origins, dirs, shapes = [], [], []
    for K, T, w, h in cameras:
        o, d = camera_rays(K, T, w, h)
        origins.append(np.broadcast_to(o.astype(np.float32), d.shape))
        dirs.append(d)
        shapes.append((h, w))
    flat = render_rays(scene, np.concatenate(origins), np.concatenate(dirs), sun, seed)
    views, start = [], 0
    for h, w in shapes:
        n = h * w
        view = {}
        for key, arr in flat.items():
            part = arr[start:start + n]
            view[key] = part.reshape((h, w) + arr.shape[1:])
        views.append(view)
        start += n
    return views
