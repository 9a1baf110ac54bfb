"""Hostile image inputs: every kind of picture file a careless or hostile user hands emmel, first
through the one opener (``emmel.images``), then through every command that opens images:
``emmel build`` (end to end, in a subprocess with a timeout, so a hang fails instead of blocking),
``emmel link``, ``emmel ocr`` and ``emmel annotate export``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emmel.augment import augment_image
from emmel.cli import main
from emmel.config import CleanConfig
from emmel.errors import EmmelError
from emmel.images import ImageLimits, ImageProblem, inspect_image, open_image, phash, read_header, read_image_file
from tests.helpers import finishes, run_emmel
from tests.messy import encode, pattern_image

SIZE = (240, 160)  # displayed width x height of the test pictures (smaller ones are often one flat blob)
SMALL = CleanConfig(min_side=32)
# the method exif_transpose applies for each orientation, and the one that undoes it (to make the stored pixels)
TRANSPOSE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
UNDO = {**TRANSPOSE, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def hamming(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def grey16(seed: int) -> bytes:
    """A 16-bit greyscale PNG (mode I;16) whose values are exactly 257 x an 8-bit picture."""
    grey = np.asarray(pattern_image(seed, SIZE).convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(grey), "PNG")


def exif_jpeg(displayed: Image.Image, orientation: int) -> bytes:
    """JPEG bytes whose stored pixels, turned as EXIF ``orientation`` says, show ``displayed``."""
    stored = displayed if UNDO[orientation] is None else displayed.transpose(UNDO[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims ``width`` x ``height`` pixels: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def sparse_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that costs no disk (a PNG header, then a hole)."""
    with open(path, "wb") as handle:
        handle.write(encode(pattern_image(1, SIZE), "PNG"))
        handle.truncate(size)
    return path


# -- the opener ---------------------------------------------------------------------------------------------


