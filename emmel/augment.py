"""Rotation / translation (and other named) augmentations of training images with albumentations.

Parameters are drawn from a seeded generator keyed by (seed, sample id, op, copy), then applied as
fixed-parameter albumentations transforms, so every output is reproducible and its exact
parameters are recorded in the sample's ``augmentation`` field.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
from PIL import Image

from emmel.config import AugmentConfig
from emmel.images import DEFAULT_LIMITS, ImageLimits, open_image

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def draw_params(op: str, config: AugmentConfig, seed: int, key: str) -> dict:
    rng = np.random.default_rng(int(hashlib.sha256(f"{seed}\x1f{key}\x1f{op}".encode()).hexdigest()[:16], 16))
    if op == "rotate":
        angle = float(rng.uniform(3.0, config.rotate_limit)) * float(rng.choice([-1.0, 1.0]))
        return {"angle": round(angle, 3)}
    if op == "translate":
        dx, dy = rng.uniform(-config.translate_limit, config.translate_limit, size=2)
        return {"x": round(float(dx), 4), "y": round(float(dy), 4)}
    if op == "scale":
        return {"scale": round(float(rng.uniform(0.85, 1.15)), 4)}
    if op == "flip":
        return {"horizontal": True}
    if op == "color":
        b, c, s = rng.uniform(0.8, 1.2, size=3)
        return {"brightness": round(float(b), 4), "contrast": round(float(c), 4), "saturation": round(float(s), 4)}
    raise ValueError(f"unknown augmentation op {op!r}")


def _transform(op: str, params: dict):
    import albumentations as A
    import cv2

    border = {"border_mode": cv2.BORDER_REFLECT_101}
    if op == "rotate":
        a = params["angle"]
        return A.Rotate(limit=(a, a), p=1.0, **border)
    if op == "translate":
        return A.Affine(translate_percent={"x": (params["x"], params["x"]), "y": (params["y"], params["y"])}, p=1.0, **border)
    if op == "scale":
        return A.Affine(scale=(params["scale"], params["scale"]), p=1.0, **border)
    if op == "flip":
        return A.HorizontalFlip(p=1.0)
    if op == "color":
        return A.ColorJitter(
            brightness=(params["brightness"],) * 2, contrast=(params["contrast"],) * 2,
            saturation=(params["saturation"],) * 2, hue=(0.0, 0.0), p=1.0,
        )
    raise ValueError(f"unknown augmentation op {op!r}")


def augment_image(data: bytes, op: str, params: dict, quality: int = 95, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """Apply one op with fixed parameters to the image as displayed (``emmel.images.open_image``: EXIF
    orientation applied, any mode as 8-bit RGB); returns JPEG bytes (deterministic for a given libjpeg)."""
    image = np.asarray(open_image(data, limits))
    out = _transform(op, params)(image=image)["image"]
    buffer = io.BytesIO()
    Image.fromarray(out).save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    return buffer.getvalue()
