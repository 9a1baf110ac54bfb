"""Hostile text encodings of records files: GBK/GB18030 (Excel on a Chinese Windows), UTF-8 with a BOM
("CSV UTF-8"), CRLF line ends, files mixing encodings, UTF-16, and the ``--encoding`` override, for raw
source folders, generic JSONL and CSV, and KB seeds, through ``emmel build``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
from pathlib import Path

import pytest

from emmel.cli import main
from emmel.errors import EmmelError
from emmel.labels import normalize_text
from emmel.textfiles import check_encoding, detect_encoding
from tests.helpers import finishes
from tests.messy import encode, pattern_image

TITLES = ["苗族银饰锻制技艺", "侗族大歌", "那达慕", "鄂温克族萨满舞", "蒙古族长调民歌", "藏戏"]
# characters GB18030 has and GBK lacks: Mongolian and Tibetan script, a CJK extension B ideograph
GB18030_ONLY = ["ᠮᠣᠩᠭᠣᠯ长调", "བོད་ཡིག藏文经卷", "𠀀字碑"]


def _cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _records(folder: Path, titles: list[str], start: int = 0) -> list[dict]:
    """One record (and one distinct picture) per title."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, title in enumerate(titles, start=start):
        (folder / "images" / f"{k}.jpg").write_bytes(encode(pattern_image(200 + k, (240, 160)), quality=90))
        rows.append({"record_id": f"r{k}", "title": title, "text": f"{title}的照片", "image": f"images/{k}.jpg"})
    return rows


def _jsonl(path: Path, rows: list[dict], encoding: str, *, crlf: bool = False, extra: list[bytes] = ()) -> Path:
    end = "\r\n" if crlf else "\n"
    data = b"".join((json.dumps(r, ensure_ascii=False) + end).encode(encoding) for r in rows) + b"".join(extra)
    path.write_bytes(data)
    return path


def _csv(path: Path, rows: list[dict], encoding: str) -> Path:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=["record_id", "title", "text", "image"])  # Excel style: CRLF line ends
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def _build(*sources, out: Path, **options) -> tuple[int, str, str]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    return _cli("build", *sources, "--out", out, "--set", "clean.min_side=32", "--no-augment", "--no-plots", *flags)


def _read(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines()]


def _kept_titles(dataset: Path) -> set[str]:
    labels = {e["id"]: e["label"] for e in _read(dataset, "kb.jsonl")}
    return {labels[s["entity_id"]] for split in ("train", "dev", "test") for s in _read(dataset, f"{split}.jsonl")}


def _manifest(dataset: Path) -> dict:
    return json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("encoding, titles, crlf", [
    ("gbk", TITLES, False),
    ("gbk", TITLES, True),
    ("gb18030", TITLES[:3] + GB18030_ONLY, False),
])
def test_gbk_and_gb18030_sources_are_read_whole(tmp_path, encoding, titles, crlf):
    raw = tmp_path / "raw"
    _jsonl(raw / "records.jsonl", _records(raw, titles), encoding, crlf=crlf)
    code, out, err = _build(raw, out=tmp_path / "ds")
    assert code == 0, err
    assert _kept_titles(tmp_path / "ds") == {normalize_text(t) for t in titles}
    (source,) = _manifest(tmp_path / "ds")["sources"]
    assert source["encoding"] == "gb18030" and source["records"] == len(titles)
    assert f"raw ({len(titles)} records, GB18030)" in out
    assert "read as GB18030" in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")


def test_utf8_bom_no_longer_costs_the_first_record(tmp_path):
    raw = tmp_path / "raw"
    rows = _records(raw, TITLES)
    (raw / "records.jsonl").write_bytes(codecs.BOM_UTF8 + _jsonl(tmp_path / "plain.jsonl", rows, "utf-8", crlf=True).read_bytes())
    code, out, err = _build(raw, out=tmp_path / "ds")
    assert code == 0, err
    assert _manifest(tmp_path / "ds")["counts"]["kept"] == len(TITLES) and not (tmp_path / "ds" / "rejects.jsonl").read_text()
    assert _manifest(tmp_path / "ds")["sources"][0]["encoding"] == "utf-8-sig" and "UTF-8 with BOM" in out


def test_mixed_files_reject_only_the_lines_in_the_other_encoding(tmp_path):
    # a UTF-8 file with one GBK line and one Latin-1 line: UTF-8 wins, those two lines are bad_encoding
    raw = tmp_path / "raw"
    rows = _records(raw, TITLES + ["剪纸", "café"])
    rows[7]["text"] = "café photo"
    _jsonl(raw / "records.jsonl", rows[:6], "utf-8", extra=[(json.dumps(rows[6], ensure_ascii=False) + "\n").encode("gbk"),
                                                             (json.dumps(rows[7], ensure_ascii=False) + "\n").encode("latin-1")])
    code, _, err = _build(raw, out=tmp_path / "ds")
    assert code == 0, err
    rejects = _read(tmp_path / "ds", "rejects.jsonl")
    assert [(r["record"], r["reason"]) for r in rejects] == [("raw/records.jsonl:7", "bad_encoding"), ("raw/records.jsonl:8", "bad_encoding")]
    assert "not UTF-8" in rejects[0]["detail"] and err.count("bad_encoding") == 2
    assert _kept_titles(tmp_path / "ds") == {normalize_text(t) for t in TITLES}
    # a GBK file with one line of invalid bytes: GB18030 wins, that line alone is rejected
    gbk = tmp_path / "gbk"
    rows = _records(gbk, TITLES)
    _jsonl(gbk / "records.jsonl", rows, "gbk", extra=[b'{"record_id": "x", "title": "\x81\x20\xff"}\n'])
    code, _, err = _build(gbk, out=tmp_path / "ds2")
    assert code == 0, err
    (reject,) = _read(tmp_path / "ds2", "rejects.jsonl")
    assert reject["reason"] == "bad_encoding" and "not GB18030" in reject["detail"] and reject["record"] == "gbk/records.jsonl:7"
    assert _manifest(tmp_path / "ds2")["counts"]["kept"] == len(TITLES)


