"""Pure layout, caption, title, pairing and figure-region logic of `emmel ocr` (no OCR, fast)."""

import numpy as np
import pytest

from emmel.errors import EmmelError
from emmel.ocr.captions import describe, find_captions, pair_captions, title_from_caption, title_from_heading
from emmel.ocr.figures import FigureConfig, detect_figures, embedded_figures
from emmel.ocr.layout import analyse, parse_caption
from emmel.ocr.pdf import parse_pages
from emmel.ocr.recognizers import parse_tesseract_tsv, split_runs
from emmel.ocr.types import Figure, TextBox, iou
from tests.ocr_metrics import cer

EM = 10.0


def run(text, x, top, size=EM, conf=0.99):
    """A text run of CJK characters, one em wide each (what OCR or a text layer yields)."""
    return TextBox(text, (x, top, x + size * len(text), top + size * 1.3), conf)


def column(texts, x, top, pitch=17.0, indent_first=True):
    out = []
    for i, t in enumerate(texts):
        out.append(run(t, x + (2 * EM if indent_first and i == 0 else 0), top + i * pitch))
    return out


def test_two_columns_under_full_width_heading_read_column_by_column():
    left = ["左栏第一行文字内容", "左栏第二行文字内容", "左栏第三行文字内容", "左栏第四行"]
    right = ["右栏第一行文字内容", "右栏第二行文字内容", "右栏第三行文字内容"]
    heading = TextBox("第二章　驯鹿与萨满", (150, 40, 310, 58), 0.99, 0)
    boxes = column(left, 50, 80, indent_first=False) + column(right, 250, 80, indent_first=False) + [heading]
    lay = analyse(list(reversed(boxes)))
    texts = [line.text for line in lay.lines]
    assert texts == ["第二章　驯鹿与萨满"] + left + right
    assert len(lay.blocks) == 3
    # a 1-column body paragraph after the columns ends the two-column section
    footer = run("通栏的结尾段落横跨两栏的全部宽度结尾段落", 50, 160)
    lay = analyse(boxes + [footer])
    assert [line.text for line in lay.lines][-1] == footer.text


def test_unaligned_columns_and_side_by_side_captions():
    # right column lines sit half a line lower than the left ones: no full-width row gap
    boxes = column(["甲甲甲甲甲甲甲甲甲甲", "乙乙乙乙乙乙乙乙乙乙", "丙丙丙"], 50, 80, indent_first=False)
    boxes += column(["丁丁丁丁丁丁丁丁丁丁", "戊戊戊戊戊戊戊戊戊戊"], 250, 88, indent_first=False)
    lay = analyse(boxes)
    assert [line.text[0] for line in lay.lines] == list("甲乙丙丁戊")
    # two captions on one row, 11 pt apart in height, under two figures
    figs = [(50, 100, 200, 200), (250, 100, 400, 190)]
    caps = [run("图4-1撮罗子", 80, 210, size=9), run("图4-2桦皮船", 290, 199, size=9)]
    lay = analyse(caps, figures=figs)
    assert [line.text for line in lay.lines] == ["图4-1撮罗子", "图4-2桦皮船"]
    assert all(line.kind == "caption" for line in lay.lines)


def test_paragraphs_split_at_indent_short_line_and_gap():
    boxes = column(["一二三四五六七八九十一二", "一二三四五六七八九十一二三四", "短行。"], 50, 100)
    boxes += column(["新的段落开始了一二三四五六", "一二三四五六七八九十一二三四"], 50, 100 + 3 * 17)
    boxes += column(["隔开很远的第三段一二三四五六"], 50, 100 + 5 * 17 + 30, indent_first=False)
    lay = analyse(boxes)
    assert [p.kind for p in lay.paragraphs] == ["body"] * 3
    assert [len(p.lines) for p in lay.paragraphs] == [3, 2, 1]
    assert lay.paragraphs[0].text.endswith("短行。")


