"""A seeded generator of a short "scanned" Chinese book about Evenk culture, with ground truth.

``emmel ocr`` is meant for a user's own scan of 《鄂温克民族传统社会与文化》 (in copyright, so not
bundled). This generator makes a stand-in with the same difficulties: image-only pages (rendered
at 150–200 dpi with a CJK font, paper tone, grain, JPEG), a two-column page under a full-width
heading, figures side by side, photo-like figures with captions ``图N-M …`` in the varied forms
real books use, and one born-digital page (reportlab's built-in CID font, figures embedded as
images). The text is generated and says so on page 1.

``generate_book`` writes the PDF and returns a ``BookTruth`` (every line, paragraph, figure box,
caption box and the entity each caption names) so tests can score OCR and layout against it.

    python -m tests.synth.book --out data/sample_book.pdf
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from emmel.errors import EmmelError
from tests.synth.book_figures import draw_figure
from tests.synth.book_text import CAPTIONS, GENERAL, NOTICE, SENTENCES

PT_PER_INCH = 72.0
CLOSING_PUNCT = "，。、；：？！）》」』”"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


def find_cjk_font() -> str:
    """A TrueType font with Chinese glyphs: ``$EMMEL_CJK_FONT`` or a standard Debian location."""
    for candidate in (os.environ.get("EMMEL_CJK_FONT"), *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise EmmelError("no CJK font found: install fonts-wqy-microhei (apt) or set EMMEL_CJK_FONT to a .ttf/.ttc file")


@dataclass
class BookConfig:
    seed: int = 7
    dpi: int = 180  # resolution of the "scanned" page images
    width_pt: float = 524.0  # 16开 (185 x 260 mm)
    height_pt: float = 737.0
    margin_pt: float = 54.0
    gutter_pt: float = 24.0
    body_pt: float = 10.5
    caption_pt: float = 9.0
    heading_pt: float = 15.0
    leading: float = 1.7
    jpeg_quality: int = 82
    grain: float = 3.0  # std of the scanner noise, in grey levels
    digital_pages: tuple[int, ...] = (3,)  # 1-based pages written as born-digital text
    max_pages: int = 6  # the first pages of the plan (1..6; the sample book uses all 6)
    plan: list | None = None  # page plan (see PLAN); None = the sample book's
    min_figure_px: int = 300  # smallest figure side at the scan resolution


@dataclass
class FigureTruth:
    page: int
    label: str  # 图1-2
    caption: str  # full caption line: 图1-2 鄂温克族的撮罗子
    text: str  # caption without its label
    item: str  # the entity the caption names
    bbox: list[float]  # [x0, top, x1, bottom] in PDF points, origin top-left
    caption_bbox: list[float]
    paragraph: str | None  # the paragraph that refers to this figure, if any
    seed: int


@dataclass
class LineTruth:
    text: str
    bbox: list[float]
    kind: str  # heading | body | caption


@dataclass
class PageTruth:
    number: int
    kind: str  # scan | digital
    columns: int
    lines: list[LineTruth] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    figures: list[FigureTruth] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All text in reading order, one line per printed line."""
        return "\n".join(line.text for line in self.lines)


@dataclass
class BookTruth:
    path: str
    config: BookConfig
    pages: list[PageTruth]

    @property
    def figures(self) -> list[FigureTruth]:
        return [fig for page in self.pages for fig in page.figures]

    def to_dict(self) -> dict:
        return {"path": self.path, "config": asdict(self.config), "pages": [asdict(p) for p in self.pages]}


# ---------------------------------------------------------------- page plan
# Each page: (chapter, heading or None, columns); each column a list of elements:
#   ("p", item, n_sentences, refers_to_figures)   a paragraph about item
#   ("g", n_sentences)                           a paragraph of general context
#   ("f", item)                                   a figure of item, full column width
#   ("row", (item, item))                         two figures side by side
PLAN = [
    (1, "第一章　居住与出行", [[("notice",), ("p", "撮罗子", 3, True), ("f", "撮罗子"), ("p", "桦皮船", 3, True), ("f", "桦皮船"), ("g", 2)]]),
    (2, "第二章　驯鹿与萨满", [[("p", "驯鹿", 3, True), ("f", "驯鹿"), ("p", "驯鹿", 2, False)],
                              [("p", "萨满服饰", 3, True), ("f", "萨满服饰"), ("p", "萨满服饰", 2, False)]]),
    (3, "第三章　服饰与节日", [[("p", "鄂温克族服饰", 3, True), ("f", "鄂温克族服饰"), ("p", "瑟宾节", 3, True), ("f", "瑟宾节"), ("g", 2)]]),
    (4, "第四章　图版", [[("p", "撮罗子", 2, True), ("row", ("撮罗子", "桦皮船")), ("p", "驯鹿", 2, True), ("row", ("驯鹿", "萨满服饰"))]]),
    (5, None, [[("p", "鄂温克族服饰", 3, True), ("f", "鄂温克族服饰"), ("p", "鄂温克族服饰", 2, False)],
               [("p", "瑟宾节", 3, True), ("f", "瑟宾节"), ("p", "瑟宾节", 2, False)]]),
    (5, None, [[("p", "驯鹿", 2, True), ("f", "驯鹿"), ("p", "撮罗子", 2, True), ("row", ("撮罗子", "瑟宾节")), ("g", 4)]]),
]


