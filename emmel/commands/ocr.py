"""`emmel ocr BOOK.pdf --out DIR`: figures, captions and nearby text of a (scanned) PDF book as a
raw source folder for `emmel build` (see docs/ocr.md)."""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("pdf", help="the PDF book (scanned or born-digital)")
    parser.add_argument("--out", required=True, help="raw source folder to write (records.jsonl, images/, pages/, summary.json)")
    parser.add_argument("--pages", help="pages to read, 1-based, e.g. 1-50 or 3,7,10-12 (default: all)")
    parser.add_argument("--engine", default="rapidocr", choices=("rapidocr", "paddleocr", "tesseract"),
                        help="OCR engine for pages without a text layer (default: rapidocr, offline)")
    parser.add_argument("--dpi", type=int, default=300, help="render resolution for OCR and figure crops (default: 300)")
    parser.add_argument("--title-from", default="caption", choices=("caption", "heading"),
                        help="entity title from the caption (default) or from the section heading above the figure")
    parser.add_argument("--min-confidence", type=float, default=0.85,
                        help="pages whose mean OCR confidence is below this are listed in summary.json (default: 0.85)")
    parser.add_argument("--image-format", default="png", choices=("png", "jpeg"), help="format of the figure crops")
    parser.add_argument("--region", default="", help="region / ethnic group written into every record (e.g. 鄂温克族)")
    parser.add_argument("--category", default="", help="category written into every record")
    parser.add_argument("--license", default=None, help="license statement written into every record")
    parser.add_argument("--paddle-models", default=None,
                        help="folder holding the PaddleOCR det/rec model folders (engine paddleocr; or $EMMEL_PADDLE_MODELS)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")


def run(args) -> int:
    from emmel.ocr.pipeline import DEFAULT_LICENSE, OcrConfig, ocr_pdf

    cfg = OcrConfig(
        engine=args.engine, dpi=args.dpi, pages=args.pages, title_from=args.title_from,
        min_confidence=args.min_confidence, image_format=args.image_format, region=args.region,
        category=args.category, license=args.license or DEFAULT_LICENSE, paddle_models=args.paddle_models,
    )
    summary = ocr_pdf(args.pdf, args.out, cfg, overwrite=args.overwrite, progress=not args.quiet)
    if not args.quiet:
        conf = summary["mean_confidence"]
        print(
            f"{args.out}: {summary['pages_processed']} pages ({len(summary['ocr_pages'])} OCR, "
            f"{len(summary['text_layer_pages'])} text layer), {summary['figures_found']} figures, "
            f"{summary['captions_paired']}/{summary['captions_found']} captions paired, {summary['records']} records, "
            f"mean confidence {conf if conf is not None else 'n/a'}"
        )
        for key, label in (("errors", "pages with errors"), ("pages_without_text", "pages without text"),
                           ("low_confidence_pages", f"pages below confidence {summary['confidence_threshold']}")):
            if summary[key]:
                items = [e["page"] for e in summary[key]] if key == "errors" else summary[key]
                print(f"  {label}: {', '.join(map(str, items))} (see summary.json)")
    return 0
