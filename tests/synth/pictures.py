"""Procedural pictures with a per-entity visual signature.

Every entity gets a *signature* (palette + motif + a few shape parameters); each of its pictures
draws that signature with its own variation (size, rotation, offset, scale, texture). So pictures
of one entity look alike and pictures of different entities differ, which is what a baseline can
learn from. Entities of one family (``剪纸（…）``) share the motif and differ in palette, which
makes them deliberately confusable.

Everything is driven by ``random.Random`` / ``numpy`` generators seeded by the caller, so the same
seed gives the same pixels (and, with the same Pillow, the same JPEG bytes).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

MOTIFS = ("rings", "petals", "waves", "lattice", "stripes", "zigzag", "spiral", "diamonds")


@dataclass(frozen=True)
class Signature:
    """What all pictures of one entity share."""

    motif: str
    palette: tuple[tuple[int, int, int], ...]  # background, primary, secondary, accent
    order: int  # symmetry order / repetition count of the motif
    weight: int  # stroke width in px at 512 px


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return int(r * 255), int(g * 255), int(b * 255)


def stable_int(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12], 16)


def make_signature(family: str, entity_key: str, seed: int) -> Signature:
    """Motif from the family (shared by variants), palette and shape from the entity itself."""
    motif = MOTIFS[stable_int(str(seed), "motif", family) % len(MOTIFS)]
    rng = random.Random(stable_int(str(seed), "palette", entity_key))
    hue = rng.random()
    light_bg = rng.random() < 0.5
    background = _hsv(hue + 0.5, 0.15 + 0.2 * rng.random(), 0.9 if light_bg else 0.18)
    primary = _hsv(hue, 0.65 + 0.3 * rng.random(), 0.55 + 0.35 * rng.random())
    secondary = _hsv(hue + rng.choice((0.08, -0.08, 0.33)), 0.5 + 0.4 * rng.random(), 0.5 + 0.4 * rng.random())
    accent = _hsv(hue + 0.5 + rng.uniform(-0.05, 0.05), 0.7, 0.95 if not light_bg else 0.35)
    return Signature(motif, (background, primary, secondary, accent), rng.randint(3, 9), rng.randint(6, 16))


def draw(signature: Signature, rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """One picture of ``signature`` with per-picture variation drawn from ``rng``."""
    width, height = size
    bg, c1, c2, c3 = signature.palette
    shade = rng.uniform(-18, 18)
    bg = tuple(int(max(0, min(255, c + shade))) for c in bg)
    image = Image.new("RGB", size, bg)
    canvas = ImageDraw.Draw(image)
    scale = min(width, height) / 512 * rng.uniform(0.8, 1.2)
    cx = width / 2 + rng.uniform(-0.15, 0.15) * width
    cy = height / 2 + rng.uniform(-0.15, 0.15) * height
    angle = rng.uniform(0, 2 * math.pi)
    stroke = max(2, int(signature.weight * scale))
    _MOTIF_DRAWERS[signature.motif](canvas, signature, rng, width, height, cx, cy, angle, scale, stroke, (c1, c2, c3))
    # A soft blur and a little sensor-like noise make it photo-ish without hiding the motif.
    image = image.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.4, 1.2)))
    noise_rng = np.random.default_rng(rng.getrandbits(32))
    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + noise_rng.normal(0, 3.0, size=pixels.shape).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _rings(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    count = sig.order + rng.randint(-1, 1)
    for i in range(max(2, count), 0, -1):
        r = i * 240 / max(2, count) * scale
        canvas.ellipse([cx - r, cy - r, cx + r, cy + r], outline=colors[i % 3], width=stroke)


def _petals(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    n = sig.order + 2
    for layer, radius in enumerate((200, 120)):
        for k in range(n):
            a = angle + 2 * math.pi * k / n + layer * math.pi / n
            px, py = cx + math.cos(a) * radius * scale, cy + math.sin(a) * radius * scale
            r = 60 * scale * (1 - 0.3 * layer)
            canvas.ellipse([px - r, py - r * 0.6, px + r, py + r * 0.6], fill=colors[layer], outline=colors[2], width=max(1, stroke // 3))
    r = 45 * scale
    canvas.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colors[2])


def _waves(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    bands = sig.order + 2
    amplitude = rng.uniform(15, 35) * scale
    period = rng.uniform(90, 160) * scale
    for b in range(bands):
        y0 = (b + 0.5) * h / bands + rng.uniform(-8, 8)
        points = [(x, y0 + amplitude * math.sin(x / period * 2 * math.pi + angle + b)) for x in range(0, w + 8, 8)]
        canvas.line(points, fill=colors[b % 3], width=stroke)


def _lattice(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    step = max(24, int((60 + 10 * sig.order) * scale))
    offset = rng.randint(0, step)
    for x in range(-step + offset, w + step, step):
        canvas.line([(x, 0), (x + step // 2, h)], fill=colors[0], width=stroke)
    for y in range(-step + offset, h + step, step):
        canvas.line([(0, y), (w, y + step // 3)], fill=colors[1], width=max(1, stroke // 2))
    for x in range(offset, w, step):
        for y in range(offset, h, step):
            r = stroke
            canvas.rectangle([x - r, y - r, x + r, y + r], fill=colors[2])


def _stripes(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    n = sig.order * 2
    diag = math.hypot(w, h)
    dx, dy = math.cos(angle), math.sin(angle)
    for k in range(-n, n + 1):
        off = k * diag / (2 * n)
        ox, oy = cx - dy * off, cy + dx * off
        canvas.line([(ox - dx * diag, oy - dy * diag), (ox + dx * diag, oy + dy * diag)], fill=colors[k % 3], width=stroke * 2)


def _zigzag(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    rows = sig.order
    for r in range(rows):
        y = (r + 0.5) * h / rows
        step = (50 + 6 * sig.order) * scale
        points, x, up = [], -step, r % 2 == 0
        while x < w + step:
            points.append((x, y + (-1 if up else 1) * 28 * scale))
            x += step
            up = not up
        canvas.line(points, fill=colors[r % 3], width=stroke, joint="curve")
    r = 30 * scale
    canvas.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colors[2])


def _spiral(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    turns = 2 + sig.order / 3
    points = []
    steps = 240
    for i in range(steps):
        t = i / steps
        a = angle + t * turns * 2 * math.pi
        r = t * 230 * scale
        points.append((cx + math.cos(a) * r, cy + math.sin(a) * r))
    canvas.line(points, fill=colors[0], width=stroke)
    for i in range(0, steps, 24):
        x, y = points[i]
        r = stroke * 1.2
        canvas.ellipse([x - r, y - r, x + r, y + r], fill=colors[1 + (i // 24) % 2])


def _diamonds(canvas, sig, rng, w, h, cx, cy, angle, scale, stroke, colors):
    n = sig.order
    for i in range(n, 0, -1):
        r = i * 230 / n * scale
        pts = [(cx + r * math.cos(angle / 4 + k * math.pi / 2), cy + r * math.sin(angle / 4 + k * math.pi / 2)) for k in range(4)]
        canvas.polygon(pts, fill=colors[i % 3] if i % 2 else None, outline=colors[(i + 1) % 3], width=stroke)


_MOTIF_DRAWERS = {
    "rings": _rings,
    "petals": _petals,
    "waves": _waves,
    "lattice": _lattice,
    "stripes": _stripes,
    "zigzag": _zigzag,
    "spiral": _spiral,
    "diamonds": _diamonds,
}


def jpeg_bytes(image: Image.Image, quality: int = 82) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()
