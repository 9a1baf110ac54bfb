"""`emmel ocr BOOK --out DIR`: the output may not be the book's folder, nor a folder of the user's."""

from __future__ import annotations

import pytest

from tests.helpers import run_emmel


@pytest.mark.parametrize("where, message", [("book folder", "holds the input"), ("user folder", "emmel did not write"),
                                            ("book itself", "input itself")])
def test_ocr_out_that_would_lose_data(tmp_path, where, message):
    books = tmp_path / "我的 书"
    books.mkdir()
    book = books / "book.pdf"
    book.write_bytes(b"%PDF-1.4\n% a stand-in: the output is refused before the book is read\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    out = {"book folder": books, "user folder": tmp_path / "notes", "book itself": book}[where]
    result = run_emmel("ocr", book, "--out", out, "--overwrite", "--quiet")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert book.read_bytes().startswith(b"%PDF") and (tmp_path / "notes" / "todo.txt").read_text() == "mine"