def test_heading_and_caption_classification():
    body = column(["正文一二三四五六七八九十一二三四五六。"] * 4, 50, 100, indent_first=False)
    big = TextBox("撮罗子", (50, 60, 95, 80), 0.99)  # larger than body text, no final punctuation
    numbered = run("一、桦皮船", 50, 200)
    caption = run("图3-2 鄂温克族的撮罗子", 60, 240)
    lay = analyse(body + [big, numbered, caption])
    kinds = {line.text: line.kind for line in lay.lines}
    assert kinds["撮罗子"] == "heading" and kinds["一、桦皮船"] == "heading"
    assert kinds["图3-2 鄂温克族的撮罗子"] == "caption"
    assert kinds[body[0].text] == "body"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("图3-2 鄂温克族的撮罗子", ("图3-2", "鄂温克族的撮罗子")),
        ("图３－２：桦皮船", ("图3-2", "桦皮船")),
        ("图 12 驯鹿", ("图12", "驯鹿")),
        ("图三　瑟宾节", ("图三", "瑟宾节")),
        ("Fig. 4.1 Reindeer", ("图4-1", "Reindeer")),
        ("图书馆里收藏着许多古籍。", None),
        ("如图3-2所示", None),
    ],
)
def test_parse_caption(text, expected):
    assert parse_caption(text) == expected


@pytest.mark.parametrize(
    "caption, title",
    [
        ("鄂温克族的撮罗子", "撮罗子"),
        ("使鹿鄂温克人的撮罗子之二", "撮罗子"),
        ("鄂温克猎民的桦皮船", "桦皮船"),
        ("萨满服饰局部", "萨满服饰"),
        ("鄂温克族服饰（女式）", "鄂温克族服饰"),
        ("瑟宾节（篝火）——张三摄", "瑟宾节"),
        ("驯鹿(林中)", "驯鹿"),
        ("撮罗子之二（夏季）", "撮罗子"),
        ("鄂温克族的", "鄂温克族的"),  # nothing left: the whole text
    ],
)
def test_title_from_caption(caption, title):
    assert title_from_caption(caption) == title


def test_strip_figure_refs():
    from emmel.ocr.captions import strip_figure_refs

    assert strip_figure_refs("用木杆搭成骨架（见图1-1、图1-2）。") == "用木杆搭成骨架。"
    assert strip_figure_refs("多次(见图4-3)。夏季（图5）") == "多次。夏季"
    assert strip_figure_refs("如图3所示，撮罗子（夏季）") == "如图3所示，撮罗子（夏季）"


def test_title_from_heading():
    assert title_from_heading("第三章　撮罗子") == "撮罗子"
    assert title_from_heading("一、桦皮船") == "桦皮船"
    assert title_from_heading("（二）驯鹿") == "驯鹿"
    assert title_from_heading("2.1 萨满服饰") == "萨满服饰"


def _page(boxes, figures):
    lay = analyse(boxes, figures=[f.bbox for f in figures])
    caps = find_captions(lay.paragraphs)
    pair_captions(figures, caps, lay.em)
    describe(figures, lay.paragraphs)
    return lay


def test_pairing_side_by_side_above_and_unpaired():
    figs = [Figure((50, 100, 200, 200), "detected"), Figure((250, 100, 400, 190), "detected"),
            Figure((50, 300, 400, 420), "detected"), Figure((50, 600, 400, 700), "detected")]
    boxes = [
        run("图1 撮罗子", 95, 204, size=9),  # under figure 1
        run("图2 桦皮船", 290, 194, size=9),  # under figure 2 (higher)
        run("图3 驯鹿", 190, 280, size=9),  # above figure 3, nothing below it
        run("图9 远处的说明文字不属于任何图", 50, 500, size=9),  # too far from figure 4
    ]
    _page(boxes, figs)
    assert [f.caption.label if f.caption else None for f in figs] == ["图1", "图2", "图3", None]


def test_description_prefers_the_citing_paragraph():
    fig = Figure((50, 200, 400, 300), "detected")
    near = column(["紧挨着图片的段落没有提到图号的内容一二三四五六七八"], 50, 170, indent_first=False)
    cap = [run("图5-1 驯鹿", 190, 304, size=9)]
    far = column(["远处的段落说到驯鹿（见图5-1）一二三四五六七八九十一"], 50, 500, indent_first=False)
    _page(near + cap + far, [fig])
    assert "见图5-1" in fig.description.text
    fig2 = Figure((50, 200, 400, 300), "detected")
    _page(near + [run("图5-2 驯鹿", 190, 304, size=9)] + far, [fig2])
    assert fig2.description.text.startswith("紧挨着")


