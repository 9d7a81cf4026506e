"""Deterministic, vectorised value noise (procedural textures from world coordinates)."""
from __future__ import annotations

import numpy as np


def hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice (ix, iy) -> pseudo-random float32 in [0, 1) (stable across runs)."""
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263
         + int(seed) * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).astype(np.float32) / np.float32(0x1000000)


def value_noise(x: np.ndarray, y: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1) with cells of ``scale`` metres."""
    fx = np.asarray(x, np.float64) / scale
    fy = np.asarray(y, np.float64) / scale
    ix = np.floor(fx)
    iy = np.floor(fy)
    tx = (fx - ix).astype(np.float32)
    ty = (fy - iy).astype(np.float32)
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ix = ix.astype(np.int64)
    iy = iy.astype(np.int64)
    a = hash2(ix, iy, seed)
    b = hash2(ix + 1, iy, seed)
    c = hash2(ix, iy + 1, seed)
    d = hash2(ix + 1, iy + 1, seed)
    return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty


def fbm(x: np.ndarray, y: np.ndarray, scale: float, seed: int, octaves: int = 3) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1)."""
    total = np.zeros(np.shape(x), np.float32)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        total += amp * value_noise(x, y, scale / (2 ** o), seed + 101 * o)
        norm += amp
        amp *= 0.5
    return total / norm
