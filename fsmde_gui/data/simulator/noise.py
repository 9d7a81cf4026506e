"""Deterministic, vectorised value noise (procedural textures from world coordinates).

32-bit throughout (uint32 hashing with wrap-around, float32 interpolation) for speed.
"""
from __future__ import annotations

import numpy as np

_U = np.uint32


def hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice (ix, iy) -> pseudo-random float32 in [0, 1) (stable across runs)."""
    with np.errstate(over="ignore"):
        h = (np.asarray(ix).astype(np.int64).astype(_U) * _U(374761393)
             + np.asarray(iy).astype(np.int64).astype(_U) * _U(668265263)
             + _U((int(seed) * 2654435761) & 0xFFFFFFFF))
        h = (h ^ (h >> _U(13))) * _U(1274126177)
        h = h ^ (h >> _U(16))
    return (h >> _U(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(x: np.ndarray, y: np.ndarray, scale: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1) with cells of ``scale`` metres."""
    fx = np.asarray(x, np.float32) * np.float32(1.0 / scale)
    fy = np.asarray(y, np.float32) * np.float32(1.0 / scale)
    ix = np.floor(fx)
    iy = np.floor(fy)
    tx = fx - ix
    ty = fy - iy
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ix = ix.astype(np.int32)
    iy = iy.astype(np.int32)
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
        total += np.float32(amp) * value_noise(x, y, scale / (2 ** o), seed + 101 * o)
        norm += amp
        amp *= 0.5
    return total / np.float32(norm)
