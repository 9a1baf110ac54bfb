"""The one way emmel opens an image: build (check, augment), ``emmel link``, the MCR image bank,
OCR page renders and annotate all go through here.

``open_image(path_or_bytes)`` gives what a viewer shows, as 8-bit RGB:

- only regular files are read (a FIFO, device, socket or folder is refused without blocking),
  at most ``max_bytes`` of them, and images over ``max_pixels`` are refused from their header,
  before any pixel is decoded (decompression bombs);
- EXIF orientation is applied, so width, height, pHash and augmented copies match the viewer;
- every pixel mode is converted faithfully: 16-bit and 32-bit greyscale are scaled down (not
  clipped to white), transparency is composited on white, CMYK, 1-bit, palette and float modes
  become RGB.

Problems raise ``ImageProblem`` whose ``reason`` is a reject code of docs/FORMAT.md; it is an
``EmmelError``, so a command that lets it through still prints one line. ``inspect_image`` is pure
(bytes in, facts out), so the build can map it over processes or Dask with identical results.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from emmel.config import CleanConfig
from emmel.errors import EmmelError
from emmel.io import NotRegularFileError, file_kind, open_regular

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}
EXIF_ORIENTATION = 0x0112
_WIDE_GREY = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}  # one channel, more than 8 bits
_ALPHA = {"RGBA", "LA", "PA", "RGBa"}


class ImageProblem(EmmelError):
    """An image that must be rejected; ``reason`` is a code from docs/FORMAT.md."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self):  # picklable across process pools despite the two-argument constructor
        return type(self), (self.reason, self.detail)


@dataclass(frozen=True)
class ImageLimits:
    """What any opened image may cost; the defaults are the build's (``[clean]`` in data/build.toml)."""

    max_bytes: int = CleanConfig.max_bytes
    max_pixels: int = CleanConfig.max_pixels

    @classmethod
    def of(cls, clean: CleanConfig) -> ImageLimits:
        return cls(max_bytes=clean.max_bytes, max_pixels=clean.max_pixels)


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int  # as displayed (after EXIF orientation)
    height: int
    format: str
    ext: str
    phash: int  # 64-bit DCT perceptual hash


