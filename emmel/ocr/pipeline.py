"""From a PDF book to a raw source folder (docs/FORMAT.md §1) of figure records.

Per page: text from the text layer when it is usable, else OCR of the rendered page; figures from
embedded images and from the pixels; layout; captions paired to figures; the describing
paragraph. Then, per figure with a caption, one ``RawRecord`` and a PNG/JPEG crop.

A page that fails is reported in ``summary.json`` (and its text dump) and the book goes on. The
folder is written into a temporary sibling and renamed into place at the end, and nothing in it
depends on time or machine, so the same PDF and options give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emmel.errors import EmmelError
from emmel.images import ImageProblem
from emmel.io import atomic_directory, atomic_write_bytes, atomic_write_text, check_output, sha256_file, write_json
from emmel.ocr.captions import describe, find_captions, pair_captions, strip_figure_refs, title_from_caption, title_from_heading
from emmel.ocr.figures import FigureConfig, combine, detect_figures, embedded_figures, inside
from emmel.ocr.layout import LayoutConfig, PageLayout, analyse, estimate_em, normalise
from emmel.ocr.types import Figure, TextBox
from emmel.progress import progress as show_progress

DEFAULT_LICENSE = "user-supplied scan of a book; the book's copyright applies: check it before redistributing"
TEXT_LAYER = "text-layer"
KIND = "ocr"  # the output kind in the folder's emmel.io.MARKER


@dataclass
class OcrConfig:
    engine: str = "rapidocr"
    dpi: int = 300
    pages: str | None = None  # "1-50,60"; None = all
    title_from: str = "caption"  # caption | heading
    min_confidence: float = 0.85  # pages whose mean OCR confidence is lower are listed in the summary
    image_format: str = "png"  # png | jpeg
    region: str = ""
    category: str = ""
    license: str = DEFAULT_LICENSE
    paddle_models: str | None = None
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    figures: FigureConfig = field(default_factory=FigureConfig)

    def __post_init__(self) -> None:
        if not 50 <= self.dpi <= 1200:
            raise EmmelError(f"--dpi must be between 50 and 1200, got {self.dpi}")
        if self.title_from not in ("caption", "heading"):
            raise EmmelError(f"--title-from must be caption or heading, got {self.title_from!r}")
        if self.image_format not in ("png", "jpeg"):
            raise EmmelError(f"--image-format must be png or jpeg, got {self.image_format!r}")


@dataclass
class PageResult:
    number: int
    text_source: str = ""  # "text-layer" or the engine name
    layout: PageLayout | None = None
    figures: list[Figure] = field(default_factory=list)
    scanned: bool = False  # one image covers the page
    origin: tuple[float, float] = (0.0, 0.0)  # page point at the render's top-left pixel
    scale: float = 0.0  # render pixels per point
    image: object | None = None  # the rendered page (PIL), kept only until its crops are written
    error: str | None = None

    @property
    def chars(self) -> int:
        return sum(len(line.text.replace(" ", "")) for line in self.layout.lines) if self.layout else 0

    @property
    def confidence(self) -> float | None:
        if not self.layout or not self.layout.lines:
            return None
        weights = [max(1, len(line.text)) for line in self.layout.lines]
        return sum(w * line.confidence for w, line in zip(weights, self.layout.lines)) / sum(weights)


def analyse_page(page, number: int, cfg: OcrConfig, engine) -> PageResult:
    """Read one pdfplumber page into text layout and figures (no files written).

    The render covers the page's crop box; ``result.origin``/``result.scale`` map page points to
    its pixels, so boxes stay in pdfplumber's coordinates even when the crop box is offset.
    """
    from emmel.ocr.pdf import render, text_layer

    result = PageResult(number)
    x0, top, x1, bottom = (float(v) for v in page.cropbox)
    boxes, usable = text_layer(page)
    embedded, result.scanned = embedded_figures(page.images, (x0, top, x1, bottom), cfg.figures)
    image = render(page, cfg.dpi)
    result.origin, result.scale = (x0, top), image.width / (x1 - x0)  # pixels per point, exact
    to_page = lambda b: (b[0] / result.scale + x0, b[1] / result.scale + top, b[2] / result.scale + x0, b[3] / result.scale + top)  # noqa: E731
    if usable:
        result.text_source = TEXT_LAYER
    else:
        result.text_source = engine.name
        boxes = [
            TextBox(b.text, tuple(round(v, 2) for v in to_page(b.bbox)), round(b.confidence, 4))
            for b in engine.recognize(image, cfg.dpi)
            if b.text.strip()
        ]
    em = estimate_em(boxes) if boxes else 10.0
    text_boxes = [(b.bbox[0] - x0, b.bbox[1] - top, b.bbox[2] - x0, b.bbox[3] - top) for b in boxes if b.height <= 3 * em]
    gray = np.asarray(image.convert("L"))
    detected = [
        tuple(round(v, 2) for v in (b[0] + x0, b[1] + top, b[2] + x0, b[3] + top))
        for b in detect_figures(gray, result.scale * 72.0, text_boxes, cfg.figures)
    ]
    figures = [Figure(bbox=box, origin=origin) for box, origin in combine(embedded, detected)]
    kept = []
    for b in boxes:
        owner = next((f for f in figures if inside(b.bbox, f.bbox)), None)
        if owner is None:
            kept.append(b)
        else:
            owner.inner_text.append(b.text)
    result.layout = analyse(kept, cfg.layout, figures=[f.bbox for f in figures])
    captions = find_captions(result.layout.paragraphs)
    pair_captions(figures, captions, result.layout.em)
    describe(figures, result.layout.paragraphs)
    result.figures = figures
    result.image = image
    return result


def _describe_error(exc: BaseException) -> str:
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    detail = str(inner).strip()
    return f"{type(inner).__name__}: {detail}" if detail else type(inner).__name__


def _page_tag(number: int, width: int) -> str:
    return f"p{number:0{width}d}"


def _dump(result: PageResult) -> str:
    """The per-page review text: paragraphs in reading order, figures where their captions are."""
    head = f"# page {result.number}"
    if result.error:
        return f"{head}\n# error: {result.error}\n"
    conf = result.confidence
    head += f" · {result.text_source}" + (f" · mean confidence {conf:.3f}" if conf is not None else " · no text")
    head += f" · {len(result.figures)} figure{'s' * (len(result.figures) != 1)}"
    parts = [head]
    by_caption = {id(f.caption.paragraph): f for f in result.figures if f.caption}
    for para in result.layout.paragraphs:
        prefix = {"heading": "## ", "caption": ""}.get(para.kind, "")
        parts.append(prefix + "\n".join(line.text for line in para.lines))
        fig = by_caption.get(id(para))
        if fig is not None:
            parts.append(f"[figure {fig.image_name} {_fmt_box(fig.bbox)}]")
    for fig in result.figures:
        if fig.caption is None:
            parts.append(f"[figure without caption {fig.image_name} {_fmt_box(fig.bbox)}]")
    return "\n\n".join(parts) + "\n"


def _fmt_box(box) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in box) + "]"


def _crop(result: PageResult, box, fmt: str) -> bytes:
    import math

    image, scale, (ox, oy) = result.image, result.scale, result.origin
    x0, y0 = max(0, math.floor((box[0] - ox) * scale)), max(0, math.floor((box[1] - oy) * scale))
    x1, y1 = min(image.width, math.ceil((box[2] - ox) * scale)), min(image.height, math.ceil((box[3] - oy) * scale))
    buffer = io.BytesIO()
    crop = image.crop((x0, y0, x1, y1))
    if fmt == "jpeg":
        crop.save(buffer, "JPEG", quality=92)
    else:
        crop.save(buffer, "PNG", compress_level=4)  # lossless; level 4 is ~2x faster than 6 for photos
    return buffer.getvalue()


def _record(result: PageResult, fig: Figure, k: int, stem: str, pdf_name: str, cfg: OcrConfig, heading: str | None) -> dict | None:
    cap = fig.caption
    text = normalise(cap.text)
    if not text:
        return None
    title = title_from_caption(text)
    if cfg.title_from == "heading" and heading:
        title = title_from_heading(heading)
    return {
        "record_id": f"{stem}:p{result.number}:f{k}",
        "title": title,
        "text": text,
        "image": fig.image_name,
        "category": cfg.category,
        "region": cfg.region,
        "aliases": [],
        "entity_description": strip_figure_refs(normalise(fig.description.text)) if fig.description else "",
        "source": {
            "kind": "book",
            "file": pdf_name,
            "page": result.number,
            "bbox": [round(v, 2) for v in fig.bbox],
            "caption_bbox": [round(v, 2) for v in cap.bbox],
            "caption": normalise(cap.full_text),
            "figure_label": cap.label,
            "figure_origin": fig.origin,
            "confidence": round(cap.paragraph.confidence, 4),
            "engine": result.text_source,
            "dpi": cfg.dpi,
        },
        "license": cfg.license,
    }


def _headings_before(result: PageResult, fig: Figure | None, carried: str | None) -> str | None:
    """The last heading before the figure's caption in reading order (or from earlier pages);
    with no figure, the last heading of the page (carried on to the next)."""
    heading = carried
    for para in result.layout.paragraphs if result.layout else []:
        if fig is not None and fig.caption is not None and para is fig.caption.paragraph:
            break
        if para.kind == "heading":
            heading = para.text
    return heading


def ocr_pdf(pdf_path: str | Path, out_dir: str | Path, cfg: OcrConfig | None = None, *, overwrite: bool = False,
            engine=None, progress: bool = True) -> dict:
    """Turn a PDF into a raw source folder at ``out_dir``; returns the summary it writes.

    ``progress=True`` shows a bar on a terminal (see emmel.progress); False never does.
    """
    from emmel.ocr.pdf import PdfBook, parse_pages
    from emmel.ocr.recognizers import make_engine
    from emmel.sources import RawSourceWriter

    cfg = cfg or OcrConfig()
    pdf_path = Path(pdf_path)
    check_output(out_dir, kind=KIND, overwrite=overwrite, inputs=[pdf_path])  # before the book is read
    pdf = PdfBook(pdf_path)
    try:
        numbers = parse_pages(cfg.pages, len(pdf))
        engine = engine or make_engine(cfg.engine, paddle_models=cfg.paddle_models)
        digest = sha256_file(pdf_path)
        stem = pdf_path.stem
        width = max(3, len(str(len(pdf))))
        ext = "png" if cfg.image_format == "png" else "jpg"
        results: list[PageResult] = []
        per_page, records = [], 0
        carried_heading: str | None = None
        with atomic_directory(out_dir, kind=KIND, overwrite=overwrite, inputs=[pdf_path]) as tmp:
            meta = {"file": pdf_path.name, "sha256": digest, "engine": cfg.engine, "dpi": cfg.dpi,
                    "pages": cfg.pages or "all", "title_from": cfg.title_from}
            with RawSourceWriter(tmp, kind="book", **meta) as writer:
                for number in (numbers if progress is False else show_progress(numbers, desc="ocr", unit="page")):
                    tag = _page_tag(number, width)
                    try:
                        result = analyse_page(pdf.page(number), number, cfg, engine)
                        crops = []
                        for k, fig in enumerate(result.figures, start=1):
                            fig.image_name = f"images/{tag}-f{k}.{ext}"
                            crops.append((fig.image_name, _crop(result, fig.bbox, cfg.image_format)))
                    except ImageProblem as exc:  # a page too large to render: that page fails alone
                        result, crops = PageResult(number, error=f"page not rendered: {exc.detail}; lower --dpi"), []
                    except (KeyboardInterrupt, EmmelError):
                        raise
                    except Exception as exc:  # one bad page never stops the book
                        result, crops = PageResult(number, error=_describe_error(exc)), []
                    result.image = None  # free the render
                    for name, data in crops:
                        atomic_write_bytes(tmp / name, data)
                    page_records = 0
                    for k, fig in enumerate(result.figures, start=1):
                        heading = _headings_before(result, fig, carried_heading)
                        record = _record(result, fig, k, stem, pdf_path.name, cfg, heading) if fig.caption else None
                        if record is not None:
                            writer.write(record)
                            page_records += 1
                    carried_heading = _headings_before(result, None, carried_heading)
                    atomic_write_text(tmp / "pages" / f"{tag}.txt", _dump(result))
                    records += page_records
                    per_page.append(_page_summary(result, page_records, cfg))
                    results.append(result)
            summary = _summary(pdf_path.name, digest, len(pdf), cfg, per_page, results, records)
            write_json(tmp / "summary.json", summary)
            if all(r.error for r in results):
                raise EmmelError(f"no page could be read; page {results[0].number}: {results[0].error}", path=pdf_path)
    finally:
        pdf.close()
    return summary


def _page_summary(result: PageResult, records: int, cfg: OcrConfig) -> dict:
    conf = result.confidence
    return {
        "page": result.number,
        "text_source": result.text_source or None,
        "scanned": result.scanned,
        "error": result.error,
        "lines": len(result.layout.lines) if result.layout else 0,
        "chars": result.chars,
        "confidence": round(conf, 4) if conf is not None else None,
        "figures": len(result.figures),
        "captions": sum(1 for p in result.layout.paragraphs if p.kind == "caption") if result.layout else 0,
        "paired": sum(1 for f in result.figures if f.caption),
        "records": records,
    }


def _summary(name: str, digest: str, total: int, cfg: OcrConfig, per_page: list[dict], results: list[PageResult], records: int) -> dict:
    ok = [r for r in results if not r.error]
    weights = [(r.chars, r.confidence) for r in ok if r.confidence is not None and r.chars]
    mean = sum(c * w for c, w in weights) / sum(c for c, _ in weights) if weights else None
    unpaired_captions = []
    for r in ok:
        paired = {id(f.caption.paragraph) for f in r.figures if f.caption}
        for p in r.layout.paragraphs:
            if p.kind == "caption" and id(p) not in paired:
                unpaired_captions.append({"page": r.number, "caption": normalise(p.text)})
    return {
        "pdf": name,
        "sha256": digest,
        "engine": cfg.engine,
        "dpi": cfg.dpi,
        "pages_in_pdf": total,
        "pages_processed": len(results),
        "text_layer_pages": [r.number for r in ok if r.text_source == TEXT_LAYER],
        "ocr_pages": [r.number for r in ok if r.text_source and r.text_source != TEXT_LAYER],
        "figures_found": sum(len(r.figures) for r in ok),
        "captions_found": sum(pp["captions"] for pp in per_page),
        "captions_paired": sum(pp["paired"] for pp in per_page),
        "records": records,
        "mean_confidence": round(mean, 4) if mean is not None else None,
        "confidence_threshold": cfg.min_confidence,
        "low_confidence_pages": [pp["page"] for pp in per_page if pp["confidence"] is not None and pp["confidence"] < cfg.min_confidence],
        "pages_without_text": [r.number for r in ok if not r.chars],
        "errors": [{"page": r.number, "error": r.error} for r in results if r.error],
        "unpaired_figures": [f.image_name for r in ok for f in r.figures if f.caption is None],
        "unpaired_captions": unpaired_captions,
        "per_page": per_page,
    }
