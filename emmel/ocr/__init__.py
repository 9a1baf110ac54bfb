"""`emmel ocr`: figures, captions and nearby text of a scanned or born-digital PDF book.

Stages, each a small module with pure functions at its heart: ``pdf`` (open, text layer,
render), ``engines`` (OCR behind one interface), ``figures`` (embedded and detected picture
regions), ``layout`` (reading order, lines, paragraphs), ``captions`` (pairing, description,
title), ``pipeline`` (the raw source folder). See docs/ocr.md.
"""

from emmel.ocr.pipeline import OcrConfig, ocr_pdf

__all__ = ["OcrConfig", "ocr_pdf"]
