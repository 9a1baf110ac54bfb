"""`emmel ocr` end to end on generated books: figures, captions, records, determinism, bad input."""

import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from emmel.errors import EmmelError
from emmel.ocr.captions import strip_figure_refs
from emmel.ocr.pipeline import OcrConfig, ocr_pdf
from emmel.ocr.types import iou
from emmel.sources import iter_source, read_raw_records
from tests.helpers import run_emmel as _emmel
from tests.ocr_metrics import cer
from tests.synth.book import BookConfig, generate_book
from tests.synth.book_figures import draw_figure

ROOT = Path(__file__).resolve().parents[1]
DPI = 150  # CER is measured at 300 dpi in test_ocr_engines; here layout and records are the point


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    base = tmp_path_factory.mktemp("book")
    truth = generate_book(base / "evenk.pdf", BookConfig(seed=11, dpi=150))
    summary = ocr_pdf(base / "evenk.pdf", base / "raw", OcrConfig(dpi=DPI, region="鄂温克族"), progress=False)
    return base, truth, summary


def _records_by_page_box(raw):
    return [(r.source["page"], tuple(r.source["bbox"]), r) for r in read_raw_records(raw)]


def test_summary_counts(book):
    base, truth, summary = book
    assert summary["errors"] == [] and summary["pages_processed"] == len(truth.pages) == 6
    assert summary["figures_found"] == len(truth.figures) == 15
    assert summary["captions_found"] == summary["captions_paired"] == summary["records"] == 15
    assert summary["text_layer_pages"] == [3] and summary["ocr_pages"] == [1, 2, 4, 5, 6]
    assert summary["unpaired_figures"] == [] and summary["unpaired_captions"] == []
    assert 0.9 < summary["mean_confidence"] <= 1.0 and summary["low_confidence_pages"] == []
    assert json.loads((base / "raw" / "summary.json").read_text(encoding="utf-8")) == summary
    source = json.loads((base / "raw" / "source.json").read_text(encoding="utf-8"))
    assert source["kind"] == "book" and source["engine"] == "rapidocr" and source["dpi"] == DPI
    assert source["sha256"] == hashlib.sha256((base / "evenk.pdf").read_bytes()).hexdigest()


def test_every_figure_is_found_cropped_captioned_and_titled(book):
    base, truth, _ = book
    records = _records_by_page_box(base / "raw")
    for fig in truth.figures:
        match = [r for page, box, r in records if page == fig.page and iou(box, tuple(fig.bbox)) > 0.5]
        assert len(match) == 1, fig.label
        rec = match[0]
        assert iou(tuple(rec.source["bbox"]), tuple(fig.bbox)) >= 0.95, fig.label
        assert iou(tuple(rec.source["caption_bbox"]), tuple(fig.caption_bbox)) >= 0.5, fig.label
        assert rec.source["figure_label"] == fig.label
        assert rec.title == fig.item, (fig.label, rec.text)
        assert cer(fig.text, rec.text) <= 0.15, (fig.text, rec.text)
        if fig.paragraph:
            # the describing paragraph, without its "（见图N-M）" pointers into the book
            assert "见图" not in rec.entity_description
            assert cer(strip_figure_refs(fig.paragraph), rec.entity_description) <= 0.05, (fig.label, rec.entity_description)
        assert rec.record_id == f"evenk:p{fig.page}:f{rec.record_id.rsplit(':f', 1)[1]}"
        assert rec.region == "鄂温克族" and "copyright" in rec.license
        assert rec.source["kind"] == "book" and rec.source["file"] == "evenk.pdf"
        assert 0.5 < rec.source["confidence"] <= 1.0
        assert rec.source["engine"] == ("text-layer" if fig.page == 3 else "rapidocr")
        with Image.open(base / "raw" / rec.image) as im:
            w, h = im.size
            # the crop is the figure box at the render resolution
            assert abs(w - (fig.bbox[2] - fig.bbox[0]) * DPI / 72) <= 6 and abs(h - (fig.bbox[3] - fig.bbox[1]) * DPI / 72) <= 6
            assert min(w, h) >= 200


def test_page_text_dumps_follow_reading_order(book):
    base, truth, _ = book
    for page in truth.pages:
        dump = (base / "raw" / "pages" / f"p{page.number:03d}.txt").read_text(encoding="utf-8")
        assert dump.startswith(f"# page {page.number} · ")
        text = "\n".join(line.removeprefix("## ") for line in dump.splitlines()[1:] if not line.startswith("[figure"))
        limit = 0.0 if page.kind == "digital" else 0.03
        assert cer(page.text, text) <= limit, (page.number, text)
        assert dump.count("[figure images/") == len(page.figures)


