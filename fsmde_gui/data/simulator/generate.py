"""``generate_dataset``: render a preset's scenes and write them in nuScenes format with the
simulator's extra ground truth (see docs/API.md and docs/readme/20-simulator.md).

Per camera and frame, beside ``samples/CAM_*/NAME.jpg``:
``depth/CAM_*/NAME.png`` (uint16, metres * 256, 0 = none), ``semantic/`` (uint8 ids of
``classes.json``), ``instance/`` (uint16, 0 = none), ``reflection/`` (uint8 0/255),
``albedo/`` (uint8 RGB), ``shading/`` (uint16 grey, shading = value / 65535),
``specular/`` (uint8 RGB); image = albedo * shading + specular (all / 255 except shading).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from fsmde_gui.core.atomic_io import final_name
from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.rig import load_rig
from fsmde_gui.core.types import CAMERA_NAMES
from fsmde_gui.data.nuscenes_writer import (BoxRecord, CameraRecord, LidarRecord,
                                              NuScenesWriter, write_bytes_atomic)

from .classes import classes_document
from .frame import SimFrame, simulate_frame
from .layout import build_street
from .presets import FRAME_DT_S, get_preset, scene_seed

GT_KINDS = ("depth", "semantic", "instance", "reflection", "albedo", "shading", "specular")
DEPTH_SCALE = 256.0
SHADING_SCALE = 65535.0
BASE_TIMESTAMP_US = 1_600_000_000_000_000


def encode_gt(view: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Float render of one camera -> (uint8 RGB image, {kind: stored map})."""
    depth = view["depth"]
    d = np.round(depth * DEPTH_SCALE)
    d[(d > 65535) | ~np.isfinite(d)] = 0
    to8 = lambda a: np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    extras = {
        "depth": d.astype(np.uint16),
        "semantic": view["semantic"].astype(np.uint8),
        "instance": np.clip(view["instance"], 0, 65535).astype(np.uint16),
        "reflection": np.where(view["reflective"], 255, 0).astype(np.uint8),
        "albedo": to8(view["albedo"]),
        "shading": np.clip(np.round(view["shading"] * SHADING_SCALE), 0, 65535).astype(np.uint16),
        "specular": to8(view["specular"]),
    }
    return to8(view["image"]), extras


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        ours = (out / ".complete").exists() or (out / "v1.0-mini").is_dir()
        if not ours:
            raise DatasetError(out, "folder is not empty and is not a simulator dataset; "
                                    "refusing to overwrite it")


def _install(tmp: Path, out: Path) -> None:
    """Atomically replace ``out`` with ``tmp`` (old content removed after the swap)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class _RenderStats:
    """What the render loop collects for the summary and ``simulator.json``."""

    done: int = 0
    render_s: float = 0.0
    lidar_counts: list = field(default_factory=list)
    reflective: list = field(default_factory=list)
    scenes_info: list = field(default_factory=list)


def _resolve_sizes(p, num_scenes, num_frames, width, height) -> tuple[int, int, int, int]:
    """The preset's (scenes, frames, width, height) with the overrides applied, checked."""
    S = p.num_scenes if num_scenes is None else int(num_scenes)
    F = p.num_frames if num_frames is None else int(num_frames)
    W = p.width if width is None else int(width)
    H = p.height if height is None else int(height)
    if S < 1 or F < 1 or W < 16 or H < 16:
        raise DatasetError(None, f"bad simulator size: {S} scenes x {F} frames at {W}x{H}")
    return S, F, W, H


