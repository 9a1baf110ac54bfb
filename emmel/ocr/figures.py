"""Figure regions: embedded images of a born-digital page, or large non-text regions of a scan.

On a scan the detector works on a small grey copy of the page (``work_dpi``): pixels clearly
darker than the paper, or locally textured, are "ink"; the text runs found by OCR (or the text
layer) are blanked out; what is left is closed into blobs, and blobs at least ``min_side_in``
inches on both sides that fill a good part of their box are figures. Boxes are then refined on
the full-resolution page. Everything here is deterministic (fixed thresholds, no randomness).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emmel.ocr.types import Box, area, intersection, iou

PT_PER_INCH = 72.0


@dataclass
class FigureConfig:
    min_side_in: float = 0.6  # smallest figure side, inches
    work_dpi: int = 72  # resolution of the detection pass
    ink_delta: int = 24  # grey levels below the paper that count as ink
    texture_std: float = 9.0  # local standard deviation that counts as picture texture
    min_fill: float = 0.3  # share of a figure's box covered by ink
    max_page_share: float = 0.8  # an image covering more of the page is the scan itself
    text_pad_pt: float = 1.5  # margin blanked around each text run


def embedded_figures(images: list[dict], page_box: Box, cfg: FigureConfig) -> tuple[list[Box], bool]:
    """Figure boxes from pdfplumber's ``page.images`` and whether the page is a scan.

    Images are clipped to the page; overlapping or touching tiles are merged; one covering most of
    the page marks the page as scanned (its figures must be found in the pixels).
    """
    px0, ptop, px1, pbottom = page_box
    page_area = (px1 - px0) * (pbottom - ptop)
    boxes, scanned = [], False
    for im in images:
        box = (max(px0, float(im["x0"])), max(ptop, float(im["top"])), min(px1, float(im["x1"])), min(pbottom, float(im["bottom"])))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        if area(box) >= cfg.max_page_share * page_area:
            scanned = True
            continue
        boxes.append(box)
    merged = _merge(boxes, touch=2.0)
    side = cfg.min_side_in * PT_PER_INCH
    return [b for b in merged if b[2] - b[0] >= side and b[3] - b[1] >= side], scanned


def _merge(boxes: list[Box], touch: float) -> list[Box]:
    boxes = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] - touch <= b[2] and b[0] - touch <= a[2] and a[1] - touch <= b[3] and b[1] - touch <= a[3]:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def detect_figures(gray: np.ndarray, dpi: float, text_boxes: list[Box], cfg: FigureConfig) -> list[Box]:
    """Figure boxes (points) on a rendered page ``gray`` (uint8, ``dpi``), text runs blanked out."""
    import cv2

    h, w = gray.shape
    scale = cfg.work_dpi / dpi
    small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    paper = float(np.percentile(small, 90))
    ink = small < paper - cfg.ink_delta
    f = small.astype(np.float32)
    mean = cv2.blur(f, (3, 3))
    std = np.sqrt(np.maximum(cv2.blur(f * f, (3, 3)) - mean * mean, 0))
    mask = (ink | (std > cfg.texture_std)).astype(np.uint8)
    to_px = cfg.work_dpi / PT_PER_INCH
    pad = cfg.text_pad_pt
    for x0, y0, x1, y1 in text_boxes:
        mask[max(0, int((y0 - pad) * to_px)):int(np.ceil((y1 + pad) * to_px)), max(0, int((x0 - pad) * to_px)):int(np.ceil((x1 + pad) * to_px))] = 0
    k = max(3, int(round(cfg.work_dpi * 0.08)) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_side = cfg.min_side_in * cfg.work_dpi
    found = []
    for i in range(1, count):
        x, y, bw, bh, filled = (int(v) for v in stats[i])
        if bw < min_side or bh < min_side or filled < cfg.min_fill * bw * bh:
            continue
        if bw * bh >= cfg.max_page_share * w * h * scale * scale:
            continue
        found.append((x / to_px, y / to_px, (x + bw) / to_px, (y + bh) / to_px))
    found = _merge(found, touch=0.0)
    return [_refine(gray, dpi, box, paper_level=paper, cfg=cfg) for box in found]


def _refine(gray: np.ndarray, dpi: float, box: Box, *, paper_level: float, cfg: FigureConfig) -> Box:
    """Tighten a coarse box on the full-resolution page: keep rows/columns that are mostly picture."""
    s = dpi / PT_PER_INCH
    margin = 2.0 * PT_PER_INCH / cfg.work_dpi  # two coarse pixels
    h, w = gray.shape
    x0, y0 = max(0, int((box[0] - margin) * s)), max(0, int((box[1] - margin) * s))
    x1, y1 = min(w, int(np.ceil((box[2] + margin) * s))), min(h, int(np.ceil((box[3] + margin) * s)))
    window = gray[y0:y1, x0:x1] < paper_level - cfg.ink_delta
    if window.size == 0:
        return box
    cols = np.flatnonzero(window.mean(axis=0) > 0.5)
    rows = np.flatnonzero(window.mean(axis=1) > 0.5)
    if len(cols) < 2 or len(rows) < 2:
        return box
    tight = ((x0 + cols[0]) / s, (y0 + rows[0]) / s, (x0 + cols[-1] + 1) / s, (y0 + rows[-1] + 1) / s)
    # a side that moved far inward met a light edge of the picture: keep the coarse side there
    keep = [
        tight[0] if tight[0] - box[0] <= 2 * margin else box[0],
        tight[1] if tight[1] - box[1] <= 2 * margin else box[1],
        tight[2] if box[2] - tight[2] <= 2 * margin else box[2],
        tight[3] if box[3] - tight[3] <= 2 * margin else box[3],
    ]
    return tuple(round(v, 2) for v in keep)


def combine(embedded: list[Box], detected: list[Box]) -> list[tuple[Box, str]]:
    """Embedded image boxes are exact; a detected box adds a figure only where none overlaps it."""
    out = [(b, "embedded") for b in embedded]
    for d in detected:
        if all(iou(d, b) < 0.3 and intersection(d, b) < 0.5 * area(d) for b in embedded):
            out.append((d, "detected"))
    return sorted(out, key=lambda item: (round(item[0][1] / 12), item[0][0]))


def inside(box: Box, figure: Box) -> bool:
    """A text run belongs to a figure when its centre lies in it."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return figure[0] <= cx <= figure[2] and figure[1] <= cy <= figure[3]