def test_16bit_grey_is_scaled_not_white_and_two_pictures_keep_two_hashes():
    a, b = grey16(21), grey16(22)
    assert Image.open(io.BytesIO(a)).mode == "I;16"
    pixels = np.asarray(open_image(a))
    expected = np.asarray(pattern_image(21, SIZE).convert("L"))
    assert pixels.dtype == np.uint8 and pixels.shape == (SIZE[1], SIZE[0], 3)
    assert np.array_equal(pixels[..., 0], expected)  # v * 257 comes back as v, exactly
    ha, hb = inspect_image(a, SMALL).phash, inspect_image(b, SMALL).phash
    assert ha == phash(pattern_image(21, SIZE).convert("L")) and hamming(ha, hb) > 16
    big_endian = Image.fromarray(np.asarray(Image.open(io.BytesIO(a))).astype(">u2"))  # mode I;16B
    assert big_endian.mode == "I;16B" and np.array_equal(np.asarray(open_image(encode(big_endian, "TIFF")))[..., 0], expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_what_a_viewer_shows(orientation):
    displayed = pattern_image(30 + orientation, SIZE)
    data = exif_jpeg(displayed, orientation)
    info = inspect_image(data, SMALL)
    assert (info.width, info.height) == SIZE
    shown = open_image(data)
    assert shown.size == SIZE
    assert read_header(data)[:2] == SIZE  # the crawler's header-only check sees the displayed size too
    assert np.abs(np.asarray(shown, dtype=int) - np.asarray(displayed, dtype=int)).mean() < 4  # JPEG noise only
    assert hamming(info.phash, phash(displayed)) <= 4


def test_every_pixel_mode_becomes_the_rgb_a_viewer_shows():
    picture = pattern_image(40, SIZE)
    # CMYK JPEG (Pillow's RGB->CMYK is exact to invert): the colours come back, not inverted
    cmyk = open_image(encode(picture.convert("CMYK"), "JPEG", quality=95))
    assert np.abs(np.asarray(cmyk, dtype=int) - np.asarray(picture, dtype=int)).mean() < 4
    # palette with a transparent entry, LA and RGBA with transparent pixels: composited on white
    palette = picture.quantize(8)
    hidden = int(np.asarray(palette)[0, 0])
    palette.info["transparency"] = hidden
    gif = open_image(encode(palette, "GIF", transparency=hidden))
    assert gif.getpixel((0, 0)) == (255, 255, 255)
    png = open_image(encode(palette, "PNG", transparency=hidden))
    mask = np.asarray(palette) == hidden
    assert (np.asarray(png)[mask] == 255).all() and not (np.asarray(png)[~mask] == 255).all()
    la = picture.convert("LA")
    la.putalpha(Image.new("L", SIZE, 0))
    assert (np.asarray(open_image(encode(la, "PNG"))) == 255).all()
    rgba = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    rgba.paste(picture.crop((0, 0, 120, 160)), (0, 0))
    shown = np.asarray(open_image(encode(rgba, "PNG")))
    assert (shown[:, 120:] == 255).all() and np.array_equal(shown[:, :120], np.asarray(picture)[:, :120])
    # 1-bit, 32-bit integer and float TIFFs
    assert set(np.unique(np.asarray(open_image(encode(picture.convert("1"), "PNG"))))) <= {0, 255}
    grey = np.asarray(picture.convert("L"))
    as_int = Image.fromarray(grey.astype(np.int32) * 257)
    assert as_int.mode == "I" and np.array_equal(np.asarray(open_image(encode(as_int, "TIFF")))[..., 0], grey)
    as_float = Image.fromarray(grey.astype(np.float32) / 255.0)
    assert as_float.mode == "F" and np.abs(np.asarray(open_image(encode(as_float, "TIFF")))[..., 0].astype(int) - grey).max() <= 1


def test_bombs_are_refused_from_their_header():
    for width, height in ((10_000, 9_000), (100_000, 100_000)):  # over our limit; over Pillow's own hard limit
        with pytest.raises(ImageProblem) as info:
            open_image(png_header(width, height))
        assert info.value.reason == "decompression_bomb"
    with pytest.raises(ImageProblem, match="pixels > 1000"):
        open_image(encode(pattern_image(2, SIZE), "PNG"), ImageLimits(max_pixels=1000))
    with pytest.raises(ImageProblem, match="pixels > 1000"):
        read_header(encode(pattern_image(2, SIZE), "PNG"), ImageLimits(max_pixels=1000))


@pytest.mark.parametrize("data, reason", [
    (b"", "empty_file"),
    (b"<html><body>404 not found</body></html>", "not_an_image"),
    (encode(pattern_image(3, (300, 200)), "JPEG")[:900], "truncated_image"),
    (encode(pattern_image(3, (300, 200)), "PNG")[:700], "truncated_image"),
])
def test_broken_bytes_are_clean_problems(data, reason):
    with pytest.raises(ImageProblem) as info:
        open_image(data)
    assert info.value.reason == reason and isinstance(info.value, EmmelError)


def test_special_files_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "socket.jpg"))
    try:
        for name, kind in (("fifo.jpg", "FIFO"), ("folder.jpg", "folder"), ("zero.jpg", "character device"), ("socket.jpg", "socket")):
            with pytest.raises(ImageProblem) as info:
                finishes(read_image_file, tmp_path / name)
            assert info.value.reason == "not_a_regular_file" and kind in info.value.detail
    finally:
        listener.close()
    with pytest.raises(ImageProblem) as info:
        read_image_file(tmp_path / "gone.jpg")
    assert info.value.reason == "missing_image"


def test_byte_limit_is_checked_before_reading(tmp_path):
    huge = sparse_file(tmp_path / "huge.png", CleanConfig.max_bytes + 1)
    with pytest.raises(ImageProblem) as info:
        read_image_file(huge)
    assert info.value.reason == "file_too_large"
    small = tmp_path / "small.png"
    small.write_bytes(encode(pattern_image(4, SIZE), "PNG"))
    with pytest.raises(ImageProblem, match="file_too_large"):
        read_image_file(small, ImageLimits(max_bytes=100))
    assert read_image_file(small) == small.read_bytes()


# -- emmel build, end to end --------------------------------------------------------------------------------


