"""The synthetic scanned book: determinism, ground truth, and the bundled data/sample_book.pdf."""

import json
from pathlib import Path

import pdfplumber

from tests.synth.book import BookConfig, generate_book, main
from tests.synth.book_figures import ITEMS, draw_figure
from tests.synth.book_text import ITEM_OF_CAPTION

ROOT = Path(__file__).resolve().parents[1]


def test_same_seed_same_bytes_other_seed_other_book(tmp_path):
    cfg = BookConfig(seed=5, dpi=150, max_pages=4)
    a = generate_book(tmp_path / "a.pdf", cfg)
    b = generate_book(tmp_path / "b.pdf", cfg)
    c = generate_book(tmp_path / "c.pdf", BookConfig(seed=6, dpi=150, max_pages=4))
    assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()
    assert a.to_dict()["pages"] == b.to_dict()["pages"]
    assert (tmp_path / "a.pdf").read_bytes() != (tmp_path / "c.pdf").read_bytes()
    assert [p.paragraphs for p in a.pages] != [p.paragraphs for p in c.pages]
    assert len(a.pages) == 4


def test_truth_matches_the_pdf(tmp_path):
    truth = generate_book(tmp_path / "book.pdf", BookConfig(seed=2, dpi=160))
    assert [p.kind for p in truth.pages] == ["scan", "scan", "digital", "scan", "scan", "scan"]
    assert [p.columns for p in truth.pages] == [1, 2, 1, 1, 2, 1]
    labels = [f.label for f in truth.figures]
    assert len(labels) == len(set(labels)) == 15
    with pdfplumber.open(tmp_path / "book.pdf") as pdf:
        for page, pt in zip(pdf.pages, truth.pages):
            assert (page.width, page.height) == (524.0, 737.0)
            if pt.kind == "scan":
                # image-only: no text layer, one image covering the page
                assert page.chars == [] and len(page.images) == 1
                assert page.images[0]["srcsize"] == (round(524 * 160 / 72), round(737 * 160 / 72))
            else:
                words = "".join(w["text"] for w in page.extract_words())
                assert words == pt.text.replace("\n", "").replace("　", "")
                boxes = sorted((i["x0"], i["top"], i["x1"], i["bottom"]) for i in page.images)
                expected = sorted(tuple(f.bbox) for f in pt.figures)
                assert len(boxes) == len(expected) == 2
                assert all(abs(a - b) < 0.1 for got, want in zip(boxes, expected) for a, b in zip(got, want))
    for fig in truth.figures:
        page = truth.pages[fig.page - 1]
        assert fig.caption == f"{fig.label}　{fig.text}" and ITEM_OF_CAPTION[fig.text] == fig.item
        assert fig.caption in page.text.split("\n")
        x0, top, x1, bottom = fig.bbox
        assert 0 < x0 < x1 < 524 and 0 < top < bottom < 737
        assert min(x1 - x0, bottom - top) * 160 / 72 >= 299.5  # photo-sized at the scan resolution
        assert fig.caption_bbox[1] > bottom  # caption under its picture
        if fig.paragraph:
            assert fig.paragraph in page.paragraphs and f"见{fig.label}" in fig.paragraph.replace("、", "见")
    per_item = {item: sum(f.item == item for f in truth.figures) for item in ITEMS}
    assert min(per_item.values()) >= 2
    assert "程序生成" in truth.pages[0].text  # the book says it is generated


def test_figures_of_one_item_differ():
    from emmel.images import phash  # the build's own near-duplicate hash: figures must not collide in it

    hashes = [phash(draw_figure("撮罗子", 400, 300, seed)) for seed in range(4)]
    assert min(bin(a ^ b).count("1") for i, a in enumerate(hashes) for b in hashes[i + 1:]) > 10
    assert draw_figure("驯鹿", 320, 240, 3).tobytes() == draw_figure("驯鹿", 320, 240, 3).tobytes()


def test_command_line_and_bundled_sample(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "b.pdf"), "--seed", "1", "--dpi", "150", "--pages", "4",
                 "--truth", str(tmp_path / "b.json")]) == 0
    assert "4 pages" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["pages"]) == 4
    sample = ROOT / "data" / "sample_book.pdf"
    assert sample.stat().st_size < 3_000_000
    with pdfplumber.open(sample) as pdf:
        assert len(pdf.pages) == 6
        assert sum(1 for p in pdf.pages if p.chars) == 1
        assert "图3-1" in pdf.pages[2].extract_text()