def test_csv_from_excel_in_gbk_and_with_a_bad_row(tmp_path):
    rows = _records(tmp_path, TITLES)
    _csv(tmp_path / "export.csv", rows, "gbk")
    code, out, err = _build(tmp_path / "export.csv", out=tmp_path / "ds")
    assert code == 0, err
    assert _kept_titles(tmp_path / "ds") == {normalize_text(t) for t in TITLES} and "GB18030" in out
    # one row with undecodable bytes: rejected alone, with its line (CSV used to fail as a whole)
    data = (tmp_path / "export.csv").read_bytes().replace("藏戏".encode("gbk"), b"\xff\xfe\xfd", 1)
    (tmp_path / "bad.csv").write_bytes(data)
    code, _, err = _build(tmp_path / "bad.csv", out=tmp_path / "ds2")
    assert code == 0, err
    (reject,) = _read(tmp_path / "ds2", "rejects.jsonl")
    assert reject["reason"] == "bad_encoding" and reject["record"] == "bad.csv:7"
    # UTF-8 with BOM ("CSV UTF-8"): the header's first column is record_id, not "\ufeffrecord_id"
    _csv(tmp_path / "utf8.csv", rows, "utf-8-sig")
    code, _, err = _build(tmp_path / "utf8.csv", out=tmp_path / "ds3")
    assert code == 0, err
    assert {s["source"]["record_id"] for s in _read(tmp_path / "ds3", "train.jsonl")} <= {r["record_id"] for r in rows}
    assert _manifest(tmp_path / "ds3")["counts"]["kept"] == len(TITLES)


def test_encoding_override(tmp_path):
    # Big5 (Taiwan, Hong Kong) always decodes as GB18030 too, into the wrong characters: --encoding says what it is
    traditional = ["蒙古族長調民歌", "侗族大歌", "臺灣原住民族豐年祭", "鄂溫克族薩滿舞"]
    rows = _records(tmp_path, traditional)
    _jsonl(tmp_path / "big5.jsonl", rows, "big5")
    assert detect_encoding(tmp_path / "big5.jsonl") == "gb18030"
    code, out, err = _build(tmp_path / "big5.jsonl", out=tmp_path / "ds", encoding="big5")
    assert code == 0, err
    assert _kept_titles(tmp_path / "ds") == {normalize_text(t) for t in traditional}
    manifest = _manifest(tmp_path / "ds")
    assert manifest["sources"][0]["encoding"] == "big5" and manifest["config"]["encoding"] == "big5" and "Big5" in out
    # an explicit utf-8 still drops a BOM; unknown and ASCII-incompatible codecs are one-line errors
    (tmp_path / "bom.jsonl").write_bytes(codecs.BOM_UTF8 + b"{}\n")
    assert detect_encoding(tmp_path / "bom.jsonl", "UTF8") == "utf-8-sig"
    for name, message in (("klingon", "unknown encoding"), ("utf-16", "not ASCII-compatible"), ("base64", "not ASCII-compatible")):
        code, _, err = _build(tmp_path / "big5.jsonl", out=tmp_path / f"ds-{name}", encoding=name)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert check_encoding("CP936") == "gbk"


def test_build_help_reads_the_default_encoding(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--encoding NAME" in out and "default: detect: UTF-8, UTF-8 with BOM or GB18030" in out


def test_unreadable_records_files_are_one_line_errors(tmp_path):
    rows = _records(tmp_path, TITLES[:2])
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (tmp_path / "utf16.jsonl").write_bytes(text.encode("utf-16"))  # Excel's "Unicode text"
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "records.jsonl")
    for source, message in ((tmp_path / "utf16.jsonl", "UTF-16"), (fifo, "FIFO")):
        code, _, err = finishes(_build, source, out=tmp_path / "ds")
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err and str(source) in err, err
    assert not (tmp_path / "ds").exists()
    with pytest.raises(EmmelError, match="FIFO"):
        finishes(detect_encoding, fifo / "records.jsonl")


def test_kb_seed_in_gbk(tmp_path):
    raw = tmp_path / "raw"
    _jsonl(raw / "records.jsonl", _records(raw, TITLES[:2]), "utf-8")
    seed = tmp_path / "seed.csv"
    seed.write_bytes("name,category,region\r\n花儿,传统音乐,青海省\r\n锅庄舞,传统舞蹈,西藏自治区\r\n".encode("gbk"))
    code, _, err = _build(raw, out=tmp_path / "ds", kb_seed=seed)
    assert code == 0, err
    assert {"花儿", "锅庄舞"} <= {e["label"] for e in _read(tmp_path / "ds", "kb.jsonl")}
