"""Procedural albedo from hit world coordinates, plus per-pixel material overrides.

Road: asphalt noise, lane markings (dashed lane lines, solid edge lines, double centre line),
an optional zebra crossing and wet patches (darker, mirror-like). Facades: bricks or plaster
with a grid of glass windows (mirror-like). Sidewalks: paving tiles.
"""
from __future__ import annotations

import numpy as np

from .classes import CLASS_IDS
from .materials import MATERIAL_IDS as M
from .materials import WET_ASPHALT, WINDOW_GLASS, material_arrays
from .noise import fbm, hash2, value_noise

_MAT = material_arrays()


def _road(P, params, seed, albedo, semantic, lobe):
    x, y = P[:, 0], P[:, 1]
    n_lanes, lane_w, wet_frac, cross_x = (params[:, i] for i in range(4))
    grain = hash2(np.floor(x / 0.04), np.floor(y / 0.04), seed + 7) - 0.5
    shade = 0.8 + 0.35 * fbm(x, y, 3.0, seed, 3) + 0.12 * grain
    albedo *= shade[:, None]
    # markings
    half = n_lanes * lane_w / 2
    paint = np.zeros(len(x), bool)
    yellow = (np.abs(np.abs(y) - 0.12) < 0.06) & (n_lanes > 0)
    paint |= yellow
    paint |= (np.abs(np.abs(y) - half) < 0.08) & (n_lanes > 0)  # edge lines
    safe_w = np.maximum(lane_w, 1e-3)
    k = np.round(np.abs(y) / safe_w)
    dashed = (k >= 1) & (k < n_lanes / 2) & (np.abs(np.abs(y) - k * safe_w) < 0.07)
    dashed &= np.mod(x, 9.0) < 3.0
    paint |= dashed
    zebra = (np.abs(x - cross_x) < 2.0) & (np.abs(y) < half - 0.3) & (np.mod(y, 1.0) < 0.5)
    paint |= zebra
    wear = 0.75 + 0.25 * value_noise(x, y, 0.3, seed + 3)
    paint_col = np.where(yellow[:, None], np.array([0.85, 0.68, 0.15], np.float32),
                         np.array([0.88, 0.88, 0.86], np.float32)) * wear[:, None]
    albedo[paint] = paint_col[paint]
    semantic[paint] = CLASS_IDS["lane_marking"]
    # wet patches
    wet = wet_frac > 0
    if wet.any():
        wet[wet] = fbm(x[wet], y[wet], 7.0, seed + 11, 3) > 1.0 - wet_frac[wet]
    albedo[wet] *= 0.55
    lobe[wet] = (WET_ASPHALT.ks, WET_ASPHALT.shininess, WET_ASPHALT.kr0, WET_ASPHALT.kr_max)


def _concrete(P, n, params, seed, albedo):
    tile = np.maximum(params[:, 0], 0.1)
    horizontal = np.abs(n[:, 2]) > 0.7
    u = np.where(horizontal, P[:, 0], P[:, 0] + P[:, 1])
    v = np.where(horizontal, P[:, 1], P[:, 2])
    iu, iv = np.floor(u / tile), np.floor(v / tile)
    per_tile = 0.88 + 0.18 * hash2(iu, iv, seed + 21)
    fu, fv = u / tile - iu, v / tile - iv
    gap = (np.minimum(fu, 1 - fu) < 0.04) | (np.minimum(fv, 1 - fv) < 0.04)
    stain = 0.85 + 0.25 * fbm(P[:, 0], P[:, 1], 2.0, seed + 23, 2)
    albedo *= (per_tile * stain * np.where(gap, 0.65, 1.0))[:, None]


