"""Opening a PDF with clear errors, reading a page's text layer, rendering a page.

A PDF password, when needed, comes from ``$EMMEL_PDF_PASSWORD`` (never a command-line flag).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from emmel.errors import EmmelError
from emmel.images import DEFAULT_LIMITS, ImageLimits, check_pixels, to_rgb
from emmel.ocr.types import TextBox

PASSWORD_ENV = "EMMEL_PDF_PASSWORD"
_CID = re.compile(r"\(cid:\d+\)")


def parse_pages(spec: str | None, count: int) -> list[int]:
    """``"1-3,7,10-12"`` -> sorted 1-based page numbers; None means every page."""
    if not spec:
        return list(range(1, count + 1))
    pages: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                lo_s, hi_s = part.split("-", 1)
                lo = int(lo_s) if lo_s else 1
                hi = int(hi_s) if hi_s else count
            else:
                lo = hi = int(part)
        except ValueError:
            raise EmmelError(f"bad --pages {spec!r}: expected numbers and ranges like 1-50,60") from None
        if lo < 1 or hi < lo:
            raise EmmelError(f"bad --pages range {part!r}: pages are numbered from 1")
        if lo > count:
            raise EmmelError(f"--pages {part!r} is outside the PDF, which has {count} page{'s' * (count != 1)}")
        pages.update(range(lo, min(hi, count) + 1))
    if not pages:
        raise EmmelError(f"--pages {spec!r} selects no page")
    return sorted(pages)


class PdfBook:
    """An open PDF whose pages are built one at a time, so one malformed page (a broken
    MediaBox, say) fails alone instead of failing the whole book."""

    def __init__(self, path: str | os.PathLike):
        import pdfplumber
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
        from pdfminer.pdfpage import PDFPage

        path = Path(path)
        self.path = path
        if not path.exists():
            raise EmmelError("file not found", path=path)
        if not path.is_file():
            raise EmmelError("not a file", path=path)
        if path.stat().st_size == 0:
            raise EmmelError("empty file (0 bytes), not a PDF", path=path)
        with open(path, "rb") as handle:
            head = handle.read(1024)
        if b"%PDF-" not in head:
            raise EmmelError("not a PDF (no %PDF- header)", path=path)
        self._pdf = None
        try:
            self._pdf = pdfplumber.open(path, password=os.environ.get(PASSWORD_ENV, ""))
            self._objects = list(PDFPage.create_pages(self._pdf.doc))
        except Exception as exc:  # pdfminer raises many types, pdfplumber wraps some
            self.close()
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
            if isinstance(inner, (PDFPasswordIncorrect, PDFEncryptionError)):
                raise EmmelError(
                    f"encrypted PDF: set {PASSWORD_ENV} to its password, or decrypt it first (qpdf --decrypt in.pdf out.pdf)",
                    path=path,
                ) from None
            detail = str(inner).strip() or type(inner).__name__
            raise EmmelError(f"corrupted or unreadable PDF ({type(inner).__name__}: {detail})", path=path) from None
        if not self._objects:
            self.close()
            raise EmmelError("the PDF has no pages", path=path)

    def __len__(self) -> int:
        return len(self._objects)

    def page(self, number: int):
        """The pdfplumber page ``number`` (1-based); raises if that page is malformed."""
        from pdfplumber.page import Page

        page = Page(self._pdf, self._objects[number - 1], page_number=number, initial_doctop=0)
        if not (page.width > 0 and page.height > 0):
            raise ValueError(f"page has an empty or inverted size ({page.width:g} x {page.height:g} pt): check its MediaBox")
        return page

    def close(self) -> None:
        if self._pdf is not None:
            # not PDF.close(): it builds every page to close it, failing again on a malformed one
            self._pdf.flush_cache()
            if not self._pdf.stream_is_external:
                self._pdf.stream.close()
            self._pdf = None

    def __enter__(self) -> PdfBook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _garbled(ch: str) -> bool:
    return ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff"


def text_layer(page) -> tuple[list[TextBox], bool]:
    """Words of the page's text layer and whether they are usable.

    A layer is unusable when it is empty or mostly glyph ids (``(cid:123)``, private-use or
    replacement characters: a font without a Unicode map); such pages are OCR'd instead.
    Vertical (non-upright) words are left out.
    """
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False, extra_attrs=["size"])
    boxes, total, bad = [], 0, 0
    for w in words:
        text = w["text"]
        cids = len(_CID.findall(text))
        rest = _CID.sub("", text).replace(" ", "")
        total += cids + len(rest)
        bad += cids + sum(_garbled(ch) for ch in rest)
        if not w.get("upright", True):
            continue
        boxes.append(TextBox(text, (float(w["x0"]), float(w["top"]), float(w["x1"]), float(w["bottom"])), 1.0, float(w.get("size") or 0.0)))
    usable = total > 0 and bad <= 0.3 * total
    return (boxes if usable else []), usable


def render(page, dpi: float, limits: ImageLimits = DEFAULT_LIMITS):
    """The page as an RGB PIL image at ``dpi`` (pypdfium2 through pdfplumber). A page whose render
    would pass the build's pixel limit (a poster-sized or forged page box) raises ``ImageProblem``
    before any pixel is allocated."""
    scale = dpi / 72.0
    check_pixels(math.ceil(float(page.width) * scale), math.ceil(float(page.height) * scale), limits)
    return to_rgb(page.to_image(resolution=dpi).original)
