"""Colour maps: colorize against the plain definition (normalize + table lookup)."""
from __future__ import annotations

import numpy as np
import pytest

from fsmde_gui.core.colormaps import CMAPS, DIVERGING, colorize, lut, normalize


def _index(values, vmin, vmax):
    """The plain definition of the index image: NaN -> vmin, scaled to 0..255, clipped."""
    t = (np.nan_to_num(np.asarray(values, np.float32), nan=vmin) - vmin) / (vmax - vmin)
    return np.clip(t * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _reference(values, vmin, vmax, cmap, valid=None, invalid=(20, 20, 24), reverse=False):
    idx = _index(values, vmin, vmax)
    rgb = lut(cmap)[255 - idx if reverse else idx]
    bad = ~np.isfinite(values) if valid is None else ~np.isfinite(values) | ~valid
    rgb[bad] = invalid
    return rgb


@pytest.mark.parametrize("cmap", sorted(CMAPS) + [DIVERGING])
def test_colorize_is_normalize_then_the_table(cmap):
    rng = np.random.default_rng(1)
    v = (rng.random((37, 53)) * 90 - 5).astype(np.float32)
    v[rng.random(v.shape) < 0.1] = np.nan
    v[0, :3] = [np.inf, -np.inf, 1e30]
    valid = rng.random(v.shape) > 0.2
    with np.errstate(over="ignore", invalid="ignore"):
        for kw in ({}, {"valid": valid},
                   {"valid": valid, "reverse": True, "invalid_color": (1, 2, 3)}):
            ref = _reference(v, 1.0, 60.0, cmap, kw.get("valid"),
                             kw.get("invalid_color", (20, 20, 24)), kw.get("reverse", False))
            out = colorize(v, 1.0, 60.0, cmap, **kw)
            assert out.dtype == np.uint8 and out.shape == (37, 53, 3)
            np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(normalize(v, 1.0, 60.0), _index(v, 1.0, 60.0))


def test_colorize_ends_and_invalid_pixels():
    v = np.array([[1.0, 60.0, 200.0, np.nan]], np.float32)
    out = colorize(v, 1.0, 60.0, "turbo", reverse=True)
    table = lut("turbo")
    assert (out[0, 0] == table[255]).all() and (out[0, 1] == table[0]).all()  # reversed ends
    assert (out[0, 2] == table[0]).all()  # clipped to the far end
    assert tuple(out[0, 3]) == (20, 20, 24)  # NaN: the invalid colour
    with pytest.raises(ValueError, match="unknown colour map"):
        colorize(v, 0, 1, "nope")
