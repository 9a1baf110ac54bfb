"""Plain data passed between the OCR stages. Coordinates are PDF points, origin at the page's
top-left corner (pdfplumber's ``x0, top, x1, bottom``), unless a name says ``px``."""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x0, top, x1, bottom


@dataclass(frozen=True)
class TextBox:
    """A run of text on one line: an OCR segment or a word of the PDF text layer."""

    text: str
    bbox: Box
    confidence: float = 1.0
    size: float = 0.0  # font size in points when the text layer knows it, else 0

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]


@dataclass
class Line:
    boxes: list[TextBox]
    text: str
    bbox: Box
    confidence: float
    size: float  # font size (text layer) or box height (OCR): compared only within a page
    kind: str = "body"  # body | heading | caption


@dataclass
class Paragraph:
    lines: list[Line]
    kind: str  # body | heading | caption
    block: int  # index of the layout block (column segment) it belongs to

    @property
    def text(self) -> str:
        return join_lines([line.text for line in self.lines])

    @property
    def bbox(self) -> Box:
        return union([line.bbox for line in self.lines])

    @property
    def confidence(self) -> float:
        chars = [max(1, len(line.text)) for line in self.lines]
        return sum(c * line.confidence for c, line in zip(chars, self.lines)) / sum(chars)


@dataclass
class Caption:
    label: str  # normalised figure label, e.g. 图3-2
    text: str  # caption without its label
    paragraph: Paragraph

    @property
    def bbox(self) -> Box:
        return self.paragraph.bbox

    @property
    def full_text(self) -> str:
        return self.paragraph.text


@dataclass
class Figure:
    bbox: Box
    origin: str  # embedded | detected
    caption: Caption | None = None
    description: Paragraph | None = None
    inner_text: list[str] = field(default_factory=list)  # OCR text found inside the picture
    image_name: str = ""  # path of its crop in the output folder


def union(boxes) -> Box:
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Box, b: Box) -> float:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    total = area(a) + area(b) - inter
    return inter / total if total > 0 else 0.0


def _ascii_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def join_text(left: str, right: str) -> str:
    """Join two runs of one line or paragraph: a space only between two Latin words."""
    if left and right and _ascii_word(left[-1]) and _ascii_word(right[0]):
        return f"{left} {right}"
    return left + right


def join_lines(texts: list[str]) -> str:
    out = ""
    for text in texts:
        out = join_text(out, text.strip())
    return out