def _kinds_source(folder: Path) -> dict[str, str | None]:
    """A raw source with one record per image kind; returns the expected reject reason (None = kept)."""
    images = folder / "images"
    images.mkdir(parents=True)
    (images / "inside").mkdir()
    lines, expected = [], {}

    def add(record_id: str, data: bytes | None, expect: str | None, name: str | None = None) -> None:
        name = name or f"{record_id}.img"
        if data is not None:
            (images / name).write_bytes(data)
        lines.append(json.dumps({"record_id": record_id, "title": f"项目{record_id}", "text": f"{record_id}的图片说明",
                                 "image": f"images/{name}"}, ensure_ascii=False))
        expected[record_id] = expect

    add("grey16-a", grey16(21), None)
    add("grey16-b", grey16(22), None)
    for orientation in range(1, 9):
        add(f"exif{orientation}", exif_jpeg(pattern_image(30 + orientation, SIZE), orientation), None)
    add("cmyk", encode(pattern_image(60, SIZE).convert("CMYK"), "JPEG", quality=95), None)
    palette = pattern_image(61, SIZE).quantize(8)
    add("palette", encode(palette, "PNG", transparency=int(np.asarray(palette)[0, 0])), None)
    add("one-bit", encode(pattern_image(62, SIZE).convert("1"), "PNG"), None)
    add("float", encode(Image.fromarray(np.asarray(pattern_image(63, SIZE).convert("L"), dtype=np.float32) / 255), "TIFF"), None)
    add("bomb", png_header(10_000, 9_000), "decompression_bomb")
    add("bomb-huge", png_header(100_000, 100_000), "decompression_bomb")
    add("truncated", encode(pattern_image(64, (300, 200)), "JPEG")[:900], "truncated_image")
    add("zero", b"", "empty_file")
    add("html", b"<html>404</html>", "not_an_image", "page.jpg")
    os.mkfifo(images / "fifo.jpg")
    add("fifo", None, "not_a_regular_file", "fifo.jpg")
    (images / "folder.jpg").mkdir()
    add("folder", None, "not_a_regular_file", "folder.jpg")
    (images / "to-folder.jpg").symlink_to(images / "inside")
    add("link-folder", None, "not_a_regular_file", "to-folder.jpg")
    (images / "to-zero.jpg").symlink_to("/dev/zero")
    add("link-dev-zero", None, "unsafe_path", "to-zero.jpg")
    sparse_file(images / "huge.png", CleanConfig.max_bytes + 1)
    add("huge", None, "file_too_large", "huge.png")
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return expected


@pytest.fixture(scope="module")
def kinds_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    expected = _kinds_source(root / "raw")
    done = run_emmel("build", root / "raw", "--out", root / "ds", "--set", "clean.min_side=32", "--set", "split.train=1",
                     "--set", "split.dev=0", "--set", "split.test=0", "--no-plots", timeout=240)  # a FIFO must not hang it
    assert done.returncode == 0, done.stderr
    return root, expected, done


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_build_accounts_for_every_image_kind(kinds_build):
    root, expected, done = kinds_build
    rejects = {r["record_id"]: r for r in _rows(root / "ds" / "rejects.jsonl")}
    train = _rows(root / "ds" / "train.jsonl")
    kept = {s["source"]["record_id"] for s in train if not s.get("augmented_from")}
    assert {k: r["reason"] for k, r in rejects.items()} == {k: v for k, v in expected.items() if v}
    assert kept == {k for k, v in expected.items() if v is None}
    assert "fifo.jpg" in rejects["fifo"]["detail"] and "FIFO" in rejects["fifo"]["detail"]
    assert "not_a_regular_file" in done.stderr  # an input problem: warned on the terminal too


def test_build_hashes_16bit_pictures_apart(kinds_build):
    root, _, _ = kinds_build
    by_record = {s["source"]["record_id"]: s for s in _rows(root / "ds" / "train.jsonl") if not s.get("augmented_from")}
    a, b = by_record["grey16-a"], by_record["grey16-b"]
    assert int(a["phash"], 16) == phash(pattern_image(21, SIZE).convert("L"))
    assert hamming(int(a["phash"], 16), int(b["phash"], 16)) > 16
    for sample in (a, b):  # the stored file is the original 16-bit one; its augmented copies are not white
        assert Image.open(root / "ds" / sample["image"]).mode == "I;16"


