"""The per-camera renderers of the display modes (numpy/OpenCV, no Qt).

Each ``*_tile(ctx, mode)`` turns one camera of a ``FrameAnalysis`` into a ``TileImage``; the
mode registry (``modes.py``) says which renderer draws which mode."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ..core.colormaps import colorize
from ..core.types import SHORT_NAMES
from .analysis import FrameAnalysis

DEPTH_CMAP = "turbo"


@dataclass
class TileImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    caption: str
    bar: Optional[tuple[float, float, str, bool, str]] = None  # vmin, vmax, cmap, reverse, unit
    note: Optional[str] = None  # "not available: ..." when the mode has nothing to show


def placeholder(hw: tuple[int, int], text: str, base: Optional[np.ndarray] = None) -> np.ndarray:
    """A dimmed tile with a wrapped message (a panel that says why it is empty)."""
    h, w = hw
    img = (base.astype(np.float32) * 0.25).astype(np.uint8) if base is not None else \
        np.full((h, w, 3), 22, np.uint8)
    scale = max(0.35, min(0.6, w / 900))
    words, lines, cur = text.split(), [], ""
    max_chars = max(12, int(w / (scale * 19)))
    for word in words:
        if len(cur) + len(word) + 1 > max_chars and cur:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    lines.append(cur)
    y = h // 2 - (len(lines) - 1) * int(22 * scale * 1.6) // 2
    for line in lines:
        cv2.putText(img, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 190, 90), 1, cv2.LINE_AA)
        y += int(22 * scale * 1.6)
    return img


def _sparse_overlay(base: np.ndarray, values: np.ndarray, valid: np.ndarray, vmin: float,
                    vmax: float, cmap: str, reverse: bool) -> np.ndarray:
    """Dim the image and paint each valid sparse pixel (dilated to 3x3) in colour."""
    out = (base.astype(np.float32) * 0.4).astype(np.uint8)
    col = colorize(values, vmin, vmax, cmap, reverse=reverse)
    grow = cv2.dilate(valid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # spread each point's colour into its 3x3 neighbourhood (max-pool of the index image)
    idx = np.where(valid, np.arange(valid.size).reshape(valid.shape) + 1, 0).astype(np.float32)
    idx = cv2.dilate(idx, np.ones((3, 3), np.uint8)).astype(np.int64)
    flat = col.reshape(-1, 3)
    out[grow] = flat[idx[grow] - 1]
    return out


@dataclass
class TileContext:
    """What every mode's renderer needs: the analysis, the camera, its short name, the depth
    colour range and how to draw a placeholder."""
    a: FrameAnalysis
    cam: int
    lo: float
    hi: float
    burn_notes: bool

    @property
    def view(self):
        return self.a.frame.views[self.cam]

    @property
    def short(self) -> str:
        return SHORT_NAMES[self.view.name]

    @property
    def depth_bar(self) -> tuple:
        return (self.lo, self.hi, DEPTH_CMAP, True, "m")

    def placeholder(self, note: str, title: str) -> TileImage:
        image = self.view.image
        rgb = placeholder(self.view.hw, note, image) if self.burn_notes else \
            (image.astype(np.float32) * 0.25).astype(np.uint8)
        return TileImage(rgb, f"{self.short}  {title}", note=note)


def rgb_tile(c: TileContext, mode: str) -> TileImage:
    return TileImage(c.view.image.copy(), f"{c.short}  RGB")


def model_depth_tile(c: TileContext, mode: str) -> TileImage:
    a, cam, view = c.a, c.cam, c.view
    d = a.depth(mode)
    if d is None:
        return c.placeholder(a.note(mode) or f"not available: no {mode}", mode)
    cap = f"{c.short}  {a.results[mode].model_name or mode}"
    m = a.metric_row(mode, view.name)
    if m is not None:
        cap += f"  AbsRel {m.abs_rel:.3f}"
    al = a.results[mode].alignment
    if mode == "teacher" and al is not None:
        s, t = al[cam]
        cap += f"  (s={s:.3g}, t={t:.3g})"
    return TileImage(colorize(d[cam], c.lo, c.hi, DEPTH_CMAP, valid=d[cam] > 0, reverse=True),
                     cap, c.depth_bar)


def gt_tile(c: TileContext, mode: str) -> TileImage:
    view, lo, hi = c.view, c.lo, c.hi
    if view.depth_sparse is not None:
        gt = view.depth_sparse
        return TileImage(_sparse_overlay(view.image, gt, gt > 0, lo, hi, DEPTH_CMAP, True),
                         f"{c.short}  LiDAR ({int((gt > 0).sum())} pts)", c.depth_bar)
    if view.depth_dense is not None:
        gt = view.depth_dense
        return TileImage(colorize(gt, lo, hi, DEPTH_CMAP, valid=gt > 0, reverse=True),
                         f"{c.short}  dense GT", c.depth_bar)
    return c.placeholder("not available: this frame has no depth GT", "GT")


def error_tile(c: TileContext, mode: str) -> TileImage:
    a, cam, view = c.a, c.cam, c.view
    d, gt = a.depth("student"), view.depth_gt
    if d is None or gt is None:
        note = a.note("student") if d is None else "not available: this frame has no depth GT"
        tile = c.placeholder(note or "not available", "error")
        tile.note = note
        return tile
    err = np.abs(d[cam] - gt)
    valid = gt > 0
    emax = 5.0
    if view.depth_sparse is not None:
        rgb = _sparse_overlay(view.image, err, valid, 0.0, emax, "inferno", False)
    else:
        rgb = colorize(err, 0.0, emax, "inferno", valid=valid)
    m = a.metric_row("student", view.name)
    cap = f"{c.short}  |student − GT|" + (f"  RMSE {m.rmse:.2f} m" if m is not None else "")
    return TileImage(rgb, cap, (0.0, emax, "inferno", False, "m"))


def diff_tile(c: TileContext, mode: str) -> TileImage:
    a, cam = c.a, c.cam
    s, t = a.depth("student"), a.depth("teacher")
    if s is None or t is None:
        note = a.note("student" if s is None else "teacher") or "not available"
        return c.placeholder(note, "student − teacher")
    diff = s[cam] - t[cam]
    r = 5.0
    return TileImage(colorize(diff, -r, r, "coolwarm", valid=(s[cam] > 0) & (t[cam] > 0)),
                     f"{c.short}  student − teacher  (mean {np.mean(np.abs(diff)):.2f} m)",
                     (-r, r, "coolwarm", False, "m"))


def entropy_tile(c: TileContext, mode: str) -> TileImage:
    a, cam = c.a, c.cam
    if a.entropy is None:
        return c.placeholder(a.note("entropy") or "not available", "entropy")
    n = a.results["student"].bin_probs.shape[1]
    emax = float(np.log(n))
    return TileImage(colorize(a.entropy[cam], 0.0, emax, "viridis"),
                     f"{c.short}  bin entropy  (mean {a.entropy[cam].mean():.2f})",
                     (0.0, emax, "viridis", False, ""))


def reflection_tile(c: TileContext, mode: str) -> TileImage:
    a, cam, view = c.a, c.cam, c.view
    if a.reflection_pending:
        return c.placeholder("computing the reflection mask…", "reflection")
    if a.reflection is None:
        return c.placeholder(a.note("reflection") or "not available", "reflection")
    mask = a.reflection["mask"][cam]
    rgb = view.image.astype(np.float32) * 0.6
    rgb[mask] = rgb[mask] * 0.3 + np.array([255, 40, 40]) * 0.7
    rgb = rgb.astype(np.uint8)
    cap = f"{c.short}  reflective {100 * mask.mean():.1f}%"
    if view.reflection is not None:
        contours, _ = cv2.findContours(view.reflection.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(rgb, contours, -1, (60, 255, 90), 1)
        cap += f"  IoU {a.reflection['iou'][cam]:.2f}"
    return TileImage(rgb, cap)


def reflection_gt_tile(c: TileContext, mode: str) -> TileImage:
    view = c.view
    if view.reflection is None:
        return c.placeholder("not available: no reflection GT (simulator data has it)",
                             "reflection GT")
    gt = view.reflection.astype(bool)
    rgb = view.image.astype(np.float32) * 0.6
    rgb[gt] = rgb[gt] * 0.3 + np.array([60, 255, 90]) * 0.7
    return TileImage(rgb.astype(np.uint8), f"{c.short}  reflection GT  {100 * gt.mean():.1f}%")
