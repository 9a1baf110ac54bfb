"""Procedural, photo-like drawings of Evenk cultural items for the synthetic scanned book.

They are not photographs: each is a seeded composition of simple shapes (a conical tent, a bark
canoe, reindeer, a shaman robe, a festive robe, a bonfire with dancers) over a varied background,
finished with blur, grain and a vignette so that a figure detector and the build's image checks
treat it like a printed photograph. Different seeds give visibly different pictures (background,
position, scale, palette), so figures of one item are not near-duplicates of each other.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ITEMS = ("撮罗子", "桦皮船", "驯鹿", "萨满服饰", "鄂温克族服饰", "瑟宾节")


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _jitter(rng: np.random.Generator, color, amount=25):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def _background(rng: np.random.Generator, w: int, h: int, scene: str) -> Image.Image:
    """Sky-and-ground or studio backdrop, as an RGB image."""
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    if scene == "studio":
        top, bottom = _jitter(rng, (150, 140, 125), 40), _jitter(rng, (70, 62, 55), 30)
        for y in range(h):
            draw.line([(0, y), (w, y)], fill=_mix(top, bottom, y / max(1, h - 1)))
        return img
    skies = {"day": ((120, 165, 215), (215, 230, 240)), "dusk": ((60, 50, 100), (235, 150, 90)),
             "winter": ((170, 185, 200), (235, 238, 242))}
    grounds = {"day": (80, 120, 60), "dusk": (50, 45, 40), "winter": (225, 228, 232)}
    sky_top, sky_low = (_jitter(rng, c) for c in skies[scene])
    horizon = int(h * rng.uniform(0.45, 0.7))
    for y in range(horizon):
        draw.line([(0, y), (w, y)], fill=_mix(sky_top, sky_low, y / max(1, horizon - 1)))
    ground = _jitter(rng, grounds[scene])
    for y in range(horizon, h):
        draw.line([(0, y), (w, y)], fill=_mix(ground, _mix(ground, (30, 30, 30), 0.4), (y - horizon) / max(1, h - horizon)))
    # a line of distant conifers along the horizon, different for every seed
    tree = _jitter(rng, (35, 60, 40) if scene != "dusk" else (25, 25, 30), 15)
    x = int(rng.integers(-20, 10))
    while x < w:
        tw = int(rng.integers(max(6, w // 40), max(8, w // 14)))
        th = int(tw * rng.uniform(1.6, 3.2))
        draw.polygon([(x, horizon), (x + tw, horizon), (x + tw // 2, horizon - th)], fill=tree)
        x += int(tw * rng.uniform(0.5, 1.6))
    if scene == "day" and rng.random() < 0.6:
        r = int(rng.integers(w // 30, w // 14))
        cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, max(r + 1, horizon // 2)))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 240, 200))
    return img


def _tent(draw, rng, w, h):
    base = h * rng.uniform(0.78, 0.9)
    cx = w * rng.uniform(0.3, 0.7)
    half = w * rng.uniform(0.18, 0.3)
    top = h * rng.uniform(0.12, 0.25)
    bark = _jitter(rng, (170, 140, 100))
    draw.polygon([(cx - half, base), (cx + half, base), (cx, top)], fill=bark)
    for k in range(int(rng.integers(5, 10))):  # bark strips
        t = (k + 1) / 11
        y = top + (base - top) * t
        hw = half * t
        draw.line([(cx - hw, y), (cx + hw, y)], fill=_mix(bark, (60, 40, 20), 0.5), width=2)
    for k in range(int(rng.integers(4, 8))):  # poles out of the smoke hole
        dx = (k - 3) * half * 0.06
        draw.line([(cx + dx, top + 10), (cx + dx * 3, top - h * 0.08)], fill=(80, 55, 30), width=3)
    door = half * 0.35
    draw.polygon([(cx - door, base), (cx + door, base), (cx, base - (base - top) * 0.45)], fill=(40, 28, 18))


def _canoe(draw, rng, w, h):
    water_top = int(h * rng.uniform(0.55, 0.7))
    water = _jitter(rng, (70, 110, 140))
    draw.rectangle([0, water_top, w, h], fill=water)
    for _ in range(int(rng.integers(15, 35))):
        y = int(rng.integers(water_top + 4, h))
        x = int(rng.integers(0, w))
        draw.line([(x, y), (x + int(rng.integers(10, 40)), y)], fill=_mix(water, (230, 240, 250), 0.5), width=1)
    length = w * rng.uniform(0.5, 0.8)
    x0 = (w - length) * rng.uniform(0.1, 0.9)
    y = water_top + (h - water_top) * rng.uniform(0.2, 0.5)
    depth = h * rng.uniform(0.06, 0.1)
    birch = _jitter(rng, (225, 215, 190), 15)
    draw.chord([x0, y - depth, x0 + length, y + depth], 0, 180, fill=birch, outline=(60, 50, 40))
    for k in range(1, 6):
        xs = x0 + length * k / 6
        draw.line([(xs, y), (xs, y + depth * 0.8)], fill=(90, 70, 50), width=2)
    if rng.random() < 0.7:  # a paddler
        px = x0 + length * rng.uniform(0.35, 0.65)
        draw.ellipse([px - 8, y - depth - 38, px + 8, y - depth - 22], fill=(70, 50, 40))
        draw.rectangle([px - 9, y - depth - 22, px + 9, y], fill=_jitter(rng, (60, 70, 90)))
        draw.line([(px - 30, y + depth), (px + 25, y - depth - 30)], fill=(60, 40, 25), width=3)


def _reindeer(draw, rng, w, h):
    for _ in range(int(rng.integers(1, 4))):
        s = h * rng.uniform(0.18, 0.3)
        cx = w * rng.uniform(0.2, 0.8)
        cy = h * rng.uniform(0.55, 0.75)
        coat = _jitter(rng, (110, 90, 70), 30)
        draw.ellipse([cx - s, cy - s * 0.45, cx + s, cy + s * 0.45], fill=coat)
        for dx in (-0.7, -0.45, 0.45, 0.7):
            draw.line([(cx + dx * s, cy + s * 0.3), (cx + dx * s, cy + s * 1.2)], fill=_mix(coat, (0, 0, 0), 0.4), width=max(2, int(s / 12)))
        sign = 1 if rng.random() < 0.5 else -1
        hx, hy = cx + sign * s * 1.05, cy - s * 0.7
        draw.line([(cx + sign * s * 0.7, cy - s * 0.2), (hx, hy)], fill=coat, width=max(3, int(s / 5)))
        draw.ellipse([hx - s * 0.2, hy - s * 0.14, hx + s * 0.2, hy + s * 0.14], fill=coat)
        antler = (200, 185, 160)
        for side in (-1, 1):
            bx, by = hx + side * s * 0.08, hy - s * 0.1
            tx, ty = bx + side * s * 0.35, by - s * 0.6
            draw.line([(bx, by), (tx, ty)], fill=antler, width=max(2, int(s / 14)))
            for t in (0.4, 0.7, 1.0):
                ax, ay = bx + (tx - bx) * t, by + (ty - by) * t
                draw.line([(ax, ay), (ax + side * s * 0.18, ay - s * 0.12)], fill=antler, width=max(1, int(s / 18)))


def _robe(draw, rng, w, h, shaman: bool):
    cx = w * rng.uniform(0.4, 0.6)
    top, bottom = h * rng.uniform(0.12, 0.2), h * rng.uniform(0.8, 0.9)
    shoulder, hem = w * rng.uniform(0.14, 0.2), w * rng.uniform(0.22, 0.32)
    cloth = _jitter(rng, (130, 95, 60) if shaman else (60, 80, 130), 30)
    draw.polygon([(cx - shoulder, top), (cx + shoulder, top), (cx + hem, bottom), (cx - hem, bottom)], fill=cloth)
    for side in (-1, 1):  # the sleeves
        draw.polygon([(cx + side * shoulder, top), (cx + side * shoulder * 2.2, top + h * 0.3),
                      (cx + side * shoulder * 1.6, top + h * 0.34), (cx + side * shoulder * 0.8, top + h * 0.1)], fill=cloth)
    if shaman:
        for k in range(int(rng.integers(18, 34))):  # fringes
            x = cx - hem + 2 * hem * k / 33
            draw.line([(x, bottom), (x + rng.uniform(-4, 4), bottom + h * 0.08)], fill=(60, 45, 30), width=2)
        for _ in range(int(rng.integers(3, 7))):  # bronze mirrors
            r = w * rng.uniform(0.025, 0.05)
            mx, my = cx + rng.uniform(-shoulder, shoulder), rng.uniform(top + h * 0.1, bottom - h * 0.1)
            draw.ellipse([mx - r, my - r, mx + r, my + r], fill=(185, 150, 70), outline=(90, 70, 30))
        for _ in range(int(rng.integers(4, 9))):  # bells
            bx, by = cx + rng.uniform(-hem, hem) * 0.8, bottom - rng.uniform(0, h * 0.1)
            draw.polygon([(bx - 5, by), (bx + 5, by), (bx, by - 10)], fill=(150, 130, 70))
    else:
        trim = _jitter(rng, (200, 60, 50), 40)
        for t in (0.25, 0.55, 0.9):
            y = top + (bottom - top) * t
            hw = shoulder + (hem - shoulder) * t
            draw.rectangle([cx - hw, y - 5, cx + hw, y + 5], fill=trim)
        draw.line([(cx, top), (cx + shoulder * 0.6, top + (bottom - top) * 0.5)], fill=_mix(trim, (255, 255, 255), 0.3), width=6)
        draw.rectangle([cx - hem * 0.9, top + (bottom - top) * 0.42, cx + hem * 0.9, top + (bottom - top) * 0.47], fill=(40, 30, 25))


def _festival(draw, rng, w, h):
    fx, fy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.7, 0.82)
    fw = w * rng.uniform(0.08, 0.14)
    for _ in range(int(rng.integers(5, 9))):
        dx = rng.uniform(-fw, fw)
        fh = h * rng.uniform(0.12, 0.3)
        color = (250, int(rng.integers(120, 220)), 40)
        draw.polygon([(fx + dx - fw * 0.4, fy), (fx + dx + fw * 0.4, fy), (fx + dx, fy - fh)], fill=color)
    draw.rectangle([fx - fw * 1.2, fy, fx + fw * 1.2, fy + h * 0.03], fill=(70, 40, 20))
    n = int(rng.integers(5, 10))
    radius = w * rng.uniform(0.28, 0.4)
    for k in range(n):  # dancers in a ring around the fire
        a = math.pi * (0.1 + 0.8 * k / max(1, n - 1))
        x, y = fx + radius * math.cos(a) * (1 if k % 2 else -1), fy - h * 0.05 + radius * 0.25 * math.sin(a)
        s = h * rng.uniform(0.09, 0.13)
        body = _jitter(rng, (90, 40, 60), 50)
        draw.ellipse([x - s * 0.18, y - s * 1.3, x + s * 0.18, y - s * 0.95], fill=(60, 40, 35))
        draw.polygon([(x - s * 0.3, y), (x + s * 0.3, y), (x, y - s * 0.95)], fill=body)
        draw.line([(x - s * 0.5, y - s * 0.6), (x + s * 0.5, y - s * 0.6)], fill=body, width=3)


_SCENES = {
    "撮罗子": ("day", "winter", "dusk"),
    "桦皮船": ("day", "dusk"),
    "驯鹿": ("winter", "day"),
    "萨满服饰": ("studio",),
    "鄂温克族服饰": ("studio", "day"),
    "瑟宾节": ("dusk", "day"),
}


def draw_figure(item: str, width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB picture of ``item`` (one of ``ITEMS``); same arguments give the same pixels."""
    if item not in _SCENES:
        raise ValueError(f"unknown item {item!r}; known: {', '.join(ITEMS)}")
    rng = np.random.default_rng([seed, ITEMS.index(item)])
    scenes = _SCENES[item]
    img = _background(rng, width, height, scenes[int(rng.integers(len(scenes)))])
    draw = ImageDraw.Draw(img)
    if item == "撮罗子":
        for _ in range(int(rng.integers(1, 3))):
            _tent(draw, rng, width, height)
    elif item == "桦皮船":
        _canoe(draw, rng, width, height)
    elif item == "驯鹿":
        _reindeer(draw, rng, width, height)
    elif item == "萨满服饰":
        _robe(draw, rng, width, height, shaman=True)
    elif item == "鄂温克族服饰":
        _robe(draw, rng, width, height, shaman=False)
    else:
        _festival(draw, rng, width, height)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.6, 1.2))))
    arr = np.asarray(img).astype(np.float32)
    arr += rng.normal(0.0, 7.0, size=arr.shape[:2])[..., None]  # film grain
    yy, xx = np.mgrid[0:height, 0:width]
    dist = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    arr *= (1.0 - 0.22 * np.clip(dist, 0, 2) / 2)[..., None]  # vignette
    if rng.random() < 0.35:  # an old black-and-white print
        gray = arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        arr = np.repeat(gray[..., None], 3, axis=2) * np.array([1.0, 0.97, 0.9], dtype=np.float32)
    # keep the print darker than paper at its edges so the figure's extent is visible on the page
    arr = np.clip(arr, 0, 215)
    return Image.fromarray(arr.astype(np.uint8), "RGB")