def _redo(picture: Image.Image, copy: dict) -> np.ndarray:
    """``picture`` augmented with the op and parameters recorded for ``copy``."""
    op, params = copy["augmentation"]["op"], copy["augmentation"]["params"]
    return np.asarray(Image.open(io.BytesIO(augment_image(encode(picture, "PNG"), op, params))), dtype=int)


def test_build_records_displayed_size_and_augments_upright(kinds_build):
    root, _, _ = kinds_build
    train = _rows(root / "ds" / "train.jsonl")
    by_record = {s["source"]["record_id"]: s for s in train if not s.get("augmented_from")}
    copies = [s for s in train if s.get("augmented_from")]
    for orientation in range(1, 9):
        sample = by_record[f"exif{orientation}"]
        displayed = pattern_image(30 + orientation, SIZE)
        assert (sample["width"], sample["height"]) == SIZE, orientation
        with Image.open(root / "ds" / sample["image"]) as image:
            stored = Image.fromarray(np.asarray(image.convert("RGB")))  # the pixels as stored, without their EXIF
        mine = [c for c in copies if c["augmented_from"] == sample["id"]]
        assert len(mine) == 2  # rotate and translate
        for copy in mine:
            with Image.open(root / "ds" / copy["image"]) as image:
                got = np.asarray(image, dtype=int)
            assert got.shape == (SIZE[1], SIZE[0], 3) and (copy["width"], copy["height"]) == SIZE
            near = np.abs(got - _redo(displayed, copy)).mean()
            assert near < 6, (orientation, copy, near)  # the recorded parameters applied to the upright picture
            if orientation in (2, 3, 4):  # same size either way: the copy must not be of the unturned pixels
                assert np.abs(got - _redo(stored, copy)).mean() > 4 * near, (orientation, copy)
    grey_copies = [c for c in copies if c["augmented_from"] == by_record["grey16-a"]["id"]]
    assert grey_copies and all(np.asarray(Image.open(root / "ds" / c["image"])).mean() < 240 for c in grey_copies)


def test_build_limits_are_settings(tmp_path):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    rows = []
    for k in range(3):
        (raw / "images" / f"{k}.png").write_bytes(encode(pattern_image(70 + k, (120 + 40 * k, 100)), "PNG"))
        rows.append(json.dumps({"record_id": str(k), "title": f"项目{k}", "text": "图片说明", "image": f"images/{k}.png"}))
    (raw / "records.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    sizes = sorted((raw / "images" / f"{k}.png").stat().st_size for k in range(3))
    code = main(["build", str(raw), "--out", str(tmp_path / "ds"), "--set", "clean.min_side=32", "--no-plots", "--no-augment",
                 "--set", f"clean.max_bytes={sizes[1]}", "--set", "clean.max_pixels=15000"])
    assert code == 0
    reasons = sorted(r["reason"] for r in _rows(tmp_path / "ds" / "rejects.jsonl"))
    assert reasons == ["decompression_bomb", "file_too_large"]  # 200x100 > 15000 px (and too many bytes: first check wins)


# -- emmel link ------------------------------------------------------------------------------------------------


def _cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def link_model(tmp_path_factory):
    """An image-only MCR model trained for one epoch on a tiny synthetic dataset."""
    import torch

    from tests.synth.learnable import LearnableConfig, write_learnable

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("link")
    tiny = LearnableConfig(crafts=2, places=2, train_per_entity=4, dev_per_entity=1, test_per_entity=1, candidates=4, min_side=64, max_side=96)
    dataset = write_learnable(root / "tiny", tiny, plots=False)
    code, _, err = _cli("benchmark", dataset, "--epochs", "1", "--models", "image-only", "--threads", "1", "--out", root / "bench")
    assert code == 0, err
    yield root / "bench"
    torch.set_num_threads(threads)


def test_link_refuses_bad_images_in_one_line(link_model, tmp_path):
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "bomb.png").write_bytes(png_header(10_000, 9_000))
    (tmp_path / "page.jpg").write_bytes(b"<html>404</html>")
    (tmp_path / "cut.jpg").write_bytes(encode(pattern_image(5, (300, 200)), "JPEG")[:900])
    cases = {"bomb.png": "decompression_bomb", "fifo.png": "FIFO", "folder.png": "folder", "page.jpg": "not_an_image",
             "cut.jpg": "truncated_image", "gone.png": "not found"}
    for name, expected in cases.items():
        code, out, err = finishes(_cli, "link", link_model, "--model", "image-only", "--text", "湘西木雕", "--image", tmp_path / name)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1, (name, err)
        assert lines[0].startswith("emmel link: error:") and name in lines[0] and expected in lines[0], lines[0]


