"""The per-image stage: decode, check, hash. ``inspect_image`` is pure (bytes in, facts out),
so it can be mapped over processes or an engine such as Dask with identical results.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from emmel.config import CleanConfig

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


class ImageProblem(Exception):
    """An image that must be rejected; ``reason`` is a code from docs/FORMAT.md."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int
    format: str
    ext: str
    phash: int  # 64-bit DCT perceptual hash


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
    if not data:
        raise ImageProblem("empty_file", "zero-byte file")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > clean.max_pixels:
                raise ImageProblem("decompression_bomb", f"{width}x{height} exceeds {clean.max_pixels} pixels")
            image.load()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageProblem("not_an_image", "not a readable image format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageProblem("truncated_image", f"cannot decode: {exc}") from None
    fmt = image.format or "UNKNOWN"
    if fmt not in EXTENSIONS:
        raise ImageProblem("not_an_image", f"unsupported format {fmt}")
    short, long = sorted((width, height))
    if short < clean.min_side:
        raise ImageProblem("low_resolution", f"min side {short} px < {clean.min_side}")
    if long / max(short, 1) > clean.max_aspect:
        raise ImageProblem("extreme_aspect_ratio", f"aspect {long / short:.2f} > {clean.max_aspect}")
    return ImageInfo(digest, width, height, fmt, EXTENSIONS[fmt], phash(image))


def format_hash(value: int) -> str:
    return f"{value:016x}"
