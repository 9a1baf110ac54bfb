"""`emmel demo --out DIR` replaces DIR on every run: only ever an empty folder or one an earlier demo
wrote, never the bundled data, an ancestor of it, or a folder of the user's (``--out ~``)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from emmel.cli import main


@pytest.fixture
def data(tmp_path) -> Path:
    """A stand-in for the bundled sample (the demo checks these exist before anything else)."""
    folder = tmp_path / "样本 data"
    (folder / "mirror").mkdir(parents=True)
    (folder / "sample_book.pdf").write_bytes(b"%PDF-1.4\n")
    (folder / "ihchina_national_list.csv").write_text("title\n", encoding="utf-8")
    return folder


def demo(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["demo", *map(str, argv)])
    return code, err.getvalue()


def tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where, message", [
    ("home", "refusing to replace a folder emmel did not write"),
    ("data", "refusing to write over the input itself"),
    ("parent of data", "refusing to replace a folder that holds the input"),
])
def test_demo_never_deletes_what_it_did_not_write(tmp_path, data, where, message):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / ".bashrc").write_text("export PATH")
    (home / "Documents" / "thesis.tex").write_text("years of work")
    out = {"home": home, "data": data, "parent of data": tmp_path}[where]
    before = tree(tmp_path)
    code, err = demo("--out", out, "--data", data)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"emmel demo: error: {out}: ") and message in lines[0], err
    assert tree(tmp_path) == before
