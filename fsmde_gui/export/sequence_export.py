"""Export a whole scene: numbered composite PNGs and an MP4 (OpenCV), with progress and cancel.

``export_sequence(session, scene, out_dir, mode, progress=cb, cancel=event)`` renders every
frame through the same composite as the single-frame export. ``progress(done, total)`` is
called after each frame; when ``cancel`` is set the export stops after the current frame
and no half-written video is left (the MP4 is written to a temp file and renamed at the end).
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from .frame_export import ExportError, compose_frame, write_png


def _fit(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    out = np.empty((h, w, 3), np.uint8)
    out[:] = (24, 24, 28)
    hh, ww = min(h, img.shape[0]), min(w, img.shape[1])
    out[:hh, :ww] = img[:hh, :ww]
    return out


def export_sequence(session, scene: int, out_dir: Path, mode: str = "student", fps: float = 5.0,
                    progress: Optional[Callable[[int, int], None]] = None,
                    cancel: Optional[threading.Event] = None, video: bool = True,
                    frames: Optional[list[int]] = None) -> dict:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    indices = list(range(session.num_frames(scene))) if frames is None else list(frames)
    name = session.scenes[scene].name
    pngs: list[Path] = []
    writer = None
    tmp_video = None
    size = None
    cancelled = False
    try:
        for k, idx in enumerate(indices):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            a = session.analysis(scene, idx)
            if mode == "reflection":
                session.reflection(a)
            img = compose_frame(a, mode)
            if size is None:
                size = (img.shape[1] // 2 * 2, img.shape[0] // 2 * 2)  # codecs want even sizes
            img = _fit(img, size)  # a video needs one size: pad/crop to the first frame's
            pngs.append(write_png(out_dir / f"{name}_{idx:04d}.png", img))
            if video:
                if writer is None:
                    fd, tmp_video = tempfile.mkstemp(prefix=f".{name}.", suffix=".mp4", dir=out_dir)
                    os.close(fd)
                    writer = cv2.VideoWriter(tmp_video, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
                    if not writer.isOpened():
                        raise ExportError(f"{out_dir / (name + '.mp4')}: OpenCV cannot open an MP4 writer")
                writer.write(img[..., ::-1])
            if progress is not None:
                progress(k + 1, len(indices))
        mp4 = None
        if writer is not None:
            writer.release()
            writer = None
            if not cancelled:
                mp4 = out_dir / f"{name}.mp4"
                os.replace(tmp_video, mp4)
                tmp_video = None
    finally:
        if writer is not None:
            writer.release()
        if tmp_video is not None and os.path.exists(tmp_video):
            os.unlink(tmp_video)
    return {"pngs": pngs, "mp4": mp4, "cancelled": cancelled, "frames": len(pngs)}
