"""Export a whole scene: numbered composite PNGs and an MP4 (OpenCV), with progress and cancel.

``export_sequence(session, scene, out_dir, mode, progress=cb, cancel=event)`` renders every
frame through the same composite as the single-frame export. ``progress(done, total)`` is
called after each frame; when ``cancel`` is set the export stops after the current frame
and no half-written video is left (the MP4 is written to a temp file and renamed at the end).

The video codec is the first of :data:`VIDEO_CODECS` the installed OpenCV can encode: H.264
(plays everywhere), then VP9 in MP4 (Chrome, Edge, Firefox; not every Safari), then MPEG-4
Part 2 (``mp4v``: VLC and most desktop players, but browsers do not play it). The
``opencv-python-headless`` wheel has no H.264 encoder (licensing), so there videos are VP9.
The result says which codec was used and whether browsers play it.
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

VIDEO_CODECS: tuple[tuple[str, str, bool], ...] = (
    ("avc1", "H.264", True), ("vp09", "VP9", True), ("mp4v", "MPEG-4 Part 2", False))
"""(fourcc, name, browsers play it) in order of preference."""


def open_video_writer(path: str, fps: float, size: tuple[int, int],
                      codecs=VIDEO_CODECS) -> tuple[cv2.VideoWriter, str, bool]:
    """The first codec of ``codecs`` OpenCV can encode: (writer, codec name, browser-playable).
    OpenCV's own complaints about the codecs it lacks are silenced while trying."""
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: "Could not find encoder" is expected here
    try:
        for fourcc, name, web in codecs:
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
            if writer.isOpened():
                return writer, name, web
            writer.release()
    finally:
        cv2.setLogLevel(level)
    raise ExportError(f"{path}: OpenCV cannot open an MP4 writer (tried "
                      f"{', '.join(n for _, n, _ in codecs)})")


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
                    frames: Optional[list[int]] = None, boxes: bool = False) -> dict:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    indices = list(range(session.num_frames(scene))) if frames is None else list(frames)
    name = session.scenes[scene].name
    pngs: list[Path] = []
    writer = None
    tmp_video = None
    codec, web = None, False
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
            img = compose_frame(a, mode, boxes=boxes)
            if size is None:
                size = (img.shape[1] // 2 * 2, img.shape[0] // 2 * 2)  # codecs want even sizes
            img = _fit(img, size)  # a video needs one size: pad/crop to the first frame's
            pngs.append(write_png(out_dir / f"{name}_{idx:04d}.png", img))
            if video:
                if writer is None:
                    fd, tmp_video = tempfile.mkstemp(prefix=f".{name}.", suffix=".mp4", dir=out_dir)
                    os.close(fd)
                    writer, codec, web = open_video_writer(tmp_video, fps, size)
                writer.write(img[..., ::-1])
            if progress is not None:
                progress(k + 1, len(indices))
        mp4 = None
        if writer is not None:
            writer.release()
            writer = None
            if not cancelled:
                mp4 = out_dir / f"{name}.mp4"
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp_video, 0o666 & ~umask)  # mkstemp makes 0600
                os.replace(tmp_video, mp4)
                tmp_video = None
    finally:
        if writer is not None:
            writer.release()
        if tmp_video is not None and os.path.exists(tmp_video):
            os.unlink(tmp_video)
    return {"pngs": pngs, "mp4": mp4, "cancelled": cancelled, "frames": len(pngs),
            "codec": codec if mp4 else None, "browser_playable": bool(mp4 and web)}
