"""How well a student's depth bins cover the depths of its image (docs/METHOD.md, binning).

Three figures per image, from its bin centres ``(N,)``, bin probabilities ``(N, h, w)`` and
GT depths (metres, 0 = none):

* ``distinct``: the fraction of centres that lie at least ``min_step`` (2 %) beyond the
  previous distinct one (the first centre counts as distinct). Collapsed bins score low.
* ``nearest_rel``: the median over GT depths of ``|g - c*| / g``, ``c*`` the nearest centre:
  how finely the centres sample the depths that are actually there.
* ``mass_use``: the perplexity of the image's mean bin probability over ``N``
  (``exp(entropy) / N``, 1 = every bin holds the same mass, 1/N = one bin holds it all).
"""
from __future__ import annotations

import numpy as np

from .types import MAX_DEPTH_M

BIN_STAT_KEYS = ("distinct", "nearest_rel", "mass_use")


def distinct_fraction(centers: np.ndarray, min_step: float = 0.02) -> float:
    """Fraction of sorted centres at least ``min_step`` (relative) beyond the last kept one."""
    c = np.sort(np.asarray(centers, np.float64).ravel())
    if c.size == 0:
        return float("nan")
    kept, last = 1, c[0]
    for x in c[1:]:
        if x >= last * (1.0 + min_step):
            kept, last = kept + 1, x
    return kept / c.size


def nearest_center_distance(centers: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``|g - nearest centre| / g`` for every GT depth ``g > 0`` (1-D array)."""
    c = np.sort(np.asarray(centers, np.float64).ravel())
    g = np.asarray(gt, np.float64).ravel()
    g = g[np.isfinite(g) & (g > 0)]
    if g.size == 0 or c.size == 0:
        return np.zeros(0)
    idx = np.clip(np.searchsorted(c, g), 1, c.size - 1)
    near = np.minimum(np.abs(g - c[idx - 1]), np.abs(g - c[idx]))
    if c.size == 1:
        near = np.abs(g - c[0])
    return near / g


def mass_use(probs: np.ndarray) -> float:
    """``exp(entropy(mean over pixels of probs)) / N`` for probs ``(N, h, w)``."""
    p = np.asarray(probs, np.float64)
    m = p.reshape(p.shape[0], -1).mean(axis=1)
    m = m / max(m.sum(), 1e-12)
    nz = m[m > 0]
    return float(np.exp(-(nz * np.log(nz)).sum()) / p.shape[0])


def bin_stats(centers: np.ndarray, probs: np.ndarray | None, gt: np.ndarray | None,
              max_depth: float = MAX_DEPTH_M) -> dict:
    """The three figures of one image (``nearest_rel`` nan without GT, ``mass_use`` without
    probabilities); GT beyond ``max_depth`` is ignored."""
    out = {"distinct": distinct_fraction(centers), "nearest_rel": float("nan"),
           "mass_use": mass_use(probs) if probs is not None else float("nan")}
    if gt is not None:
        g = np.asarray(gt, np.float64)
        rel = nearest_center_distance(centers, np.where(g < max_depth, g, 0.0))
        if rel.size:
            out["nearest_rel"] = float(np.median(rel))
    return out


def mean_bin_stats(rows: list[dict]) -> dict:
    """Mean of each figure over images (nan-aware); ``images`` = how many rows."""
    out = {k: (float(np.nanmean([r[k] for r in rows]))
               if rows and np.isfinite([r[k] for r in rows]).any() else float("nan"))
           for k in BIN_STAT_KEYS}
    out["images"] = len(rows)
    return out
