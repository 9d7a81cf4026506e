"""Reading images and GT rasters with clear errors, and resizing a view consistently."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import DatasetError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# what an image header may claim before anything is decoded (a 50000x50000 header would
# otherwise make the decoder allocate gigabytes): 16384 px a side, 64 Mpixel in all
MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 64 * 1024 * 1024


def _read_bytes(path: Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, f"{what} file is missing")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(path, f"cannot read {what} file: {exc.strerror or exc}") from None
    if not data:
        raise DatasetError(path, f"{what} file is empty (0 bytes)")
    return data


def _check_container(path: Path, data: bytes) -> None:
    """Cheap integrity check: known magic bytes and an intact end marker."""
    if data.startswith(_JPEG_MAGIC):
        if b"\xff\xd9" not in data[-64:]:
            raise DatasetError(path, "truncated JPEG (no end-of-image marker)")
    elif data.startswith(_PNG_MAGIC):
        if b"IEND" not in data[-16:]:
            raise DatasetError(path, "truncated PNG (no IEND chunk)")
    else:
        raise DatasetError(path, "not a JPEG or PNG file (unrecognised header bytes)")


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers (not DHT/JPG/DAC)
HEADER_BYTES = 1 << 20  # read for a header-only size check (EXIF, ICC and other APPn first)


def _png_size(data: bytes) -> Optional[tuple[int, int]]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> Optional[tuple[int, int]]:
    """(W, H) from the first frame header (SOFn) of a JPEG, walking the marker segments."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # segments without a length
            i += 2
            continue
        if marker == 0xDA:  # scan data before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _header_size(path: Path, head: bytes, what: str) -> tuple[int, int]:
    """(W, H) a JPEG/PNG header claims, read by walking its bytes (nothing is decoded or
    allocated for the pixels) and checked against the caps."""
    size = _png_size(head) if head.startswith(_PNG_MAGIC) else \
        _jpeg_size(head) if head.startswith(_JPEG_MAGIC) else None
    if size is None:
        raise DatasetError(path, f"corrupt {what}: not a readable JPEG/PNG header")
    w, h = size
    if w <= 0 or h <= 0:
        raise DatasetError(path, f"corrupt {what}: header says {w}x{h} pixels")
    if max(w, h) > MAX_IMAGE_SIDE or w * h > MAX_IMAGE_PIXELS:
        raise DatasetError(path, f"{what} header claims {w}x{h} pixels, more than the limit "
                                 f"({MAX_IMAGE_SIDE} px a side, {MAX_IMAGE_PIXELS} in all); "
                                 f"not decoded")
    return w, h


def image_size_from_header(path, what: str = "image") -> tuple[int, int]:
    """(W, H) of a JPEG/PNG read from its header only (no full decode)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, f"{what} file is missing")
    if path.stat().st_size == 0:
        raise DatasetError(path, f"{what} file is empty (0 bytes)")
    with open(path, "rb") as f:  # head and tail only: catches truncation without decoding
        head = f.read(HEADER_BYTES)
        f.seek(max(0, path.stat().st_size - 64))
        tail = f.read()
    size = _header_size(path, head, what)
    _check_container(path, head[:8] + tail)
    return size


def _decode_rgb(path: Path, data: bytes) -> np.ndarray:
    """RGB uint8 pixels of a JPEG/PNG, decoded by Pillow (libjpeg-turbo, the same pixels as
    OpenCV's decoder): Pillow keeps libjpeg's and libpng's warnings ("Corrupt JPEG data: ...")
    off stderr, where OpenCV prints them. EXIF orientation is applied, as OpenCV does."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            ImageOps.exif_transpose(im, in_place=True)  # (a copy otherwise, even unrotated)
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.array(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        raise DatasetError(path, "corrupt image (cannot be decoded)") from None


def load_image(path, expected_wh: Optional[tuple[int, int]] = None) -> np.ndarray:
    """RGB uint8 (H, W, 3); DatasetError for missing / empty / corrupt / truncated / wrong size."""
    path = Path(path)
    data = _read_bytes(path, "image")
    _check_container(path, data)
    _header_size(path, data, "image")
    rgb = _decode_rgb(path, data)
    if expected_wh is not None and expected_wh[0] > 0 and expected_wh[1] > 0:
        h, w = rgb.shape[:2]
        if (w, h) != tuple(expected_wh):
            raise DatasetError(path, f"image is {w}x{h} but the tables say "
                                     f"{expected_wh[0]}x{expected_wh[1]}")
    return rgb


def load_png_raster(path, expected_hw: tuple[int, int], what: str, channels: int = 1,
                    dtype=None) -> np.ndarray:
    """A GT PNG as stored (uint8/uint16), checked for size and channel count."""
    path = Path(path)
    data = _read_bytes(path, what)
    if not data.startswith(_PNG_MAGIC):
        raise DatasetError(path, f"{what} must be a PNG file")
    _check_container(path, data)
    _header_size(path, data, what)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise DatasetError(path, f"corrupt {what} PNG (cannot be decoded)")
    if arr.shape[:2] != tuple(expected_hw):
        raise DatasetError(path, f"{what} is {arr.shape[1]}x{arr.shape[0]} but the image is "
                                 f"{expected_hw[1]}x{expected_hw[0]}")
    got_c = 1 if arr.ndim == 2 else arr.shape[2]
    if got_c != channels:
        raise DatasetError(path, f"{what} has {got_c} channels, expected {channels}")
    if channels == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise DatasetError(path, f"{what} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    return arr


def scale_intrinsics(K: np.ndarray, src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> np.ndarray:
    """K for an image resized from src (W, H) to dst (W, H) (same convention as core.rig)."""
    K = np.asarray(K, dtype=np.float64).copy()
    K[0, :] *= dst_wh[0] / src_wh[0]
    K[1, :] *= dst_wh[1] / src_wh[1]
    return K


def resize_image(img: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    if (img.shape[1], img.shape[0]) == tuple(wh):
        return img
    return cv2.resize(img, tuple(wh), interpolation=cv2.INTER_AREA)


def resize_linear(arr: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """A map (depth, entropy, ...) resized bilinearly to ``wh`` (W, H) for display."""
    if (arr.shape[1], arr.shape[0]) == tuple(wh):
        return arr
    return cv2.resize(np.ascontiguousarray(arr), tuple(wh), interpolation=cv2.INTER_LINEAR)


def resize_nearest(arr: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    if (arr.shape[1], arr.shape[0]) == tuple(wh):
        return arr
    if arr.dtype == bool:
        return cv2.resize(arr.astype(np.uint8), tuple(wh), interpolation=cv2.INTER_NEAREST) > 0
    if arr.dtype == np.int32 or arr.dtype == np.int64:
        return cv2.resize(arr.astype(np.float64), tuple(wh),
                          interpolation=cv2.INTER_NEAREST).astype(arr.dtype)
    return cv2.resize(arr, tuple(wh), interpolation=cv2.INTER_NEAREST)