def _make_temp_folder(out: Path) -> Path:
    """A fresh, empty temp folder beside ``out`` (unique per process and thread)."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as exc:
        raise DatasetError(out, f"cannot create the output folder: {exc.strerror or exc}") from exc
    return tmp


def _render_scenes(writer: NuScenesWriter, rig, p, seeds: list[int], F: int,
                   stats: _RenderStats, progress, cancel) -> bool:
    """Simulate and write every frame of every scene; False when ``cancel`` stopped it."""
    total = len(seeds) * F
    for sseed in seeds:
        street = build_street(sseed, (F - 1) * FRAME_DT_S, p.variety)
        name = f"sim-{p.name}-{sseed}"
        info = dict(street.info, scene_seed=sseed, preset=p.name)
        stats.scenes_info.append({"name": name, **info})
        writer.begin_scene(name, json.dumps(info, sort_keys=True),
                           log_name=f"fsmde-sim-{sseed}")
        for fi in range(F):
            if cancel is not None and cancel.is_set():
                return False
            t1 = time.perf_counter()
            frame = simulate_frame(street, rig, fi * FRAME_DT_S,
                                   np.random.default_rng([sseed, fi]))
            stats.render_s += time.perf_counter() - t1
            _write_frame(writer, rig, frame, BASE_TIMESTAMP_US + sseed * 100_000_000
                         + fi * int(FRAME_DT_S * 1e6))
            stats.lidar_counts.append(len(frame.lidar))
            stats.reflective.append(float(np.mean([v["reflective"].mean()
                                                   for v in frame.views])))
            stats.done += 1
            if progress is not None:
                progress(stats.done, total)
    return True


def _simulator_document(p, seed: int, scenes_info: list) -> dict:
    """The content of ``simulator.json``: generator, preset, map encodings, scenes."""
    return {"generator": "fsmde_gui.data.simulator", "preset": p.name, "seed": int(seed),
            "variety": p.variety, "frame_rate_hz": 1.0 / FRAME_DT_S,
            "image_model": "image = albedo * shading + specular",
            "maps": {"depth": "uint16 PNG, metres = value / 256, 0 = no depth",
                     "semantic": "uint8 PNG, ids of classes.json",
                     "instance": "uint16 PNG, 0 = none (stable per scene)",
                     "reflection": "uint8 PNG, 255 = reflective (non-Lambertian) pixel",
                     "albedo": "uint8 RGB PNG, value / 255",
                     "shading": "uint16 grey PNG, shading = value / 65535",
                     "specular": "uint8 RGB PNG, value / 255"},
            "scenes": scenes_info}


def _write_metadata(tmp: Path, p, seed: int, summary: dict, scenes_info: list) -> None:
    """``classes.json``, ``simulator.json`` and, last, ``.complete`` (summary less timings)."""
    doc = _simulator_document(p, seed, scenes_info)
    write_bytes_atomic(tmp / "classes.json", json.dumps(classes_document(), indent=1).encode())
    write_bytes_atomic(tmp / "simulator.json", json.dumps(doc, indent=1).encode())
    stamp = {k: v for k, v in summary.items() if k not in ("seconds", "frames_per_s",
                                                           "render_frames_per_s", "out")}
    write_bytes_atomic(tmp / ".complete", json.dumps(stamp, indent=1).encode())


def generate_dataset(out, preset: str = "sample", seed: int = 0,
                     progress: Optional[Callable[[int, int], None]] = None,
                     cancel: Optional[threading.Event] = None, *,
                     num_scenes: int | None = None, num_frames: int | None = None,
                     width: int | None = None, height: int | None = None) -> dict:
    """Render ``preset`` (overrides optional) into ``out`` (built in a temp folder beside it,
    then renamed; ``out/.complete`` is the last file written). Returns a summary dict;
    ``summary["cancelled"]`` is True (and ``out`` untouched) when ``cancel`` was set."""
    p = get_preset(preset)
    S, F, W, H = _resolve_sizes(p, num_scenes, num_frames, width, height)
    seeds = [scene_seed(p, seed, i) for i in range(S)]
    out = Path(out).expanduser().absolute()
    _check_out(out)
    tmp = _make_temp_folder(out)

    rig = load_rig(width=W, height=H)
    writer = NuScenesWriter(tmp)
    total = S * F
    t0 = time.perf_counter()
    stats = _RenderStats()
    try:
        if not _render_scenes(writer, rig, p, seeds, F, stats, progress, cancel):
            shutil.rmtree(tmp, ignore_errors=True)
            return {"cancelled": True, "out": str(out), "preset": p.name,
                    "seed": int(seed), "frames_done": stats.done, "frames": total}
        counts = writer.finish()
        elapsed = time.perf_counter() - t0
        summary = {
            "cancelled": False, "out": str(out), "preset": p.name, "seed": int(seed),
            "scenes": S, "frames_per_scene": F, "frames": total, "width": W, "height": H,
            "scene_seeds": seeds, "seconds": round(elapsed, 3),
            "frames_per_s": round(total / elapsed, 3),
            "render_frames_per_s": round(total / max(stats.render_s, 1e-9), 3),
            "lidar_points_mean": float(np.mean(stats.lidar_counts)),
            "reflective_pixel_fraction": float(np.mean(stats.reflective)),
            "tables": counts,
        }
        _write_metadata(tmp, p, seed, summary, stats.scenes_info)
        _install(tmp, out)
        return summary
    except OSError as exc:  # a full disk: nothing is left, the error names the final file
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(final_name(exc.filename, tmp, out), exc.strerror or str(exc)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_frame(writer: NuScenesWriter, rig, frame: SimFrame, timestamp: int) -> None:
    cams = []
    for name, spec, view in zip(CAMERA_NAMES, rig.cameras, frame.views):
        image, extras = encode_gt(view)
        cams.append(CameraRecord(name, image, spec.K, spec.cam_to_ego, extras))
    boxes = []
    for b in frame.boxes:
        if b.category.startswith("vehicle"):
            attr = "vehicle.moving" if b.moving else "vehicle.parked"
        else:
            attr = "pedestrian.moving" if b.moving else "pedestrian.standing"
        boxes.append(BoxRecord(str(b.instance), b.category, b.center, b.size, b.yaw, attr,
                               b.num_lidar_pts))
    writer.add_sample(timestamp, frame.ego_to_world, cams,
                      LidarRecord(frame.lidar, rig.lidar_to_ego), boxes)