@dataclass
class _Text:
    text: str
    x: float  # left, points
    baseline: float  # points from the top
    size: float
    kind: str

    @property
    def bbox(self) -> list[float]:
        return [self.x, self.baseline - 0.88 * self.size, self.x, self.baseline + 0.12 * self.size]


@dataclass
class _Picture:
    image: Image.Image
    bbox: list[float]


class _Composer:
    """Lays out one page in points; ``measure(text, size)`` is the width function of the backend."""

    def __init__(self, cfg: BookConfig, measure: Callable[[str, float], float], rng: np.random.Generator,
                 page: int, chapter: int, counters: dict, used: dict):
        self.cfg, self.measure, self.rng = cfg, measure, rng
        self.page, self.chapter, self.counters, self.used = page, chapter, counters, used
        self.texts: list[_Text] = []
        self.pictures: list[_Picture] = []
        self.truth = PageTruth(number=page, kind="", columns=1)

    # -- primitives
    def _line(self, text: str, x: float, top: float, size: float, kind: str) -> float:
        baseline = top + 0.88 * size + (self.cfg.leading - 1.0) * size / 2
        t = _Text(text, x, baseline, size, kind)
        self.texts.append(t)
        box = t.bbox
        box[2] = x + self.measure(text, size)
        self.truth.lines.append(LineTruth(text, [round(v, 2) for v in box], kind))
        return top + self.cfg.leading * size

    def _wrap(self, text: str, width: float, size: float, indent: float) -> list[str]:
        lines, current, limit = [], "", width - indent
        for ch in text:
            if current and self.measure(current + ch, size) > limit and ch not in CLOSING_PUNCT:
                lines.append(current)
                current, limit = "", width
            current += ch
        if current:
            lines.append(current)
        return lines

    def next_label(self) -> str:
        self.counters[self.chapter] = self.counters.get(self.chapter, 0) + 1
        return f"图{self.chapter}-{self.counters[self.chapter]}"

    # -- elements
    def heading(self, text: str, y: float) -> float:
        size = self.cfg.heading_pt
        x = (self.cfg.width_pt - self.measure(text, size)) / 2
        return self._line(text, x, y, size, "heading") + size * 0.6

    def paragraph(self, text: str, x0: float, x1: float, y: float) -> float:
        size = self.cfg.body_pt
        indent = 2 * size
        for k, line in enumerate(self._wrap(text, x1 - x0, size, indent)):
            y = self._line(line, x0 + (indent if k == 0 else 0), y, size, "body")
        self.truth.paragraphs.append(text)
        return y + size * 0.5

    def figure(self, item: str, x0: float, x1: float, y: float, paragraph: str | None) -> tuple[float, FigureTruth]:
        cfg = self.cfg
        width = min((x1 - x0) * float(self.rng.uniform(0.8, 0.95)), float(self.rng.uniform(230, 290)))
        height = width * float(self.rng.uniform(0.62, 0.75))
        height = max(height, cfg.min_figure_px * PT_PER_INCH / cfg.dpi)  # printed photos of usable size
        width = max(width, cfg.min_figure_px * PT_PER_INCH / cfg.dpi)
        left = x0 + (x1 - x0 - width) / 2
        px = lambda v: int(round(v * cfg.dpi / PT_PER_INCH))  # noqa: E731
        seed = int(self.rng.integers(0, 2**31))
        image = draw_figure(item, px(width), px(height), seed)
        bbox = [left, y, left + width, y + height]
        self.pictures.append(_Picture(image, bbox))
        label = self.next_label()
        variant = self.used.setdefault(item, list(self.rng.permutation(len(CAPTIONS[item]))))
        text = CAPTIONS[item][variant.pop(0) if variant else 0]
        caption = f"{label}　{text}"
        size = cfg.caption_pt
        cx = left + (width - self.measure(caption, size)) / 2
        bottom = self._line(caption, cx, y + height + 4, size, "caption")
        cap_box = self.truth.lines[-1].bbox
        fig = FigureTruth(self.page, label, caption, text, item, [round(v, 2) for v in bbox], cap_box,
                          paragraph, seed)
        self.truth.figures.append(fig)
        return bottom + size * 0.8, fig


