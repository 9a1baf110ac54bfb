"""Reading order, lines and paragraphs from positioned text runs (pure functions, no I/O).

The input is a bag of ``TextBox`` runs (OCR segments or text-layer words) in PDF points. The
algorithm, tuned for horizontally set Chinese books:

1. *em*: the median width of one CJK character over the runs (font size when the text layer
   gives it). Every threshold below is in ems, so it works at any dpi and with any engine.
2. *Rows*: runs are cut into rows wherever a horizontal strip of the page holds no run (the top
   and bottom quarter of each run are ignored, since OCR boxes are padded and overlap).
3. *Sections*: consecutive rows through which a vertical gutter runs (a gap of at least
   ``gutter_em`` that no run crosses) form a multi-column section; rows with no interior gap
   form a single-column section. A full-width heading therefore ends a two-column section.
4. A section with a gutter is cut at its widest gutter and each side is read recursively, left
   side first; a section without one is a leaf block.
5. In a leaf, runs whose vertical centres agree within half a line height form a line (read left
   to right); a line is split again at any gap of ``gutter_em`` (side-by-side captions).
6. Lines are classed as caption (``图3-2 …``), heading (short, no final punctuation, and larger
   than the page's body text or numbered like 第三章 / 一、) or body, and body lines are grouped
   into paragraphs: a new paragraph starts after a larger-than-usual line gap, at a first-line
   indent, or after a line that stops short of the block's right edge.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from emmel.ocr.types import Box, Line, Paragraph, TextBox, join_text, union

CAPTION_RE = re.compile(
    r"^\s*(?:图|圖|插图|Fig\.?|Figure)\s*"
    r"(?P<num>[0-9一二三四五六七八九十]+(?:\s*[-－–—‐.．·]\s*[0-9]+)*)"
    r"(?![0-9])\s*[:：.．、]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
HEADING_RE = re.compile(r"^(第[一二三四五六七八九十百零〇0-9]+[章节篇部编卷]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）)")
FINAL_PUNCT = tuple("。，；：！？,.;:!?）)")


@dataclass
class LayoutConfig:
    gutter_em: float = 1.5  # narrowest gap that separates columns (and splits a line)
    space_em: float = 0.5  # a gap this wide between two runs of a line is written as a space
    indent_em: float = 1.0  # first-line indent that starts a paragraph
    short_em: float = 1.5  # a line ending this far before the block's right edge ends its paragraph
    para_gap: float = 1.45  # line pitch / the block's median pitch above which a paragraph starts
    heading_ratio: float = 1.25  # heading size / page median size
    heading_max_chars: int = 24
    caption_join: float = 0.6  # max gap (in caption line heights) to a caption's second line


@dataclass
class PageLayout:
    em: float
    blocks: list[list[Line]]
    paragraphs: list[Paragraph]

    @property
    def lines(self) -> list[Line]:
        return [line for block in self.blocks for line in block]


_WIDE = {0x3000: " ", **{c: chr(c - 0xFEE0) for c in (*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B))}}


def normalise(text: str) -> str:
    """Full-width digits, Latin letters and spaces to ASCII, whitespace runs to one space.

    Chinese punctuation (，。（）) is kept as printed; unlike NFKC this never rewrites the text
    itself, only the characters a caption number or label is made of.
    """
    return re.sub(r"\s+", " ", text.translate(_WIDE)).strip()


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def estimate_em(boxes: list[TextBox]) -> float:
    """Typical character size in points: font size if known, else width per CJK character."""
    sizes = [b.size for b in boxes if b.size > 0]
    if sizes:
        return float(statistics.median(sizes))
    per_char = []
    for b in boxes:
        chars = [ch for ch in b.text if not ch.isspace()]
        if len(chars) >= 2 and sum(_is_cjk(ch) for ch in chars) >= 0.6 * len(chars):
            per_char.append(b.width / len(chars))
    if per_char:
        return float(statistics.median(per_char))
    heights = [b.height for b in boxes if b.height > 0]
    return float(statistics.median(heights)) / 1.3 if heights else 10.0


def _interior_gaps(intervals: list[tuple[float, float]], min_width: float) -> list[tuple[float, float]]:
    """Gaps of at least ``min_width`` between the merged intervals (never the outer margins)."""
    gaps, end = [], None
    for lo, hi in sorted(intervals):
        if end is not None and lo - end >= min_width:
            gaps.append((end, lo))
        end = hi if end is None else max(end, hi)
    return gaps


def _gutters(boxes: list[TextBox], min_width: float) -> list[tuple[float, float]]:
    return _interior_gaps([(b.bbox[0], b.bbox[2]) for b in boxes], min_width)


def _rows(boxes: list[TextBox]) -> list[list[TextBox]]:
    def core(b: TextBox) -> tuple[float, float]:
        trim = 0.25 * b.height
        return b.bbox[1] + trim, b.bbox[3] - trim

    rows: list[list[TextBox]] = []
    end = None
    for b in sorted(boxes, key=lambda b: (core(b)[0], b.bbox[0])):
        lo, hi = core(b)
        if rows and lo < end:
            rows[-1].append(b)
            end = max(end, hi)
        else:
            rows.append([b])
            end = hi
    return rows


def _sections(rows: list[list[TextBox]], min_gutter: float) -> list[list[TextBox]]:
    sections: list[list[TextBox]] = []
    has_gutter: list[bool] = []
    for row in rows:
        row_gutter = bool(_gutters(row, min_gutter))
        if sections:
            if _gutters(sections[-1] + row, min_gutter):  # a column gap runs through both
                sections[-1].extend(row)
                has_gutter[-1] = True
                continue
            if not has_gutter[-1] and not row_gutter:  # single-column flow goes on
                sections[-1].extend(row)
                continue
        sections.append(list(row))
        has_gutter.append(row_gutter)
    return sections


def _leaves(boxes: list[TextBox], min_gutter: float) -> list[list[TextBox]]:
    """Recursive cut into reading-ordered leaf blocks."""
    leaves = []
    for section in _sections(_rows(boxes), min_gutter):
        gutters = _gutters(section, min_gutter)
        if not gutters:
            leaves.append(section)
            continue
        lo, hi = max(gutters, key=lambda g: (g[1] - g[0], -g[0]))
        cut = (lo + hi) / 2
        left = [b for b in section if b.bbox[2] <= cut]
        right = [b for b in section if b.bbox[2] > cut]
        leaves.extend(_leaves(left, min_gutter))
        leaves.extend(_leaves(right, min_gutter))
    return leaves


def _make_line(boxes: list[TextBox], em: float, cfg: LayoutConfig) -> Line:
    boxes = sorted(boxes, key=lambda b: b.bbox[0])
    text = ""
    for prev, b in zip([None] + boxes[:-1], boxes):
        piece = b.text.strip()
        if prev is not None and b.bbox[0] - prev.bbox[2] >= cfg.space_em * em and text and piece:
            text += " " + piece
        else:
            text = join_text(text, piece) if prev is not None else piece
    chars = [max(1, len(b.text.strip())) for b in boxes]
    confidence = sum(c * b.confidence for c, b in zip(chars, boxes)) / sum(chars)
    sizes = [b.size for b in boxes if b.size > 0]
    size = float(statistics.median(sizes)) if sizes else float(statistics.median([b.height for b in boxes]))
    return Line(boxes, text, union(b.bbox for b in boxes), confidence, size)


def _lines_of_leaf(boxes: list[TextBox], em: float, cfg: LayoutConfig) -> list[Line]:
    boxes = [b for b in boxes if b.text]  # figures only shape the cut
    groups: list[list[TextBox]] = []
    for b in sorted(boxes, key=lambda b: ((b.bbox[1] + b.bbox[3]) / 2, b.bbox[0])):
        cy = (b.bbox[1] + b.bbox[3]) / 2
        if groups:
            g = groups[-1]
            gcy = sum((x.bbox[1] + x.bbox[3]) / 2 for x in g) / len(g)
            gh = statistics.median([x.height for x in g])
            if abs(cy - gcy) <= 0.5 * min(gh, b.height) + 1e-6:
                g.append(b)
                continue
        groups.append([b])
    lines = []
    for g in groups:
        g.sort(key=lambda b: b.bbox[0])
        part = [g[0]]
        for b in g[1:]:
            if b.bbox[0] - max(x.bbox[2] for x in part) >= cfg.gutter_em * em:
                lines.append(_make_line(part, em, cfg))
                part = []
            part.append(b)
        lines.append(_make_line(part, em, cfg))
    return lines


def parse_caption(text: str) -> tuple[str, str] | None:
    """``"图3-2 鄂温克族的撮罗子"`` -> ``("图3-2", "鄂温克族的撮罗子")``; None if not a caption."""
    m = CAPTION_RE.match(normalise(text))
    if not m:
        return None
    number = re.sub(r"\s+", "", m.group("num"))
    number = re.sub(r"[－–—‐.．·]", "-", number)
    return f"图{number}", m.group("rest").strip()


def _classify(lines: list[Line], cfg: LayoutConfig) -> None:
    if not lines:
        return
    weights = []
    for line in lines:
        weights.extend([line.size] * max(1, len(line.text)))
    median_size = statistics.median(weights)
    for line in lines:
        text = normalise(line.text)
        if parse_caption(text):
            line.kind = "caption"
        elif (
            0 < len(text.replace(" ", "")) <= cfg.heading_max_chars
            and not text.endswith(FINAL_PUNCT)
            and (line.size >= cfg.heading_ratio * median_size or HEADING_RE.match(text))
        ):
            line.kind = "heading"
        else:
            line.kind = "body"


def _paragraphs_of_block(lines: list[Line], block: int, em: float, cfg: LayoutConfig) -> list[Paragraph]:
    body = [line for line in lines if line.kind == "body"] or lines
    x0, x1 = min(line.bbox[0] for line in body), max(line.bbox[2] for line in body)
    centres = [(line.bbox[1] + line.bbox[3]) / 2 for line in lines]
    body_pitches = [
        centres[i + 1] - centres[i] for i in range(len(lines) - 1) if lines[i].kind == lines[i + 1].kind == "body"
    ]
    pitch = statistics.median(body_pitches) if body_pitches else 0.0
    paragraphs: list[Paragraph] = []
    for i, line in enumerate(lines):
        prev = lines[i - 1] if i else None
        current = paragraphs[-1] if paragraphs else None
        if prev is not None and current is not None:
            if current.kind == "caption" and line.kind == "body":
                cap = current.lines[-1]
                gap = line.bbox[1] - cap.bbox[3]
                inside = line.bbox[0] >= cap.bbox[0] - em and line.bbox[2] <= cap.bbox[2] + em
                similar = abs(line.size - cap.size) <= 0.15 * max(cap.size, 1e-6)
                if gap <= cfg.caption_join * (cap.bbox[3] - cap.bbox[1]) and inside and similar:
                    current.lines.append(line)
                    continue
            elif current.kind == "body" and line.kind == "body":
                step = centres[i] - centres[i - 1]
                new = (
                    (pitch > 0 and step > cfg.para_gap * pitch)
                    or line.bbox[0] - x0 >= cfg.indent_em * em
                    or prev.bbox[2] < x1 - cfg.short_em * em
                )
                if not new:
                    current.lines.append(line)
                    continue
        paragraphs.append(Paragraph([line], line.kind, block))
    return paragraphs


def analyse(boxes: list[TextBox], cfg: LayoutConfig | None = None, figures: list[Box] = ()) -> PageLayout:
    """Lines, blocks and paragraphs of one page, in reading order.

    ``figures`` take part in the cut as text-less boxes, so a caption is read in the column of
    its picture (side-by-side figures with captions at different heights read left to right).
    """
    cfg = cfg or LayoutConfig()
    boxes = [b for b in boxes if b.text.strip()]
    if not boxes:
        return PageLayout(em=10.0, blocks=[], paragraphs=[])
    em = estimate_em(boxes)
    obstacles = [TextBox("", tuple(f)) for f in figures]
    blocks = [_lines_of_leaf(leaf, em, cfg) for leaf in _leaves(boxes + obstacles, cfg.gutter_em * em)]
    blocks = [b for b in blocks if b]
    _classify([line for block in blocks for line in block], cfg)
    paragraphs = []
    for index, block in enumerate(blocks):
        paragraphs.extend(_paragraphs_of_block(block, index, em, cfg))
    return PageLayout(em=em, blocks=blocks, paragraphs=paragraphs)