def _facade(P, n, params, seed, albedo, semantic, lobe):
    style, dx, floor_h, shop = (params[:, i] for i in range(4))
    along_x = np.abs(n[:, 0]) < np.abs(n[:, 1])
    u = np.where(along_x, P[:, 0], P[:, 1])
    z = P[:, 2]
    roof = n[:, 2] > 0.7
    floor = np.floor(z / floor_h)
    fz = z / floor_h - floor
    cu = np.floor(u / dx)
    fu = u / dx - cu
    is_shop = (floor == 0) & (shop > 0.5)
    win = np.where(is_shop, (fu > 0.08) & (fu < 0.92) & (fz > 0.08) & (fz < 0.78),
                   (fu > 0.25) & (fu < 0.75) & (fz > 0.3) & (fz < 0.82))
    win |= (style == 2) & (floor >= 1) & (fz > 0.15)  # curtain-wall towers
    win &= ~roof & ~((floor == 0) & (shop <= 0.5) & (style < 2))
    frame = ~win & ~roof & np.where(is_shop, (fu > 0.05) & (fu < 0.95) & (fz < 0.82),
                                    (fu > 0.21) & (fu < 0.79) & (fz > 0.26) & (fz < 0.86))
    # bricks (style 0) or plaster (1, 2)
    bh, bw = 0.22, 0.5
    row = np.floor(z / bh)
    bu = u / bw + 0.5 * np.mod(row, 2)
    ib = np.floor(bu)
    mortar = (np.minimum(z / bh - row, 1 - (z / bh - row)) < 0.1) | \
             (np.minimum(bu - ib, 1 - (bu - ib)) < 0.05)
    pattern = np.empty(len(z), np.float32)
    b = style == 0
    pattern[b] = (0.8 + 0.35 * hash2(ib[b], row[b], seed + 31)) * np.where(mortar[b], 0.7, 1.0)
    pattern[~b] = 0.85 + 0.2 * fbm(u[~b], z[~b], 1.5, seed + 33, 2)
    albedo *= pattern[:, None]
    albedo[frame] = albedo[frame] * 0.5 + 0.35
    albedo[roof] = np.array([0.35, 0.33, 0.32], np.float32)
    glass_tone = 0.06 + 0.16 * hash2(cu, floor, seed + 35)
    glass = np.stack([glass_tone * 0.9, glass_tone, glass_tone * 1.15], axis=1)
    albedo[win] = glass[win]
    semantic[win] = CLASS_IDS["window"]
    lobe[win] = (WINDOW_GLASS.ks, WINDOW_GLASS.shininess, WINDOW_GLASS.kr0, WINDOW_GLASS.kr_max)


def surface_appearance(P: np.ndarray, n: np.ndarray, material: np.ndarray, color: np.ndarray,
                       params: np.ndarray, semantic: np.ndarray, seed: int,
                       gloss: np.ndarray | None = None) -> dict:
    """Per hit: ``albedo`` (N, 3) in [0, 1], ``semantic`` (N,) (lane markings and windows
    override their surface's class) and the specular lobe ``ks, shininess, kr0, kr_max``
    (``ks`` and the mirror terms scaled by the per-object ``gloss``)."""
    albedo = color.astype(np.float32).copy()
    semantic = semantic.copy()
    lobe = np.stack([_MAT["ks"][material], _MAT["shininess"][material], _MAT["kr0"][material],
                     _MAT["kr_max"][material]], axis=1)
    sel = material == M["asphalt"]
    if sel.any():
        a, s, lb = albedo[sel], semantic[sel], lobe[sel]
        _road(P[sel], params[sel], seed, a, s, lb)
        albedo[sel], semantic[sel], lobe[sel] = a, s, lb
    sel = material == M["concrete"]
    if sel.any():
        a = albedo[sel]
        _concrete(P[sel], n[sel], params[sel], seed, a)
        albedo[sel] = a
    sel = material == M["facade"]
    if sel.any():
        a, s, lb = albedo[sel], semantic[sel], lobe[sel]
        _facade(P[sel], n[sel], params[sel], seed, a, s, lb)
        albedo[sel], semantic[sel], lobe[sel] = a, s, lb
    for name, scale, amount in (("foliage", 0.35, 0.8), ("grass", 0.5, 0.5), ("bark", 0.1, 0.4)):
        sel = material == M[name]
        if sel.any():
            p = P[sel]
            f = fbm(p[:, 0] + 0.7 * p[:, 2], p[:, 1] - 0.5 * p[:, 2], scale, seed + 41, 2)
            albedo[sel] *= (1 - amount / 2 + amount * f)[:, None]
    glass_or_wet = lobe[:, 2] >= 0.15  # windows, car glass, wet road (before gloss scaling)
    if gloss is not None:
        lobe[:, 0] *= gloss
        lobe[:, 2] = np.minimum(lobe[:, 2] * gloss, 0.95)
        lobe[:, 3] = np.minimum(lobe[:, 3] * gloss, 0.98)
    return {"albedo": np.clip(albedo, 0.0, 1.0), "semantic": semantic,
            "ks": lobe[:, 0], "shininess": lobe[:, 1], "kr0": lobe[:, 2], "kr_max": lobe[:, 3],
            "glass_or_wet": glass_or_wet}
