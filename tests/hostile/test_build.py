"""`emmel build` against hostile inputs: outputs that would delete inputs or the user's files, odd
paths, records without ids, cut-off lines, sources that keep nothing, and SIGKILL mid-build."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emmel.build import run_build
from emmel.config import load_config
from emmel.dataset import Dataset
from emmel.io import MARKER
from tests.helpers import ROOT, run_emmel
from tests.messy import encode, pattern_image

FAST = ("--no-plots", "--min-side", "64", "--lambda", "3")
QUICK = (*FAST, "--no-augment")  # no albumentations import: a second less per build


def make_source(folder: Path, n: int, *, size=(96, 80)) -> Path:
    """``n`` records of ``n // 4`` entities, each with its own picture."""
    (folder / "images").mkdir(parents=True)
    rows = []
    for k in range(n):
        (folder / "images" / f"{k}.jpg").write_bytes(encode(pattern_image(2000 + k, size)))
        rows.append({"record_id": f"r{k}", "title": f"项目{k // 4}", "text": f"项目{k // 4}的第{k}张图片：民族服饰与表演", "image": f"images/{k}.jpg"})
    (folder / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return folder


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines and lines[-1].startswith("emmel build: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("hostile build") / "原始 数据", 24)


@pytest.mark.parametrize("where, message", [
    ("source", "refusing to write over the input itself"),
    ("parent", "refusing to replace a folder that holds the input"),
    ("user folder", "emmel did not write"),
    ("symlink to source", "refusing to write over the input itself"),
])
def test_out_that_would_lose_data_is_refused(source, tmp_path, where, message):
    parent = source.parent
    if where == "user folder":
        out = tmp_path / "thesis"
        out.mkdir()
        (out / "chapter1.docx").write_bytes(b"years of work")
    elif where == "symlink to source":
        out = tmp_path / "link"
        out.symlink_to(source)
    else:
        out = source if where == "source" else parent
    before = tree_digest(parent), tree_digest(tmp_path)
    result = run_emmel("build", source, "--out", out, "--overwrite", *QUICK)
    assert message in error_line(result)
    assert (tree_digest(parent), tree_digest(tmp_path)) == before


def test_kb_seed_is_an_input_too(source, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "list.csv").write_text("title\n春节\n", encoding="utf-8")
    result = run_emmel("build", source, "--out", seeds, "--overwrite", "--kb-seed", seeds / "list.csv", *QUICK)
    assert "holds the input" in error_line(result) and (seeds / "list.csv").exists()


def test_odd_paths_and_rebuild_over_own_output(source, tmp_path):
    out = tmp_path / "带 空格 & ünïcode" / "EMMEL 数据集"
    first = run_emmel("build", source, "--out", out, *QUICK)
    assert first.returncode == 0, first.stderr
    assert json.loads((out / MARKER).read_text(encoding="utf-8"))["kind"] == "dataset"
    assert run_emmel("stats", "--check", out).returncode == 0
    again = run_emmel("build", source, "--out", out, *QUICK)
    assert "exists (use --overwrite" in error_line(again)
    digest = tree_digest(out)
    replaced = run_emmel("build", source, "--out", out, "--overwrite", *QUICK)
    assert replaced.returncode == 0, replaced.stderr
    assert tree_digest(out) == digest  # deterministic, marker included
    (out / "my notes.txt").write_text("mine", encoding="utf-8")
    refused = run_emmel("build", source, "--out", out, "--overwrite", *QUICK)
    assert "1 entry emmel did not write ('my notes.txt')" in error_line(refused)
    assert (out / "my notes.txt").read_text(encoding="utf-8") == "mine"


def test_records_without_id_and_cut_off_lines_are_named_rejects(tmp_path):
    src = make_source(tmp_path / "src", 8)
    rows = [json.loads(line) for line in (src / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    del rows[2]["record_id"]
    rows[5]["record_id"] = ""
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
    lines[6] = lines[6][:40] + "\n"  # a writer killed mid-line
    (src / "records.jsonl").write_text("".join(lines), encoding="utf-8")
    result = run_emmel("build", src, "--out", tmp_path / "out", *QUICK)
    assert result.returncode == 0, result.stderr
    assert f"{src / 'records.jsonl'}:3: missing_field: missing field 'record_id'" in result.stderr
    assert "control character" not in result.stderr
    ds = Dataset.load(tmp_path / "out")
    rejects = {r.record: r for r in ds.rejects}
    assert {k: r.reason for k, r in rejects.items()} == {"src/records.jsonl:3": "missing_field", "src/records.jsonl:6": "missing_field",
                                                          "src/records.jsonl:7": "malformed_record"}
    assert rejects["src/records.jsonl:7"].detail.startswith("invalid JSON: the line is cut off (unterminated string starting at column ")
    assert ds.counts()["kept"] + ds.counts()["rejected"] == 8
    numbered = run_build([src], tmp_path / "numbered", load_config(None, ["clean.min_side=64", "augment.enabled=false"]),
                         plots=False, line_ids=True)
    ids = {s.source["record_id"] for s in Dataset.load(numbered.out).all_samples()}
    assert {"line3", "line6"} <= ids and "r0" in ids and numbered.counts["rejected"] == 1


def test_build_that_keeps_nothing_fails_and_lists_the_rejects(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "records.jsonl").write_bytes("".join(
        json.dumps({"record_id": f"r{k}", "title": "春节", "text": "春节活动", "image": f"images/{k}.jpg"}, ensure_ascii=False) + "\n"
        for k in range(3)).encode("utf-8"))
    out = tmp_path / "out"
    result = run_emmel("build", src, "--out", out, *QUICK)
    line = error_line(result)
    assert "all 3 input records were rejected (missing_image 3), so no dataset was written" in line
    listing = tmp_path / "out.rejects.jsonl"
    assert str(listing) in line and not out.exists()
    assert [json.loads(r)["reason"] for r in listing.read_text(encoding="utf-8").splitlines()] == ["missing_image"] * 3
    listing.write_text("my own file", encoding="utf-8")  # never overwritten: not a rejects list
    line = error_line(run_emmel("build", src, "--out", out, *QUICK))
    assert "rejects.jsonl" not in line and listing.read_text(encoding="utf-8") == "my own file"


# --------------------------------------------------------------------------- kill -9
def _start(source: Path, out: Path, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "emmel", "build", str(source), "--out", str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _temporaries(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*"))


def _kill_when(proc: subprocess.Popen, out: Path, ready) -> str:
    """SIGKILL ``proc`` as soon as ``ready(temporary folder)`` holds; returns what it printed."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the build finished before the kill point: {proc.stderr.read()}"
        tmps = [t for t in _temporaries(out) if ".tmp-" in t.name]
        try:
            if tmps and ready(tmps[0]):
                break
        except OSError:
            pass
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.stderr.read()


def _images(tmp: Path) -> int:
    return sum(1 for _ in (tmp / "images").rglob("*.jpg")) if (tmp / "images").is_dir() else 0


def test_sigkill_mid_build_loses_nothing_and_leftovers_go(tmp_path):
    src = make_source(tmp_path / "src", 48, size=(160, 140))
    out = tmp_path / "EMMEL"
    (tmp_path / "neighbour.txt").write_text("not emmel's", encoding="utf-8")
    source_digest = tree_digest(src)

    # 1. killed as soon as its temporary folder exists (image copy starting)
    _kill_when(_start(src, out, *QUICK), out, lambda tmp: True)
    assert not out.exists() and len(_temporaries(out)) == 1
    # 2. killed mid-augmentation: the first run's leftover is swept, one line says so
    said = _kill_when(_start(src, out, *FAST), out, lambda tmp: _images(tmp) > 48 + 6)  # originals copied, augmenting
    assert "emmel: removed .EMMEL.tmp-" in said and "the temporary folder of an interrupted run" in said
    assert not out.exists() and len(_temporaries(out)) == 1
    # 3. a full run: sweeps the second leftover, writes a checked dataset
    done = run_emmel("build", src, "--out", out, *QUICK)
    assert done.returncode == 0 and "the temporary folder of an interrupted run" in done.stderr, done.stderr
    assert _temporaries(out) == [] and run_emmel("stats", "--check", out).returncode == 0
    first = tree_digest(out)
    # 4. an --overwrite killed while writing the tables: the old dataset stays whole
    _kill_when(_start(src, out, "--overwrite", *QUICK, "--seed", "6"), out, lambda tmp: (tmp / "kb.jsonl").exists())
    assert tree_digest(out) == first and len(_temporaries(out)) == 1
    # 5. rerun: same inputs and seed give the same bytes; nothing is left over, nothing else touched
    again = run_emmel("build", src, "--out", out, "--overwrite", *QUICK)
    assert again.returncode == 0, again.stderr
    assert tree_digest(out) == first and _temporaries(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EMMEL", "neighbour.txt", "src"]
    assert tree_digest(src) == source_digest and (tmp_path / "neighbour.txt").read_text(encoding="utf-8") == "not emmel's"
