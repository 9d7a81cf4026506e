"""Scene videos: H.264 when OpenCV has it, else VP9 (both play in browsers), else mp4v."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fsmde_gui.export.frame_export import ExportError
from fsmde_gui.export.sequence_export import open_video_writer

FOURCCS = {"H.264": ("avc1", "h264", "H264"), "VP9": ("vp09", "VP90"), "MPEG-4 Part 2": ("FMP4", "mp4v")}


def _write_and_read(path, writer):
    frames = [np.full((48, 64, 3), 40 * k, np.uint8) for k in range(4)]
    for f in frames:
        writer.write(f)
    writer.release()
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode(errors="replace")
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return fourcc, n


def test_default_codec_plays_in_browsers(tmp_path):
    path = tmp_path / "v.mp4"
    writer, name, web = open_video_writer(str(path), 5.0, (64, 48))
    assert name in ("H.264", "VP9") and web  # opencv-python-headless: VP9 (no H.264 encoder)
    fourcc, n = _write_and_read(path, writer)
    assert n == 4 and fourcc in FOURCCS[name]


def test_falls_back_in_order(tmp_path):
    path = tmp_path / "v.mp4"
    writer, name, web = open_video_writer(str(path), 5.0, (64, 48),
                                          codecs=(("zzzz", "bogus", True),
                                                  ("mp4v", "MPEG-4 Part 2", False)))
    assert (name, web) == ("MPEG-4 Part 2", False)
    assert _write_and_read(path, writer) == ("FMP4", 4)
    with pytest.raises(ExportError, match="cannot open an MP4 writer"):
        open_video_writer(str(tmp_path / "w.mp4"), 5.0, (64, 48), codecs=(("zzzz", "bogus", True),))