def test_parse_pages():
    assert parse_pages(None, 3) == [1, 2, 3]
    assert parse_pages("1-2,5, 7-", 8) == [1, 2, 5, 7, 8]
    assert parse_pages("3-99", 5) == [3, 4, 5]
    for bad in ("0", "a-b", "9", "4-2", ","):
        with pytest.raises(EmmelError):
            parse_pages(bad, 5)


def test_split_runs_and_tesseract_tsv():
    chars = [(c, (i * 30, 0, i * 30 + 28, 30)) for i, c in enumerate("左栏文字")]
    chars += [(c, (300 + i * 30, 0, 300 + i * 30 + 28, 30)) for i, c in enumerate("右栏")]
    runs = split_runs("左栏文字右栏", (0, 0, 358, 30), 0.9, chars)
    assert [r.text for r in runs] == ["左栏文字", "右栏"] and runs[1].bbox[0] == 300
    assert [r.text for r in split_runs("整行", (0, 0, 60, 30), 0.9, [])] == ["整行"]
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t10\t30\t30\t96\t图",
        "5\t1\t1\t1\t1\t2\t42\t10\t30\t30\t90\t3-2",
        "5\t1\t1\t1\t1\t3\t80\t10\t60\t30\t94\t驯鹿",
        "5\t1\t1\t1\t2\t1\t10\t50\t60\t30\t50\tFig",
        "5\t1\t1\t1\t2\t2\t75\t50\t20\t30\t70\t3",
        "4\t1\t1\t1\t2\t0\t10\t50\t85\t30\t-1\t",
    ]
    boxes = parse_tesseract_tsv(header + "\n".join(rows) + "\n")
    assert [b.text for b in boxes] == ["图3-2驯鹿", "Fig 3"]
    assert boxes[0].bbox == (10, 10, 140, 40)
    assert boxes[1].confidence == pytest.approx((3 * 0.5 + 1 * 0.7) / 4)


def test_cer():
    assert cer("鄂温克族的撮罗子", "鄂温克族的撮罗子") == 0
    assert cer("驯鹿（林中）", "驯鹿 (林中)") == 0  # width of brackets and spaces do not count
    assert cer("abcd", "abxd") == 0.25
    assert cer("", "") == 0 and cer("", "x") == 1


def test_embedded_figures_and_scan_flag():
    page = (0, 0, 500, 700)
    images = [
        {"x0": 0, "top": 0, "x1": 500, "bottom": 700},  # the scan itself
        {"x0": 50, "top": 50, "x1": 250, "bottom": 120},  # two tiles of one picture
        {"x0": 50, "top": 120, "x1": 250, "bottom": 200},
        {"x0": 300, "top": 300, "x1": 320, "bottom": 320},  # an ornament
        {"x0": 400, "top": 600, "x1": 600, "bottom": 800},  # runs off the page
    ]
    boxes, scanned = embedded_figures(images, page, FigureConfig())
    assert scanned
    assert boxes == [(50.0, 50.0, 250.0, 200.0), (400.0, 600.0, 500.0, 700.0)]


def test_detect_figures_on_a_synthetic_scan():
    dpi = 100
    s = dpi / 72
    rng = np.random.default_rng(0)
    page = np.full((int(700 * s), int(500 * s)), 244, np.uint8)
    page = np.clip(page + rng.normal(0, 3, page.shape), 0, 255).astype(np.uint8)
    truth = (100.0, 150.0, 380.0, 330.0)
    x0, y0, x1, y1 = (int(round(v * s)) for v in truth)
    photo = rng.normal(120, 40, (y1 - y0, x1 - x0)).clip(0, 210)
    photo[: (y1 - y0) // 3] = 200  # a bright, smooth sky still belongs to the picture
    page[y0:y1, x0:x1] = photo.astype(np.uint8)
    text = []
    for k in range(6):  # text lines: dark strokes that must not become a figure
        ty = 400 + k * 18
        page[int(ty * s):int((ty + 10) * s), int(60 * s):int(440 * s):3] = 30
        text.append((58.0, ty - 1.0, 442.0, ty + 11.0))
    found = detect_figures(page, dpi, text, FigureConfig())
    assert len(found) == 1
    assert iou(found[0], truth) > 0.95
    # without the text boxes blanked out, the text block is a big inked region too
    assert len(detect_figures(page, dpi, [], FigureConfig())) == 2
