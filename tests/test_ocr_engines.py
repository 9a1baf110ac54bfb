"""The real OCR engines on generated scans: accuracy (CER) and the errors for missing engines."""

import importlib.util
import shutil

import pytest
from PIL import Image, ImageDraw, ImageFont

from emmel.errors import EmmelError
from emmel.ocr.pdf import PdfBook
from emmel.ocr.pipeline import OcrConfig, analyse_page
from emmel.ocr.recognizers import PaddleOcrConfig, PaddleOcrEngine, make_engine
from tests.ocr_metrics import cer
from tests.synth.book import BookConfig, find_cjk_font, generate_book


@pytest.fixture(scope="module")
def clean_book(tmp_path_factory):
    """Two clean image-only pages at 300 dpi: one column, then two columns under a heading."""
    path = tmp_path_factory.mktemp("clean") / "clean.pdf"
    truth = generate_book(path, BookConfig(seed=3, dpi=300, grain=0, jpeg_quality=95, max_pages=2, digital_pages=()))
    return path, truth


@pytest.fixture(scope="module")
def rapid():
    return make_engine("rapidocr")


def test_rapidocr_cer_on_clean_300dpi_pages(clean_book, rapid):
    path, truth = clean_book
    with PdfBook(path) as book:
        for number in (1, 2):
            result = analyse_page(book.page(number), number, OcrConfig(dpi=300), rapid)
            text = "\n".join(line.text for line in result.layout.lines)
            # reading order is part of it: the two-column page must come out column by column
            assert cer(truth.pages[number - 1].text, text) <= 0.02, text
            assert result.text_source == "rapidocr"
            assert min(line.confidence for line in result.layout.lines) > 0.5


def test_rapidocr_boxes_are_where_the_text_is(rapid):
    font = ImageFont.truetype(find_cjk_font(), 40)
    image = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.text((60, 50), "鄂温克族的撮罗子", font=font, fill="black")
    draw.text((420, 200), "图3-2 桦皮船", font=font, fill="black")
    boxes = sorted(rapid.recognize(image, 300), key=lambda b: b.bbox[1])
    assert len(boxes) == 2
    for box, (x, y, text) in zip(boxes, [(60, 50, "鄂温克族的撮罗子"), (420, 200, "图3-2 桦皮船")]):
        assert cer(text, box.text) <= 0.13  # at most one character misread
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
        assert abs(box.bbox[0] - x0) < 15 and abs(box.bbox[2] - x1) < 15
        assert box.bbox[1] - 15 < y0 and box.bbox[3] + 15 > y1
        assert 0.5 < box.confidence <= 1.0


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract binary not installed")
def test_tesseract_reads_the_same_page(clean_book):
    path, truth = clean_book
    engine = make_engine("tesseract")
    with PdfBook(path) as book:
        result = analyse_page(book.page(1), 1, OcrConfig(dpi=300), engine)
    text = "\n".join(line.text for line in result.layout.lines)
    # tesseract's chi_sim model is weaker than PP-OCR (about 4-7 % here); it must still read the page
    assert cer(truth.pages[0].text, text) <= 0.12, text
    assert result.text_source == "tesseract"
    assert [f.caption.label for f in result.figures if f.caption] == ["图1-1", "图1-2"]


def test_paddleocr_absent_or_without_models_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EMMEL_PADDLE_MODELS", raising=False)
    with pytest.raises(EmmelError) as info:
        make_engine("paddleocr", paddle_models=str(tmp_path / "no-models"))
    message = str(info.value)
    if importlib.util.find_spec("paddleocr") is None:
        assert "pip install 'emmel[paddle]'" in message and "rapidocr" in message
    else:
        assert "--paddle-models" in message and "PP-OCRv5_server_det" in message
    assert "\n" not in message


def test_paddle_model_folder_check(tmp_path):
    """With paddleocr installed, a folder lacking the models is refused before any download."""
    if importlib.util.find_spec("paddleocr") is None:
        with pytest.raises(EmmelError, match="optional extra"):
            PaddleOcrEngine(PaddleOcrConfig(models=str(tmp_path)))
        return
    (tmp_path / "PP-OCRv5_server_det").mkdir()
    with pytest.raises(EmmelError, match="not found"):
        PaddleOcrEngine(PaddleOcrConfig(models=str(tmp_path)))


def test_unknown_engine():
    with pytest.raises(EmmelError, match="unknown OCR engine"):
        make_engine("abbyy")