def check_image_file(path: str | os.PathLike, limits: ImageLimits | None = DEFAULT_LIMITS) -> int:
    """The size of image file ``path`` if it is a regular file (symlinks followed) within
    ``limits.max_bytes`` (not checked when ``limits`` is None); ``ImageProblem`` (missing_image,
    not_a_regular_file, file_too_large) otherwise."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageProblem("missing_image", "not found") from None
    except OSError as exc:
        raise ImageProblem("missing_image", f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageProblem("not_a_regular_file", f"is a {file_kind(info.st_mode)}, not a regular file")
    if limits is not None and info.st_size > limits.max_bytes:
        raise ImageProblem("file_too_large", f"{info.st_size} bytes > {limits.max_bytes} (clean.max_bytes)")
    return info.st_size


def read_image_file(path: str | os.PathLike, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes of an image file: regular files only (checked again on the open descriptor, which
    never blocks), at most ``limits.max_bytes`` of them."""
    check_image_file(path, limits)
    try:
        with open_regular(path) as handle:
            data = handle.read(limits.max_bytes + 1)  # bounded even if the file grew since the check
    except FileNotFoundError:
        raise ImageProblem("missing_image", "not found") from None
    except NotRegularFileError as exc:
        raise ImageProblem("not_a_regular_file", str(exc)) from None
    except OSError as exc:
        raise ImageProblem("missing_image", f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:
        raise ImageProblem("file_too_large", f"more than {limits.max_bytes} bytes (clean.max_bytes)")
    return data


def check_pixels(width: int, height: int, limits: ImageLimits = DEFAULT_LIMITS) -> None:
    """``decompression_bomb`` unless a ``width``×``height`` image is within ``limits.max_pixels``."""
    if width * height > limits.max_pixels:
        raise ImageProblem("decompression_bomb", f"{width}x{height} = {width * height} pixels > {limits.max_pixels} (clean.max_pixels)")


def _decode(data: bytes, limits: ImageLimits, reduce_to: int | None = None) -> tuple[Image.Image, str]:
    """Decode ``data`` into an oriented 8-bit RGB image; returns it and the file format.

    ``reduce_to``: a JPEG may be decoded at a reduced scale (1/2, 1/4, 1/8) that still keeps at least
    this many pixels on each side: all a thumbnail needs, several times faster."""
    if not data:
        raise ImageProblem("empty_file", "zero-byte file")
    if len(data) > limits.max_bytes:
        raise ImageProblem("file_too_large", f"{len(data)} bytes > {limits.max_bytes} (clean.max_bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides, below
            image = Image.open(io.BytesIO(data))
        check_pixels(*image.size, limits)
        if reduce_to:
            image.draft("RGB", (reduce_to, reduce_to))
        image.load()
    except ImageProblem:
        raise
    except Image.DecompressionBombError as exc:  # beyond Pillow's own hard limit (2 x its warning limit)
        raise ImageProblem("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageProblem("not_an_image", "not a readable image format") from None
    except Exception as exc:  # noqa: BLE001 (Pillow's plugins raise many types on hostile bytes)
        raise ImageProblem("truncated_image", f"cannot decode: {exc}") from None
    fmt = image.format or "UNKNOWN"
    if fmt not in EXTENSIONS:
        raise ImageProblem("not_an_image", f"unsupported format {fmt}")
    return to_rgb(orient(image)), fmt


def orient(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation (1-8) says; unreadable EXIF counts as no orientation."""
    try:
        if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
            return image  # the common case, without exif_transpose's copy
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 (malformed EXIF blocks raise many types; viewers ignore them too)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of any Pillow mode, as a viewer on a white page shows it."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _WIDE_GREY:
        return Image.fromarray(_wide_to_8bit(np.asarray(image), mode), "L").convert("RGB")
    if mode in _ALPHA or image.info.get("transparency") is not None:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    try:
        return image.convert("RGB")  # L, 1, P, CMYK (Pillow's (255-c)(255-k)/255), YCbCr, LAB, HSV, RGBX
    except ValueError as exc:
        raise ImageProblem("not_an_image", f"unsupported pixel mode {mode} ({exc})") from None


def _wide_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """One channel of more than 8 bits to 0..255: 16-bit by /257 (65535 -> 255); 32-bit integers the
    same when within 0..65535, else stretched from their min-max; floats from 0..1 (or 0..255)."""
    if mode == "F":
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min()), float(values.max())
        if low >= 0 and high <= 1.0:
            values = values * 255.0
        elif not (low >= 0 and high <= 255.0):
            values = (values - low) * (255.0 / (high - low))
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    values = values.astype(np.int64)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 65535:  # mode I with values outside 16 bits
        return ((values - low) * 255 // max(high - low, 1)).astype(np.uint8)
    return ((values + 128) // 257).astype(np.uint8)


def open_image(source: str | os.PathLike | bytes, limits: ImageLimits = DEFAULT_LIMITS, *, reduce_to: int | None = None) -> Image.Image:
    """An image file (or its bytes) as a viewer shows it, in 8-bit RGB; ``ImageProblem`` otherwise.
    ``reduce_to`` lets a JPEG decode at a reduced scale that keeps at least that many pixels a side (thumbnails)."""
    data = source if isinstance(source, (bytes, bytearray)) else read_image_file(Path(source), limits)
    return _decode(bytes(data), limits, reduce_to)[0]


def _dct_matrix(n: int = 32) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)
_BITS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def phash(image: Image.Image) -> int:
    """64-bit perceptual hash: sign of the 8x8 low-frequency DCT of a 32x32 grey thumbnail vs its median."""
    grey = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int(np.bitwise_or.reduce(_BITS[bits])) if bits.any() else 0


def inspect_image(data: bytes, clean: CleanConfig) -> ImageInfo:
    """Decode and check one image; raise ``ImageProblem`` with the reject reason."""
    image, fmt = _decode(data, ImageLimits.of(clean))
    width, height = image.size
    short, long = sorted((width, height))
    if short < clean.min_side:
        raise ImageProblem("low_resolution", f"min side {short} px < {clean.min_side}")
    if long / max(short, 1) > clean.max_aspect:
        raise ImageProblem("extreme_aspect_ratio", f"aspect {long / short:.2f} > {clean.max_aspect}")
    return ImageInfo(hashlib.sha256(data).hexdigest(), width, height, fmt, EXTENSIONS[fmt], phash(image))


def format_hash(value: int) -> str:
    return f"{value:016x}"
