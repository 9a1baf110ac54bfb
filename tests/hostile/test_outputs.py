"""The one output guard (emmel.io): what --overwrite may replace, owner-tagged temporary folders and
how leftovers of killed runs are told apart and swept. Library level; the commands' own modules
check that each command goes through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crawlers.runner import CrawlOptions, prepare_out
from emmel.errors import EmmelError
from emmel.io import (
    MARKER,
    atomic_directory,
    check_output,
    claim_folder,
    leftovers,
    read_marker,
    sweep_leftovers,
    write_output_file,
)


def _write(folder: Path, kind: str = "dataset", files=("a.txt",)) -> Path:
    with atomic_directory(folder, kind=kind, overwrite=True) as tmp:
        for name in files:
            (tmp / name).write_text(name, encoding="utf-8")
    return folder


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _host() -> str:
    import re

    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"


def test_marker_names_kind_and_entries(tmp_path):
    out = _write(tmp_path / "out", files=("a.txt", "b.txt"))
    assert read_marker(out) == {"entries": ["a.txt", "b.txt"], "kind": "dataset", "tool": read_marker(out)["tool"]}
    assert read_marker(out)["tool"].startswith("emmel ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left behind


@pytest.mark.parametrize("case, message", [
    ("user folder", "emmel did not write"),
    ("other kind", "refusing to replace an emmel benchmark folder with a dataset"),
    ("foreign entry", r"holds 1 entry emmel did not write \('thesis.docx'\); move it out"),
    ("fake marker", "emmel did not write"),
])
def test_overwrite_refuses_what_emmel_did_not_write(tmp_path, case, message):
    out = tmp_path / "out"
    if case == "user folder":
        out.mkdir()
        (out / "thesis.docx").write_bytes(b"years of work")
    elif case == "other kind":
        _write(out, kind="benchmark")
    elif case == "foreign entry":
        _write(out)
        (out / "thesis.docx").write_bytes(b"years of work")
    else:  # a marker that does not parse as emmel's
        out.mkdir()
        (out / MARKER).write_text('{"kind": "dataset", "tool": "someone else"}', encoding="utf-8")
        (out / "thesis.docx").write_bytes(b"years of work")
    before = _tree(out)
    with pytest.raises(EmmelError, match=message) as info, atomic_directory(out, kind="dataset", overwrite=True) as tmp:
        (tmp / "new.txt").write_text("x")
    assert "\n" not in str(info.value) and str(out) in str(info.value)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_overwrite_replaces_emmel_output_and_keeps_nothing_stale(tmp_path):
    out = _write(tmp_path / "out", files=("old.txt",))
    with pytest.raises(EmmelError, match="exists"):
        check_output(out, kind="dataset", overwrite=False)
    _write(out, files=("new.txt",))
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_input_and_its_ancestors_are_never_outputs(tmp_path):
    src = tmp_path / "a b" / "源 data"
    src.mkdir(parents=True)
    (src / "records.jsonl").write_text("{}\n")
    link = tmp_path / "link"
    link.symlink_to(src.parent)
    for out, message in ((src, "input itself"), (src.parent, "holds the input"), (link, "holds the input"),
                         (link / "源 data", "input itself"), (Path("/"), "holds the input")):
        with pytest.raises(EmmelError, match=message):
            check_output(out, kind="dataset", overwrite=True, inputs=[src])
    with pytest.raises(EmmelError, match="input itself"):
        write_output_file(src / "records.jsonl", b"x", overwrite=True, is_ours=lambda data: True, what="x", inputs=[src / "records.jsonl"])
    assert (src / "records.jsonl").read_text() == "{}\n"
    check_output(src / "out", kind="dataset", overwrite=True, inputs=[src])  # inside an input is fine


def test_empty_folder_and_symlinked_output(tmp_path):
    (tmp_path / "empty").mkdir()
    _write(tmp_path / "empty")  # nothing to lose: no --overwrite needed
    real = _write(tmp_path / "real")
    (tmp_path / "alias").symlink_to(real)
    _write(tmp_path / "alias", files=("again.txt",))
    assert (tmp_path / "alias").is_symlink() and sorted(p.name for p in real.iterdir()) == [MARKER, "again.txt"]
    (tmp_path / "file").write_text("mine")
    with pytest.raises(EmmelError, match="not a folder"):
        check_output(tmp_path / "file", kind="dataset", overwrite=True)


def test_failed_body_leaves_old_output_and_no_temporary(tmp_path):
    out = _write(tmp_path / "out")
    with pytest.raises(RuntimeError), atomic_directory(out, kind="dataset", overwrite=True) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("stage failed")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_are_told_apart_and_only_abandoned_ones_swept(tmp_path):
    out = tmp_path / "out"
    dead, host = _dead_pid(), _host()
    abandoned = tmp_path / f".out.tmp-{dead}@{host}-abcd1234"
    running = tmp_path / f".out.tmp-{os.getpid()}@{host}-abcd1234"
    elsewhere = tmp_path / f".out.tmp-{dead}@another-host-abcd1234"
    legacy = tmp_path / ".out.tmp-x1y2z3w4"
    other_output = tmp_path / f".other.tmp-{dead}@{host}-abcd1234"
    for folder in (abandoned, running, elsewhere, legacy, other_output):
        folder.mkdir()
        (folder / "part.bin").write_bytes(b"\0" * 2000)
    user = tmp_path / "precious"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    (tmp_path / f".out.tmp-{dead}@{host}-zzzz9999").symlink_to(user)  # a link named like ours: never followed
    states = {path.name: state for path, state in leftovers(out)}
    assert states == {abandoned.name: "abandoned", running.name: "running", elsewhere.name: "unknown", legacy.name: "unknown"}
    lines = []
    sweep_leftovers(out, say=lines.append)
    assert not abandoned.exists()
    assert all(p.exists() for p in (running, elsewhere, legacy, other_output)) and (user / "keep.txt").read_text() == "mine"
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    assert any(line.startswith(f"emmel: removed {abandoned.name} (2 kB)") for line in lines)
    assert any("another emmel run is writing" in line for line in lines)
    assert sum("delete it if no emmel run is writing out" in line for line in lines) == 2


def test_output_set_aside_by_a_kill_is_restored(tmp_path):
    out = _write(tmp_path / "out")
    aside = tmp_path / f".out.old-{_dead_pid()}@{_host()}-abcd1234"
    os.replace(out, aside)  # what a kill between the two renames of a replacement leaves
    lines = []
    sweep_leftovers(out, say=lines.append)
    assert (out / "a.txt").read_text() == "a.txt" and not aside.exists() and "restored" in lines[0]


def test_single_output_file_rule(tmp_path):
    mine = tmp_path / "tasks.json"
    yours = tmp_path / "notes.json"
    yours.write_text("my notes")

    def is_ours(data: bytes) -> bool:
        return data.startswith(b"[")

    write_output_file(mine, b"[1]", overwrite=False, is_ours=is_ours, what="task list")
    with pytest.raises(EmmelError, match="exists .use --overwrite"):
        write_output_file(mine, b"[2]", overwrite=False, is_ours=is_ours, what="task list")
    write_output_file(mine, b"[2]", overwrite=True, is_ours=is_ours, what="task list")
    assert mine.read_bytes() == b"[2]"
    with pytest.raises(EmmelError, match="not a task list emmel wrote"):
        write_output_file(yours, b"[3]", overwrite=True, is_ours=is_ours, what="task list")
    with pytest.raises(EmmelError, match="is a folder"):
        write_output_file(tmp_path, b"[3]", overwrite=True, is_ours=is_ours, what="task list")
    assert yours.read_text() == "my notes"


def test_claim_folder_for_in_place_writers(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("mine")
    with pytest.raises(EmmelError, match="emmel did not write"):
        claim_folder(home, kind="demo", overwrite=True)
    assert (home / ".bashrc").read_text() == "mine"
    out = claim_folder(tmp_path / "demo", kind="demo", overwrite=True, entries=("raw",))
    (out / "raw").mkdir()
    (out / "raw" / "x").write_text("x")
    again = claim_folder(tmp_path / "demo", kind="demo", overwrite=True, entries=("raw",))
    assert [p.name for p in again.iterdir()] == [MARKER]


def test_crawl_overwrite_needs_a_crawl_folder_and_keeps_the_users_files(tmp_path):
    users = tmp_path / "photos"
    (users / "images").mkdir(parents=True)
    (users / "images" / "wedding.jpg").write_bytes(b"jpeg")
    with pytest.raises(EmmelError, match="emmel did not write"):
        prepare_out(CrawlOptions(out=users, overwrite=True))
    assert (users / "images" / "wedding.jpg").read_bytes() == b"jpeg"
    crawl = tmp_path / "crawl"
    prepare_out(CrawlOptions(out=crawl))
    assert read_marker(crawl)["kind"] == "crawl"
    (crawl / "records.jsonl").write_text("{}\n")
    (crawl / "my-notes.txt").write_text("mine")
    prepare_out(CrawlOptions(out=crawl, overwrite=True))
    assert sorted(p.name for p in crawl.iterdir()) == [MARKER, "my-notes.txt"]
    assert json.loads((crawl / MARKER).read_text())["kind"] == "crawl"