def _draw_sentences(rng: np.random.Generator, decks: dict, key: str, n: int) -> list[str]:
    """``n`` different sentences about ``key``; a book uses each sentence once before any repeats."""
    pool = GENERAL if key == "general" else SENTENCES[key]
    picks: list[str] = []
    while len(picks) < min(n, len(pool)):
        deck = decks.get(key)
        if not deck:
            deck = decks[key] = [pool[i] for i in rng.permutation(len(pool))]
        sentence = deck.pop(0)
        if sentence not in picks:
            picks.append(sentence)
    return picks


def _paragraph_text(rng: np.random.Generator, decks: dict, item: str, n: int, refs: list[str]) -> str:
    picks = _draw_sentences(rng, decks, item, n)
    if refs:
        ref = "、".join(refs)
        picks[0] = picks[0][:-1] + f"（见{ref}）" + picks[0][-1]
    return "".join(picks)


def _compose_page(cfg: BookConfig, index: int, measure, rng, counters, used, decks) -> _Composer:
    chapter, heading, columns = (cfg.plan or PLAN)[index]
    comp = _Composer(cfg, measure, rng, index + 1, chapter, counters, used)
    comp.truth.columns = len(columns)
    y = cfg.margin_pt
    if heading:
        y = comp.heading(heading, y)
    inner = cfg.width_pt - 2 * cfg.margin_pt
    col_w = (inner - cfg.gutter_pt * (len(columns) - 1)) / len(columns)
    for c, elements in enumerate(columns):
        x0 = cfg.margin_pt + c * (col_w + cfg.gutter_pt)
        x1 = x0 + col_w
        cy = y
        pending: list[tuple[int, str]] = []  # (paragraph index, text) waiting for its figures' labels
        k = 0
        while k < len(elements):
            el = elements[k]
            if el[0] == "notice":
                cy = comp.paragraph(NOTICE, x0, x1, cy)
            elif el[0] == "g":
                cy = comp.paragraph("".join(_draw_sentences(rng, decks, "general", el[1])), x0, x1, cy)
            elif el[0] == "p":
                _, item, n, refers = el
                # a referring paragraph names the labels of the figures that follow it
                refs = []
                if refers:
                    nxt = elements[k + 1] if k + 1 < len(elements) else None
                    count = 2 if nxt and nxt[0] == "row" else 1 if nxt and nxt[0] == "f" else 0
                    refs = [f"图{chapter}-{counters.get(chapter, 0) + j + 1}" for j in range(count)]
                text = _paragraph_text(rng, decks, item, n, refs)
                cy = comp.paragraph(text, x0, x1, cy)
                pending = [(len(comp.truth.paragraphs) - 1, text)] if refs else []
            elif el[0] == "f":
                para = pending[0][1] if pending else None
                cy, _ = comp.figure(el[1], x0, x1, cy + 4, para)
                pending = []
            elif el[0] == "row":
                para = pending[0][1] if pending else None
                half = (x1 - x0 - cfg.gutter_pt) / 2
                bottoms = []
                for j, item in enumerate(el[1]):
                    fx0 = x0 + j * (half + cfg.gutter_pt)
                    b, _ = comp.figure(item, fx0, fx0 + half, cy + 4, para)
                    bottoms.append(b)
                cy = max(bottoms)
                pending = []
            k += 1
        if cy > cfg.height_pt - cfg.margin_pt / 2:
            raise EmmelError(f"page {index + 1} of the book plan overflows ({cy:.0f} pt)")
    return comp