def test_link_sees_what_the_build_sees(link_model, tmp_path):
    from baseline.images import load_image

    picture = pattern_image(80, SIZE)
    files = {"grey8.png": encode(picture.convert("L"), "PNG"), "grey16.png": grey16(80), "upright.png": encode(picture, "PNG"),
             "turned.jpg": exif_jpeg(picture, 6)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    np.testing.assert_array_equal(load_image(tmp_path / "grey8.png", 32), load_image(tmp_path / "grey16.png", 32))
    turned = load_image(tmp_path / "turned.jpg", 32).float()
    assert (turned - load_image(tmp_path / "upright.png", 32).float()).abs().mean() < 6
    code, out, err = _cli("link", link_model, "--model", "image-only", "--text", "湘西木雕", "--image", tmp_path / "grey16.png", "--json")
    assert code == 0, err
    assert len(out.splitlines()) == 5


# -- emmel ocr and emmel annotate -------------------------------------------------------------------------------


def test_ocr_page_too_large_to_render_fails_alone(tmp_path):
    from tests.test_ocr_book import FIGURE_PAGE, _digital_pdf

    pdf = _digital_pdf(tmp_path / "book.pdf", [FIGURE_PAGE, [("text", 60, 60, 12, "第二页")]])
    data = pdf.read_bytes()
    boxes = [i for i in range(len(data)) if data.startswith(b"/MediaBox", i)]
    start, end = boxes[1], data.index(b"]", boxes[1]) + 1
    box = b"/MediaBox[0 0 9999 9999]"  # 139 x 139 inches: 1e8 pixels even at 72 dpi
    assert len(box) <= end - start
    poster = data[:start] + box.ljust(end - start) + data[end:]
    (tmp_path / "poster.pdf").write_bytes(poster)
    code, out, err = finishes(_cli, "ocr", tmp_path / "poster.pdf", "--out", tmp_path / "raw", "--dpi", "72", seconds=120)
    assert code == 0, err
    summary = json.loads((tmp_path / "raw" / "summary.json").read_text(encoding="utf-8"))
    assert [e["page"] for e in summary["errors"]] == [2] and "pixels" in summary["errors"][0]["error"]
    assert summary["records"] == 1
    only = tmp_path / "only-poster.pdf"
    only.write_bytes(poster)  # every page too large: one line, nothing written
    code, out, err = _cli("ocr", only, "--out", tmp_path / "raw2", "--dpi", "72", "--pages", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "pixels" in err and not (tmp_path / "raw2").exists()


def test_annotate_export_refuses_special_and_oversized_files(tmp_path):
    from tests.dataset_factory import make_dataset

    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    sample = _rows(folder / "test.jsonl")[0]
    image = folder / sample["image"]
    image.unlink()
    os.mkfifo(image)
    for mode in ("inline", "http"):
        extra = ["--image-prefix", "http://127.0.0.1:1/ds"] if mode == "http" else []
        code, _, err = finishes(_cli, "annotate", "export", folder, "--out", tmp_path / "t.json", "--images", mode, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "FIFO" in err and sample["id"] in err
    assert not (tmp_path / "t.json").exists()
    from emmel.dataset import Dataset  # what annotate import saves through: never links the FIFO into a new dataset

    with pytest.raises(EmmelError, match=f"sample {sample['id']} is a FIFO"):
        finishes(Dataset.load(folder).save, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    image.unlink()
    sparse_file(image, 40 << 20)  # more than the 32 MiB an inline export may embed: refused before reading
    code, _, err = _cli("annotate", "export", folder, "--out", tmp_path / "t.json", "--images", "inline")
    assert code == 2 and "inline images exceed" in err
