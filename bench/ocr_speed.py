"""Speed of `emmel ocr` on scanned A4 pages at 300 dpi with the default engine.

Generates a few text-dense, image-only A4 pages (300 dpi scans, a photo-like figure and its
caption on each), loads the OCR models once (timed apart), then times the whole `ocr_pdf` run
(render, OCR, figure detection, layout, crops, records) and prints seconds per page and pages
per minute, with the machine's load, since other processes share the cores.

    python bench/ocr_speed.py [--pages 4] [--dpi 300] [--engine rapidocr] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emmel.ocr.pipeline import OcrConfig, ocr_pdf  # noqa: E402
from emmel.ocr.recognizers import make_engine  # noqa: E402
from tests.ocr_metrics import cer  # noqa: E402
from tests.synth.book import BookConfig, generate_book  # noqa: E402

A4 = (595.3, 841.9)
ITEMS = ("撮罗子", "桦皮船", "驯鹿", "萨满服饰", "鄂温克族服饰", "瑟宾节")


def dense_plan(pages: int) -> list:
    """One figure and about 900 characters of body text per page, like a page of the real book."""
    plan = []
    for k in range(pages):
        item = ITEMS[k % len(ITEMS)]
        others = [i for i in ITEMS if i != item]
        column = [("p", item, 5, True), ("f", item)] + [("p", other, 5, False) for other in others[:4]] + [("g", 6)]
        plan.append((k + 1, f"第{'一二三四五六七八九'[k % 9]}章　{item}", [column]))
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs over the book (the best is reported too)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = BookConfig(seed=1, dpi=args.dpi, width_pt=A4[0], height_pt=A4[1], digital_pages=(),
                         max_pages=args.pages, plan=dense_plan(args.pages), grain=3.0)
        truth = generate_book(tmp / "a4.pdf", cfg)
        chars = statistics.mean(len(p.text.replace("\n", "")) for p in truth.pages)
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        engine = make_engine(args.engine)
        ocr_pdf(tmp / "a4.pdf", tmp / "warm", OcrConfig(engine=args.engine, dpi=args.dpi, pages="1"), engine=engine, progress=False)
        warm = time.perf_counter() - t0
        runs, cpu = [], []
        for k in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            summary = ocr_pdf(tmp / "a4.pdf", tmp / f"run{k}", OcrConfig(engine=args.engine, dpi=args.dpi), engine=engine, progress=False)
            runs.append((time.perf_counter() - t0) / args.pages)
            cpu.append((time.process_time() - c0) / args.pages)
        load1 = os.getloadavg()
        errors = []
        for page in truth.pages:
            dump = (tmp / "run0" / "pages" / f"p{page.number:03d}.txt").read_text(encoding="utf-8")
            text = "\n".join(line.removeprefix("## ") for line in dump.splitlines()[1:] if not line.startswith("[figure"))
            errors.append(cer(page.text, text))

    per_page = statistics.mean(runs)
    print(f"engine {args.engine}, {args.pages} scanned A4 pages at {args.dpi} dpi "
          f"({round(A4[0] * args.dpi / 72)}x{round(A4[1] * args.dpi / 72)} px, ~{chars:.0f} characters and 1 figure each)")
    print(f"model load + first page: {warm:.2f} s")
    print(f"seconds per page: {per_page:.2f} (mean of {args.repeat} runs; best {min(runs):.2f})")
    print(f"pages per minute: {60 / per_page:.1f}")
    print(f"CPU seconds per page (all threads of this process): {statistics.mean(cpu):.2f}")
    print(f"figures found {summary['figures_found']}/{args.pages}, captions paired {summary['captions_paired']}, "
          f"mean CER {statistics.mean(errors):.4f}, mean confidence {summary['mean_confidence']}")
    print(f"machine: {os.cpu_count()} cores; load average before {load0[0]:.2f}, after {load1[0]:.2f} "
          f"(1-min); other processes share these cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
