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

import contextlib
import os
import struct
import threading
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from ..core.atomic_io import atomic_path
from .frame_export import BG, ExportError, compose_frame, write_png

VIDEO_CODECS: tuple[tuple[str, str, bool], ...] = (
    ("avc1", "H.264", True), ("vp09", "VP9", True), ("mp4v", "MPEG-4 Part 2", False))
"""(fourcc, name, browsers play it) in order of preference."""


def open_video_writer(path: str, fps: float, wh: tuple[int, int],
                      codecs=VIDEO_CODECS, label=None) -> tuple[cv2.VideoWriter, str, bool]:
    """The first codec of ``codecs`` OpenCV can encode for ``wh`` (W, H) frames: (writer,
    codec name, browser-playable).
    OpenCV's own complaints about the codecs it lacks are silenced while trying. ``label`` is
    the file an error should name (the final MP4 when ``path`` is its temp file)."""
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: "Could not find encoder" is expected here
    try:
        for fourcc, name, web in codecs:
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps), wh)
            if writer.isOpened():
                return writer, name, web
            writer.release()
    finally:
        cv2.setLogLevel(level)
    raise ExportError(f"{path if label is None else label}: OpenCV cannot open an MP4 writer "
                      f"(tried {', '.join(n for _, n, _ in codecs)})")


class _Cancelled(Exception):
    """Raised inside the video's atomic_path block so the temp MP4 is removed, not renamed."""


def check_mp4(path: str, frames: int, final: Path) -> None:
    """Raise ExportError unless ``path`` is a whole MP4 (top-level boxes fill the file, a
    ``moov`` index and an ``mdat`` are present) holding ``frames`` frames. OpenCV's writer
    reports nothing when the disk fills up; this reads the boxes itself, so a broken file
    is caught without FFmpeg printing to stderr."""
    size = os.path.getsize(path)
    kinds, pos = set(), 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                break
            n, kind = struct.unpack(">I4s", head[:8])
            if n == 1 and len(head) == 16:
                n = struct.unpack(">Q", head[8:16])[0]
            elif n == 0:
                n = size - pos
            if n < 8:
                break
            kinds.add(kind)
            pos += n
    if pos != size or not {b"moov", b"mdat"} <= kinds:
        raise ExportError(f"{final}: the video was not written completely (disk full?); "
                          "no MP4 was kept")
    cap = cv2.VideoCapture(path)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
    finally:
        cap.release()
    if count != frames:
        raise ExportError(f"{final}: the video holds {max(count, 0)} of {frames} frames; "
                          "no MP4 was kept")


def _fit(img: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """``img`` padded / cropped to ``wh`` (W, H)."""
    w, h = wh
    out = np.empty((h, w, 3), np.uint8)
    out[:] = BG  # the composite's background
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
    codec, web = None, False
    size = None
    cancelled = False
    mp4 = None
    written = 0
    try:
        with contextlib.ExitStack() as stack:
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
                        mp4 = out_dir / f"{name}.mp4"
                        tmp_video = stack.enter_context(atomic_path(mp4, ".mp4"))
                        writer, codec, web = open_video_writer(tmp_video, fps, size, label=mp4)
                        stack.callback(writer.release)
                    writer.write(np.ascontiguousarray(img[..., ::-1]))
                    written += 1
                if progress is not None:
                    progress(k + 1, len(indices))
            if writer is not None:
                writer.release()  # finishes the file (writes the index)
                if cancelled:
                    raise _Cancelled
                check_mp4(tmp_video, written, mp4)
    except _Cancelled:  # the temp MP4 is gone (atomic_path saw the exception)
        mp4 = None
    if cancelled:
        mp4 = None
    return {"pngs": pngs, "mp4": mp4, "cancelled": cancelled, "frames": len(pngs),
            "codec": codec if mp4 else None, "browser_playable": bool(mp4 and web)}
