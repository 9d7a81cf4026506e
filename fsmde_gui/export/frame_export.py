"""Export one analysed frame: composite PNG (six tiles with captions, colour bars and a
metrics footer), fused point cloud as PLY (open3d) and metrics as JSON. Every write is
atomic: a temp file in the target folder, then ``os.replace``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from ..app_model.analysis import MODELS, FrameAnalysis
from ..app_model.tiles import MODE_LABELS, render_tile
from ..core.atomic_io import atomic_write_bytes
from ..core.colormaps import CAMERA_COLORS, colorbar
from ..core.errors import FsmdeError
from ..core.fusion import write_ply
from ..data.images import resize_image

BG = (24, 24, 28)
FG = (225, 225, 225)
DIM = (150, 150, 160)


class ExportError(FsmdeError):
    """An export target cannot be written (names the file and the problem)."""


def write_png(path: Path, rgb: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ExportError(f"{path}: PNG encoding failed")
    return atomic_write_bytes(path, buf.tobytes())


def _text(img, text, org, scale=0.45, color=FG, thick=1):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def frame_title(a: FrameAnalysis) -> str:
    f = a.frame
    return f"{f.source or 'dataset'}  scene {f.scene_name or '?'}  frame {f.frame_index}"


def compose_frame(a: FrameAnalysis, mode: str = "student", tile_width: int = 400,
                  overlap_heat: bool = False, depth_range=None, boxes: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB: 2x3 tiles (FL F FR / BL B BR) with captions and colour bars,
    a title line and a metrics footer; ``boxes`` draws the 3D boxes into the tiles."""
    h0, w0 = a.hw
    th = int(round(tile_width * h0 / w0))
    cap_h, bar_w, pad = 22, 62, 6
    cell_w, cell_h = tile_width + bar_w + pad, th + cap_h + pad
    title_h = 30
    footer_lines = metrics_lines(a)
    footer_h = 18 * len(footer_lines) + 10
    H = title_h + 2 * cell_h + footer_h
    W = 3 * cell_w + pad
    img = np.empty((H, W, 3), np.uint8)
    img[:] = BG
    _text(img, f"FSMDE Studio  |  {frame_title(a)}  |  {MODE_LABELS.get(mode, mode)}",
          (pad + 2, 20), 0.55)
    for cam in range(6):
        r, c = divmod(cam, 3)
        x0 = pad + c * cell_w
        y0 = title_h + r * cell_h
        tile = render_tile(a, cam, mode, depth_range=depth_range, overlap_heat=overlap_heat,
                           boxes=boxes)
        img[y0 + cap_h:y0 + cap_h + th, x0:x0 + tile_width] = resize_image(tile.rgb,
                                                                            (tile_width, th))
        img[y0 + 4:y0 + cap_h - 4, x0:x0 + 4] = CAMERA_COLORS[cam]
        _text(img, tile.caption, (x0 + 8, y0 + 15), 0.42)
        if tile.bar is not None:
            vmin, vmax, cmap, rev, unit = tile.bar
            bar = colorbar(th, vmin, vmax, cmap, reverse=rev, unit=unit, label_width=bar_w - 18)
            img[y0 + cap_h:y0 + cap_h + th, x0 + tile_width + 2:x0 + tile_width + 2 + bar.shape[1]] = bar
    y = title_h + 2 * cell_h + 14
    for line in footer_lines:
        _text(img, line, (pad + 2, y), 0.42, FG if not line.startswith(" ") else DIM)
        y += 18
    return img


def metrics_lines(a: FrameAnalysis) -> list[str]:
    lines = []
    for m in MODELS:
        res = a.results.get(m)
        if res is None:
            lines.append(f"{m}: {a.note(m) or 'not available'}")
            continue
        mean = a.metric_row(m, "mean")
        ms = a.infer_ms.get(m)
        s = f"{m} ({res.model_name or m}):"
        if mean is not None:
            s += f" AbsRel {mean.abs_rel:.3f}  RMSE {mean.rmse:.2f} m  d1 {mean.a1:.3f}"
        else:
            s += f" {a.note('metrics') or 'no metrics'}"
        if ms is not None:
            s += f"  |  {ms:.0f} ms/frame"
        cons = a.consistency_value(m, "mean")
        if cons is not None:
            s += f"  |  cross-view consistency {cons:.2f} m"
        lines.append(s)
    if a.reflection is not None and a.reflection.get("iou"):
        lines.append(f"reflection mask IoU (mean of 6 views): {np.mean(a.reflection['iou']):.3f}")
    return lines


def metrics_dict(a: FrameAnalysis) -> dict:
    f = a.frame
    out = {
        "scene": f.scene_name, "frame_index": int(f.frame_index), "token": f.token,
        "source": f.source, "image_size": [int(a.hw[1]), int(a.hw[0])],
        "models": {m: (a.results[m].model_name or m) for m in a.results},
        "metrics": {m: fm.to_dict() for m, fm in a.metrics.items()},
        "inference_ms": a.infer_ms,
        "consistency": {m: c.to_dict() for m, c in a.consistency.items()},
        "adjacent_pairs": [a.pair_name(p) for p in a.pairs],
        "unavailable": a.unavailable,
    }
    if a.reflection is not None:
        out["reflection"] = {"source": a.reflection.get("source"),
                             "fraction": [float(m.mean()) for m in a.reflection["mask"]],
                             "iou": a.reflection.get("iou")}
    return out


def write_metrics_json(a: FrameAnalysis, path: Path) -> Path:
    text = json.dumps(metrics_dict(a), indent=2, default=float, allow_nan=True)
    return atomic_write_bytes(Path(path), text.encode())


def write_cloud_ply(a: FrameAnalysis, path: Path, model: str = "student") -> Path:
    """The fused cloud of ``model`` (image colours, camera ids, depth) as a binary PLY, via the
    core's atomic open3d writer."""
    pc = a.clouds.get(model)
    if pc is None:
        raise ExportError(f"{path}: no fused {model} cloud "
                          f"({a.note('fusion') or a.note(model) or 'not available'})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_ply(path, pc)


def export_frame(a: FrameAnalysis, out_dir: Path, mode: str = "student", stem: Optional[str] = None,
                 overlap_heat: bool = False, boxes: bool = False) -> dict[str, Path]:
    """Write ``<stem>.png``, ``<stem>_<model>.ply`` (each fused model) and ``<stem>.json``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    stem = stem or f"{a.frame.scene_name or 'scene'}_{a.frame.frame_index:04d}"
    a.ensure_reflection()  # exports are complete: run a deferred reflection mask now
    written = {"png": write_png(out_dir / f"{stem}.png", compose_frame(a, mode, overlap_heat=overlap_heat,
                                                               boxes=boxes)),
               "json": write_metrics_json(a, out_dir / f"{stem}.json")}
    for m in a.clouds:
        written[f"ply_{m}"] = write_cloud_ply(a, out_dir / f"{stem}_{m}.ply", m)
    return written