def test_records_are_what_emmel_build_reads(book):
    base, truth, _ = book
    items = list(iter_source(base / "raw"))
    assert len(items) == 15 and all(item.problem is None for item in items)
    assert all(item.image_path.is_file() for item in items)
    assert sorted(p.name for p in (base / "raw" / "images").iterdir()) == sorted(Path(i.record.image).name for i in items)
    titles = {}
    for item in items:
        titles.setdefault(item.record.title, 0)
        titles[item.record.title] += 1
    # every item of the book has at least two figures, so the build can split its samples
    assert titles == {f.item: sum(1 for g in truth.figures if g.item == f.item) for f in truth.figures}
    assert min(titles.values()) >= 2


def test_emmel_build_turns_the_records_into_samples(book, tmp_path):
    base, truth, _ = book
    built = _emmel("build", str(base / "raw"), "--out", str(tmp_path / "EMMEL"), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    manifest = json.loads((tmp_path / "EMMEL" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["input_records"] == manifest["counts"]["kept"] == 15
    labels = sorted(json.loads(line)["label"] for line in (tmp_path / "EMMEL" / "kb.jsonl").read_text(encoding="utf-8").splitlines())
    assert labels == sorted({f.item for f in truth.figures})
    checked = _emmel("stats", "--check", str(tmp_path / "EMMEL"), cwd=tmp_path)
    assert checked.returncode == 0 and "check: OK" in checked.stdout


def test_same_pdf_and_options_give_the_same_bytes(book, tmp_path):
    base, _, _ = book
    outs = []
    for k in range(2):
        ocr_pdf(base / "evenk.pdf", tmp_path / f"run{k}", OcrConfig(dpi=DPI, pages="2-3", region="鄂温克族"), progress=False)
        outs.append({p.relative_to(tmp_path / f"run{k}").as_posix(): p.read_bytes()
                     for p in sorted((tmp_path / f"run{k}").rglob("*")) if p.is_file()})
    assert outs[0] == outs[1]
    # and a page comes out the same whether read alone or with the whole book
    full = (base / "raw" / "records.jsonl").read_text(encoding="utf-8").splitlines()
    part = outs[0]["records.jsonl"].decode("utf-8").splitlines()
    assert part == [line for line in full if json.loads(line)["source"]["page"] in (2, 3)]
    assert outs[0]["images/p002-f1.png"] == (base / "raw" / "images" / "p002-f1.png").read_bytes()


# ---------------------------------------------------------------- born-digital helpers and bad input
def _digital_pdf(path, pages, crop=None, **canvas_args):
    """A born-digital PDF: each page is a list of ("text", x, top, size, str) / ("figure", x, top, w, h, item)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    W, H = 500.0, 700.0
    c = canvas.Canvas(str(path), pagesize=(W, H), invariant=1, **canvas_args)
    for ops in pages:
        if crop:
            c.setCropBox(crop)
        for op in ops:
            if op[0] == "text":
                _, x, top, size, text = op
                c.setFont("STSong-Light", size)
                c.drawString(x, H - top - size, text)
            else:
                _, x, top, w, h, item = op
                buf = io.BytesIO()
                draw_figure(item, int(w * 2), int(h * 2), seed=5).save(buf, "PNG")
                c.drawImage(ImageReader(io.BytesIO(buf.getvalue())), x, H - top - h, w, h)
        c.showPage()
    c.save()
    return path


FIGURE_PAGE = [
    ("text", 60, 40, 14, "一、撮罗子"),
    ("text", 60, 80, 10.5, "撮罗子是鄂温克猎民传统的圆锥形住所（见图1）。"),
    ("figure", 120, 110, 260, 180, "撮罗子"),
    ("text", 200, 296, 9, "图1　夏季的营地"),
]


def test_title_from_heading_and_caption(tmp_path):
    pdf = _digital_pdf(tmp_path / "digital.pdf", [FIGURE_PAGE])
    ocr_pdf(pdf, tmp_path / "by_caption", OcrConfig(dpi=72), progress=False)
    ocr_pdf(pdf, tmp_path / "by_heading", OcrConfig(dpi=72, title_from="heading"), progress=False)
    (a,), (b,) = read_raw_records(tmp_path / "by_caption"), read_raw_records(tmp_path / "by_heading")
    assert (a.title, a.text) == ("夏季的营地", "夏季的营地")
    assert (b.title, b.text) == ("撮罗子", "夏季的营地")
    assert a.source["figure_origin"] == "embedded" and a.source["engine"] == "text-layer"
    assert a.source["bbox"] == [120.0, 110.0, 380.0, 290.0]
    assert a.entity_description == "撮罗子是鄂温克猎民传统的圆锥形住所。"


def test_offset_crop_box_keeps_boxes_and_crops_aligned(tmp_path):
    import numpy as np

    # the visible page is a window 40 pt in from the left and 60 pt down from the top
    pdf = _digital_pdf(tmp_path / "cropped.pdf", [FIGURE_PAGE], crop=(40, 0, 500, 640))
    ocr_pdf(pdf, tmp_path / "raw", OcrConfig(dpi=144), progress=False)
    (rec,) = read_raw_records(tmp_path / "raw")
    assert rec.source["bbox"] == [120.0, 110.0, 380.0, 290.0]  # pdfplumber's page coordinates
    with Image.open(tmp_path / "raw" / rec.image) as im:
        assert abs(im.width - 520) <= 2 and abs(im.height - 360) <= 2
        pixels = np.asarray(im.convert("L"))
    # every edge of the crop is picture (<= 215 grey), not the white page around it
    for edge in (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]):
        assert np.median(edge) < 225


def test_blank_and_broken_pages_do_not_stop_the_book(tmp_path):
    pdf = _digital_pdf(tmp_path / "mixed.pdf", [[], [("text", 60, 60, 12, "第二页")], FIGURE_PAGE])
    data = pdf.read_bytes()
    boxes = [i for i in range(len(data)) if data.startswith(b"/MediaBox", i)]
    assert len(boxes) == 3
    start = boxes[1]
    end = data.index(b"]", start) + 1
    broken = data[:start] + b"/MediaBox [ 0 0 0 0 ]".ljust(end - start) + data[end:]  # page 2: an empty page box
    (tmp_path / "broken.pdf").write_bytes(broken)
    summary = ocr_pdf(tmp_path / "broken.pdf", tmp_path / "raw", OcrConfig(dpi=72), progress=False)
    assert summary["pages_processed"] == 3
    assert [e["page"] for e in summary["errors"]] == [2] and "MediaBox" in summary["errors"][0]["error"]
    assert summary["pages_without_text"] == [1]
    assert summary["records"] == 1 and read_raw_records(tmp_path / "raw")[0].source["page"] == 3
    assert "error" in (tmp_path / "raw" / "pages" / "p002.txt").read_text(encoding="utf-8")
    # no text layer: OCR ran, found nothing
    assert (tmp_path / "raw" / "pages" / "p001.txt").read_text(encoding="utf-8").startswith("# page 1 · rapidocr · no text")


def test_bad_files_give_one_clear_error(tmp_path):
    good = _digital_pdf(tmp_path / "good.pdf", [[("text", 60, 60, 12, "鄂温克")]])
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "notes.pdf").write_text("这不是PDF文件\n", encoding="utf-8")
    (tmp_path / "truncated.pdf").write_bytes(good.read_bytes()[:400])
    (tmp_path / "nopages.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    _digital_pdf(tmp_path / "locked.pdf", [[("text", 60, 60, 12, "鄂温克")]], encrypt="s3cret")
    cases = {
        "missing.pdf": "file not found",
        "empty.pdf": "empty file",
        "notes.pdf": "not a PDF",
        "truncated.pdf": "corrupted or unreadable PDF",
        "nopages.pdf": "no pages",
        "locked.pdf": "encrypted PDF",
    }
    for name, expected in cases.items():
        with pytest.raises(EmmelError) as info:
            ocr_pdf(tmp_path / name, tmp_path / f"out-{name}", OcrConfig(dpi=72), progress=False)
        assert expected in str(info.value) and name in str(info.value) and "\n" not in str(info.value)
        assert not (tmp_path / f"out-{name}").exists()  # nothing half-written


def test_encrypted_pdf_with_password_from_environment(tmp_path, monkeypatch):
    pdf = _digital_pdf(tmp_path / "locked.pdf", [FIGURE_PAGE], encrypt="s3cret")
    monkeypatch.setenv("EMMEL_PDF_PASSWORD", "s3cret")
    summary = ocr_pdf(pdf, tmp_path / "raw", OcrConfig(dpi=150), progress=False)
    # pdfminer cannot map this encrypted CID font to Unicode: the page falls back to OCR
    assert summary["ocr_pages"] == [1] and summary["records"] == 1
    (rec,) = read_raw_records(tmp_path / "raw")
    assert rec.title == "夏季的营地" and rec.source["engine"] == "rapidocr"


def _cli(*args, cwd):
    return _emmel("ocr", *args, cwd=cwd)


def test_cli(tmp_path):
    pdf = _digital_pdf(tmp_path / "digital.pdf", [FIGURE_PAGE])
    ok = _cli(str(pdf), "--out", "raw", "--dpi", "72", "--quiet", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert len(read_raw_records(tmp_path / "raw")) == 1
    again = _cli(str(pdf), "--out", "raw", "--dpi", "72", cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr and "--overwrite" in again.stderr
    shown = _cli(str(pdf), "--out", "raw", "--dpi", "72", "--overwrite", "--region", "鄂温克族", cwd=tmp_path)
    assert shown.returncode == 0 and "1/1 captions paired, 1 records" in shown.stdout
    for args, message in (
        (["missing.pdf", "--out", "x"], "missing.pdf: file not found"),
        ([str(pdf), "--out", "x", "--pages", "5"], "outside the PDF, which has 1 page"),
        ([str(pdf), "--out", "x", "--dpi", "10"], "--dpi must be between"),
    ):
        bad = _cli(*args, cwd=tmp_path)
        assert bad.returncode == 2
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("emmel ocr: error: ") and message in lines[0]
