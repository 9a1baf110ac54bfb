"""Hard kills of `emmel crawl` (SIGKILL: no cleanup at all) followed by `--resume`.

Every test crawls a generated mirror of the three sites with every fault (robots.txt, redirects,
429/503 answers retried, broken images) served on 127.0.0.1 in a fresh process, kills it when the
output has grown to a chosen point (stored images are counted, not seconds), resumes, and compares
the result with one uninterrupted crawl of the same mirror.

"Identical to an uninterrupted crawl" means here:
- records.jsonl: the same lines in the same (sorted) order, each record equal field by field once
  ``source.crawled_at`` (the time a page was parsed) is removed; no record_id twice;
- items/<spider>.jsonl: the same entity pages (by URL), each item equal but for ``crawled_at`` and
  the ``status`` of its images (``downloaded`` or ``uptodate``: whether this run or an earlier one
  fetched the file), no page twice;
- images/full/: the same file names with the same bytes, and no temporary files left behind;
- the run ends with exit status 0 and every spider's journal complete.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from crawlers.mirror_server import serve_mirror
from tests.helpers import ROOT, free_port, run_emmel
from tests.synth.mirror import MirrorConfig, generate_mirror

# Fast but not instant: the server's latency keeps a crawl running long enough to be killed late.
FLAGS = ["--no-throttle", "--concurrency", "2", "--backoff", "0", "--no-progress"]
LATENCY = 0.03
RECORDS, ITEMS = 35, 15  # MirrorConfig.for_tests(): what an uninterrupted crawl stores


def _crawl_cmd(url: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "emmel", "crawl", "--mirror", url, "--out", str(out), *FLAGS, *extra]


def _env() -> dict:
    return {**{k: v for k, v in os.environ.items() if k != "EMMEL_REDIS_URL"}, "PYTHONPATH": str(ROOT)}


def _images(out: Path) -> int:
    folder = out / "images" / "full"
    return sum(1 for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else 0


def crawl_until(url: str, out: Path, images: int, *extra: str, sig=signal.SIGKILL) -> None:
    """Start a crawl and send ``sig`` once ``images`` images are stored in ``out``."""
    proc = subprocess.Popen(_crawl_cmd(url, out, *extra), cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    try:
        while _images(out) < images:
            if proc.poll() is not None:
                pytest.fail(f"the crawl ended (exit {proc.returncode}) before {images} images were stored: "
                            f"{proc.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "crawl too slow"
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL


def resume(url: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_crawl_cmd(url, out, "--resume"), cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def snapshot(out: Path) -> dict:
    """What must be the same after any sequence of kills and resumes (see the module docstring)."""
    records = read_jsonl(out / "records.jsonl")
    for record in records:
        record["source"].pop("crawled_at")
    items = {}
    for path in sorted((out / "items").glob("*.jsonl")):
        rows = read_jsonl(path)
        urls = Counter(row["url"] for row in rows)
        assert [u for u, n in urls.items() if n > 1] == [], f"{path.name}: a page stored twice"
        for row in rows:
            row.pop("crawled_at")
            for image in row["images"]:
                image.pop("status")
        items[path.name] = sorted(rows, key=lambda row: row["url"])
    images = {p.name: p.read_bytes() for p in (out / "images" / "full").iterdir()}
    return {"records": records, "items": items, "images": images}


def assert_identical(out: Path, reference: dict) -> None:
    got = snapshot(out)
    ids = [r["record_id"] for r in got["records"]]
    assert len(ids) == len(set(ids)), "a record twice in records.jsonl"
    missing = {r["record_id"] for r in reference["records"]} - set(ids)
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert got["records"] == reference["records"]
    assert got["items"] == reference["items"]
    assert sorted(got["images"]) == sorted(reference["images"])  # no leftover temporary file either
    assert got["images"] == reference["images"]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """The generated mirror and one port for all its servers (image file names hash the URL)."""
    root = tmp_path_factory.mktemp("mirror") / "m"
    generate_mirror(root, MirrorConfig.for_tests())
    return root, free_port()


@pytest.fixture
def server(mirror):
    """A fresh server per test: its faults (429, 503 …) are served again to every crawl."""
    with serve_mirror(mirror[0], port=mirror[1], latency=LATENCY) as running:
        yield running


@pytest.fixture(scope="module")
def reference(mirror, tmp_path_factory):
    """One uninterrupted crawl: the folder and its snapshot."""
    out = tmp_path_factory.mktemp("reference") / "raw"
    with serve_mirror(mirror[0], port=mirror[1], latency=LATENCY) as server:
        result = subprocess.run(_crawl_cmd(server.url, out), cwd=ROOT, env=_env(), capture_output=True, text=True,
                                timeout=120)
    shot = snapshot(out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(shot["records"]) == RECORDS and sum(len(v) for v in shot["items"].values()) == ITEMS
    return out, shot


@pytest.mark.parametrize("point", [1, 12, 24], ids=["early", "mid", "late"])
def test_kill_then_resume_gives_the_uninterrupted_result(server, reference, tmp_path, point):
    out = tmp_path / "raw"
    crawl_until(server.url, out, point)
    result = resume(server.url, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{RECORDS} records" in result.stdout
    assert_identical(out, reference[1])


def test_kills_in_a_row_and_during_resume(server, reference, tmp_path):
    """Killed three times (once right after start-up, twice while resuming), then resumed to the end."""
    out = tmp_path / "raw"
    crawl_until(server.url, out, 1)
    crawl_until(server.url, out, 10, "--resume")
    crawl_until(server.url, out, 20, "--resume")
    result = resume(server.url, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_identical(out, reference[1])


def test_sigint_then_resume_fetches_nothing_twice(server, reference, tmp_path):
    out = tmp_path / "raw"
    crawl_until(server.url, out, 12, sig=signal.SIGINT)
    result = resume(server.url, out)
    fetched = Counter(h.key for h in server.hits if h.status == 200 and h.key != "robots.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [k for k, n in fetched.items() if n > 1] == []
    assert_identical(out, reference[1])


def test_resume_of_a_finished_crawl_does_nothing(reference, tmp_path):
    out = tmp_path / "raw"
    shutil.copytree(reference[0], out)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    result = run_emmel("crawl", "--mirror", "http://127.0.0.1:9/", "--out", out, "--resume", *FLAGS, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to resume" in result.stdout and "complete" in result.stdout
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_resume_refuses_a_folder_that_is_not_a_crawl(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.md").write_text("mine", encoding="utf-8")
    result = run_emmel("crawl", "--mirror", "http://127.0.0.1:9/", "--out", thesis, "--resume", cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not an emmel crawl" in result.stderr
    assert sorted(p.name for p in thesis.iterdir()) == ["chapter1.md"]
    (thesis / ".emmel-crawl").write_text("not a folder", encoding="utf-8")
    result = run_emmel("crawl", "--mirror", "http://127.0.0.1:9/", "--out", thesis, "--resume", cwd=ROOT, timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