# ---------------------------------------------------------------- backends
def _render_scan(comp: _Composer, cfg: BookConfig, font_path: str, rng: np.random.Generator) -> bytes:
    scale = cfg.dpi / PT_PER_INCH
    w, h = int(round(cfg.width_pt * scale)), int(round(cfg.height_pt * scale))
    paper = tuple(int(v) for v in rng.integers([240, 236, 226], [250, 246, 238]))
    page = Image.new("RGB", (w, h), paper)
    for pic in comp.pictures:
        x0, y0 = int(round(pic.bbox[0] * scale)), int(round(pic.bbox[1] * scale))
        page.paste(pic.image, (x0, y0))
    draw = ImageDraw.Draw(page)
    fonts: dict[float, ImageFont.FreeTypeFont] = {}
    for t in comp.texts:
        font = fonts.setdefault(t.size, ImageFont.truetype(font_path, size=max(6, int(round(t.size * scale)))))
        draw.text((t.x * scale, t.baseline * scale), t.text, font=font, fill=(28, 26, 24), anchor="ls")
    arr = np.asarray(page).astype(np.float32)
    arr += rng.normal(0.0, cfg.grain, size=arr.shape[:2])[..., None]
    out = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").save(out, "JPEG", quality=cfg.jpeg_quality, optimize=True)
    return out.getvalue()


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def generate_book(path: str | os.PathLike, config: BookConfig | None = None) -> BookTruth:
    """Write the book PDF to ``path`` and return its ground truth. Same config => same bytes."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    cfg = config or BookConfig()
    plan = cfg.plan or PLAN
    if not 1 <= cfg.max_pages <= len(plan):
        raise EmmelError(f"max_pages must be 1..{len(plan)}, got {cfg.max_pages}")
    font_path = find_cjk_font()
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    scale = cfg.dpi / PT_PER_INCH
    measure_fonts: dict[float, ImageFont.FreeTypeFont] = {}

    def measure_scan(text: str, size: float) -> float:
        font = measure_fonts.setdefault(size, ImageFont.truetype(font_path, size=max(6, int(round(size * scale)))))
        return font.getlength(text) / scale

    def measure_digital(text: str, size: float) -> float:
        return pdfmetrics.stringWidth(text, "STSong-Light", size)

    rng = np.random.default_rng(cfg.seed)
    counters: dict[int, int] = {}
    used: dict[str, list[int]] = {}
    decks: dict[str, list[str]] = {}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(cfg.width_pt, cfg.height_pt), invariant=1, pageCompression=1)
    pdf.setTitle("鄂温克传统文化（合成示例）")
    # the generator's old module name, kept so data/sample_book.pdf stays byte-identical
    pdf.setAuthor("emmel.synth.book (generated)")
    pages = []
    for index in range(cfg.max_pages):
        digital = (index + 1) in cfg.digital_pages
        comp = _compose_page(cfg, index, measure_digital if digital else measure_scan, rng, counters, used, decks)
        comp.truth.kind = "digital" if digital else "scan"
        if digital:
            H = cfg.height_pt
            for pic in comp.pictures:
                x0, y0, x1, y1 = pic.bbox
                pdf.drawImage(ImageReader(io.BytesIO(_jpeg(pic.image, 88))), x0, H - y1, x1 - x0, y1 - y0)
            for t in comp.texts:
                pdf.setFont("STSong-Light", t.size)
                pdf.setFillColorRGB(0.1, 0.1, 0.1)
                pdf.drawString(t.x, H - t.baseline, t.text)
        else:
            scan = _render_scan(comp, cfg, font_path, rng)
            pdf.drawImage(ImageReader(io.BytesIO(scan)), 0, 0, cfg.width_pt, cfg.height_pt)
        pdf.showPage()
        pages.append(comp.truth)
    pdf.save()
    from emmel.io import atomic_write_bytes

    atomic_write_bytes(path, buffer.getvalue())
    return BookTruth(path=str(path), config=cfg, pages=pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.synth.book", description="Write the synthetic scanned Evenk book PDF.")
    parser.add_argument("--out", required=True, help="PDF file to write")
    parser.add_argument("--seed", type=int, default=BookConfig.seed)
    parser.add_argument("--dpi", type=int, default=BookConfig.dpi, help="resolution of the scanned pages")
    parser.add_argument("--pages", type=int, default=BookConfig.max_pages, help=f"number of pages (1..{len(PLAN)})")
    parser.add_argument("--truth", help="also write the ground truth as JSON here")
    args = parser.parse_args(argv)
    try:
        truth = generate_book(args.out, BookConfig(seed=args.seed, dpi=args.dpi, max_pages=args.pages))
    except EmmelError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.truth:
        from emmel.io import write_json

        write_json(args.truth, truth.to_dict())
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {len(truth.pages)} pages, {len(truth.figures)} figures, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
