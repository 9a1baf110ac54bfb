"""Captions, figure–caption pairing, the describing paragraph and the entity title (pure functions).

Pairing: a caption belongs to a figure when they overlap horizontally (half of the narrower one,
or the caption's centre lies within the figure) and the caption sits just below the figure (up
to ``max_gap_em`` ems) or, failing that, just above it. All candidate pairs are ranked by gap
(a caption above pays a small penalty) and assigned greedily one to one, so side-by-side figures
each get the caption under them.

Description: the body paragraph on the page that cites the figure's label (``见图3-2``) and, if
none does, the paragraph closest to the figure and its caption (same layout block preferred).
Figure references in brackets are removed from it (they point into the book, not at the entity).

Title (``title_from_caption``), a documented heuristic that maps caption variants of one item to
one label: take the caption text without its label; drop trailing notes in brackets and photo
credits (``——某某摄``); drop a trailing part marker (``之二``, ``局部``, ``一角``, ``（三）``); drop
a leading possessive naming a people or place (``鄂温克族的``, ``使鹿鄂温克人的``, ``鄂温克猎民的``).
``图3-2 鄂温克族的撮罗子（夏季）`` -> ``撮罗子``. Names such as ``鄂温克族服饰`` (no ``的``) are kept.
"""

from __future__ import annotations

import math
import re

from emmel.ocr.layout import normalise, parse_caption
from emmel.ocr.types import Box, Caption, Figure, Paragraph, union

_NOTE = re.compile(r"\s*[（(【\[][^（）()【】\[\]]*[）)】\]]\s*$")
_CREDIT = re.compile(r"\s*(?:——|--|—).*$|\s*[\u4e00-\u9fff]{2,4}\s*摄\s*$")
_PART = re.compile(r"\s*(?:之[一二三四五六七八九十]+|局部|一角|[（(][一二三四五六七八九十0-9]+[）)])\s*$")
_POSSESSIVE = re.compile(
    r"^[\u4e00-\u9fff]{1,10}?(?:族|人|猎民|牧民|部落|部族|地区|自治旗|旗|乡|村|屯)的(?=[\u4e00-\u9fff]{2})"
)
_FIGURE_REF = re.compile(r"[（(]\s*(?:见|参见|参看|如)?\s*(?:图\s*[0-9一二三四五六七八九十]+(?:\s*[-－–—.．]\s*[0-9]+)*\s*[、，,和及至~～-]?\s*)+[）)]")
_HEADING_NUMBER = re.compile(
    r"^\s*(?:第[一二三四五六七八九十百零〇0-9]+[章节篇部编卷]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|[0-9]+(?:\.[0-9]+)*[.、]?)\s*"
)


def title_from_caption(text: str) -> str:
    """The entity a caption names (see the module docstring); the whole text when nothing is left."""
    original = normalise(text)
    title = original
    for _ in range(3):  # notes and part markers may nest: 撮罗子之二（夏季）
        before = title
        title = _CREDIT.sub("", title)
        title = _NOTE.sub("", title)
        title = _PART.sub("", title)
        if title == before:
            break
    title = _POSSESSIVE.sub("", title).strip(" ：:，,。.")
    return title if len(title) >= 2 else original


def title_from_heading(text: str) -> str:
    """A section heading without its number: ``第三章 撮罗子`` -> ``撮罗子``."""
    return _HEADING_NUMBER.sub("", normalise(text)).strip() or normalise(text)


def strip_figure_refs(text: str) -> str:
    """Drop in-text figure references: ``…骨架（见图1-1、图1-2）。`` -> ``…骨架。``"""
    return _FIGURE_REF.sub("", text)


def find_captions(paragraphs: list[Paragraph]) -> list[Caption]:
    out = []
    for para in paragraphs:
        if para.kind != "caption":
            continue
        parsed = parse_caption(para.text)
        if parsed:
            out.append(Caption(label=parsed[0], text=parsed[1], paragraph=para))
    return out


def _h_related(fig: Box, cap: Box) -> bool:
    overlap = min(fig[2], cap[2]) - max(fig[0], cap[0])
    narrower = min(fig[2] - fig[0], cap[2] - cap[0])
    centre = (cap[0] + cap[2]) / 2
    return overlap >= 0.5 * narrower or fig[0] <= centre <= fig[2]


def pair_captions(figures: list[Figure], captions: list[Caption], em: float, max_gap_em: float = 4.0) -> None:
    """Set ``figure.caption`` for every figure with a caption just below (or above) it."""
    candidates = []
    for fi, fig in enumerate(figures):
        for ci, cap in enumerate(captions):
            f, c = fig.bbox, cap.bbox
            if not _h_related(f, c):
                continue
            below, above = c[1] - f[3], f[1] - c[3]
            tolerance = -0.5 * em  # OCR boxes may reach slightly into the picture
            if tolerance <= below <= max_gap_em * em:
                candidates.append((max(below, 0.0), fi, ci))
            elif tolerance <= above <= max_gap_em * em:
                candidates.append((max(above, 0.0) + 1.0 * em, fi, ci))
    used_f, used_c = set(), set()
    for _, fi, ci in sorted(candidates):
        if fi in used_f or ci in used_c:
            continue
        figures[fi].caption = captions[ci]
        used_f.add(fi)
        used_c.add(ci)


def _distance(a: Box, b: Box) -> float:
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def _cites(paragraph: Paragraph, label: str) -> bool:
    text = normalise(paragraph.text).replace(" ", "")
    return re.search(re.escape(label) + r"(?![0-9])", text) is not None


def describe(figures: list[Figure], paragraphs: list[Paragraph]) -> None:
    """Set ``figure.description`` to the paragraph that cites it, else the nearest body paragraph."""
    body = [(i, p) for i, p in enumerate(paragraphs) if p.kind == "body"]
    if not body:
        return
    for fig in figures:
        target = fig.bbox if fig.caption is None else union([fig.bbox, fig.caption.bbox])
        block = fig.caption.paragraph.block if fig.caption else None
        pool = body
        if fig.caption:
            citing = [(i, p) for i, p in body if _cites(p, fig.caption.label)]
            pool = citing or body

        def rank(item, target=target, block=block):
            i, p = item
            d = _distance(target, p.bbox)
            return (d * (1.0 if block is None or p.block == block else 2.0), i)

        fig.description = min(pool, key=rank)[1]
