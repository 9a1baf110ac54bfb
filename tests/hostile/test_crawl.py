"""`emmel crawl` against hostile input: an output folder with spaces and non-ASCII characters,
broken and binary HTML, a page bigger than the size limit, a redirect loop, a server that hangs up
in the middle of a page and of an image, two crawls in one folder, and a corrupted job state.

Every page is accounted for (an item, or a counted problem), nothing hangs, nothing prints a
traceback. Kills followed by --resume are in tests/test_crawl_kill.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from crawlers import settings
from crawlers.mirror_server import Routes, serve_mirror
from tests.helpers import ROOT, run_emmel
from tests.synth.mirror import MirrorConfig, generate_mirror

FLAGS = ["--no-throttle", "--backoff", "0", "--no-progress"]
SMALL = MirrorConfig(seed=11, ihchina=4, guangdong=3, guizhou=3, images_min=1, images_max=2, size_min=200,
                     size_max=220, provincial_page_size=2, bad_images=False)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_ids(manifest: dict, skip: set[str] = frozenset()) -> set[str]:
    """record_id of every picture of the mirror, but those in ``skip`` (mirror paths)."""
    ids = set()
    for site, data in manifest["sites"].items():
        for entity in data["entities"]:
            eid = f"t20240516_{entity['id']}" if site == "guizhou" else entity["id"]
            ids |= {f"{site}:{eid}:{k}" for k, pic in enumerate(entity["pictures"]) if pic["path"] not in skip}
    return ids


def _broken_html(page: bytes) -> bytes:
    """The same links in markup no validator would pass: closing tags gone (but the list's), NUL
    and invalid UTF-8 bytes between elements, an unterminated comment at the end."""
    for tag in (b"</li>", b"</div>", b"</body>", b"</html>", b"</head>"):
        page = page.replace(tag, b"")
    return page.replace(b"<li>", b"\x00\xff\xfe<li>").replace(b"<body>", b"<body><table><tr><td>\x01") + b"<!-- never closed"


def test_hostile_site_into_an_odd_folder(tmp_path):
    root = tmp_path / "mirror"
    manifest = generate_mirror(root, SMALL)
    (root / "guangdong/ich/list.html").write_bytes(_broken_html((root / "guangdong/ich/list.html").read_bytes()))
    (root / "guangdong/ich/detail/4408.html").write_bytes(bytes(range(256)) * 40)  # binary garbage as "HTML"
    huge = root / "guangdong/ich/detail/4415.html"
    huge.write_bytes(huge.read_bytes().replace(b"</body>", b"<!--" + b"x" * 1_500_000 + b"--></body>"))
    loop = "guizhou/fwzml/202405/t20240516_8800113.html"
    routes = Routes(redirect={loop: "http://127.0.0.1:{port}/guizhou/loop.html",
                              "guizhou/loop.html": "http://127.0.0.1:{port}/" + loop},
                    cut={"ihchina/project_details/13957.html": 300, "ihchina/Uploads/23714/2.jpg": 100})
    out = tmp_path / "my crawl 数据 ü" / "raw out"
    with serve_mirror(root, routes=routes) as server:
        result = run_emmel("crawl", "--mirror", server.url, "--out", out, *FLAGS, "--set", "DOWNLOAD_MAXSIZE=1000000",
                           cwd=ROOT, timeout=120)
        hits = Counter(h.key for h in server.hits)
    assert result.returncode == 0, result.stdout + result.stderr
    log = (out / ".emmel-crawl" / "crawl.log").read_text(encoding="utf-8")
    assert "Traceback" not in result.stdout + result.stderr
    assert f'File "{ROOT / "crawlers"}' not in log  # Scrapy logs failed image downloads with a traceback; none of ours
    stats = json.loads((out / ".emmel-crawl" / "stats.json").read_text(encoding="utf-8"))
    gd, gz, ih = stats["guangdong"], stats["guizhou"], stats["ihchina"]
    assert gd["emmel/pages/list"] == 2  # the broken start page still gave its links and its "next" link
    assert gd["emmel/dropped/missing_title"] == 1  # the binary page: no title, dropped and counted
    assert sum(v for k, v in gd.items() if k.startswith("emmel/error/download/")) == 1  # the page over the limit
    assert "larger than download max size" in log
    assert gz["emmel/skipped/redirect_to_seen"] == 1 and hits[loop] == 1  # the loop is noticed, not followed
    assert sum(v for k, v in ih.items() if k.startswith("emmel/error/download/")) == 1  # hung up mid-page
    assert hits["ihchina/project_details/13957.html"] == 1 + settings.RETRY_TIMES  # retried, then given up
    assert ih["emmel/error/image/download_failed"] == 1  # hung up mid-image
    gone = {"ihchina/Uploads/23714/2.jpg"} | {p["path"] for e in manifest["sites"]["ihchina"]["entities"] if e["id"] == "13957"
                                                for p in e["pictures"]}
    gone |= {p["path"] for site in ("guangdong", "guizhou") for e in manifest["sites"][site]["entities"]
             if e["id"] in ("4408", "4415", "8800113") for p in e["pictures"]}
    records = read_jsonl(out / "records.jsonl")
    assert {r["record_id"] for r in records} == expected_ids(manifest, gone)
    items = [i["entity_id"] for f in sorted((out / "items").glob("*.jsonl")) for i in read_jsonl(f)]
    assert items == ["4401", "t20240516_8800100", "t20240516_8800126", "13952", "23714", "23715"]
    for name in ("guangdong", "guizhou", "ihchina"):
        assert stats[name]["finish_reason"] == "finished"
    again = run_emmel("crawl", "--mirror", "http://127.0.0.1:9/", "--out", out, "--resume", *FLAGS, cwd=ROOT, timeout=60)
    assert again.returncode == 0 and "nothing to resume" in again.stdout, again.stdout + again.stderr


def test_corrupt_job_state_is_set_aside_and_crawled_again(tmp_path):
    root = tmp_path / "mirror"
    manifest = generate_mirror(root, SMALL)
    out = tmp_path / "raw"
    env = {**{k: v for k, v in os.environ.items() if k != "EMMEL_REDIS_URL"}, "PYTHONPATH": str(ROOT)}
    with serve_mirror(root, latency=0.05) as server:
        cmd = [sys.executable, "-m", "emmel", "crawl", "--mirror", server.url, "--out", str(out), *FLAGS,
               "--concurrency", "1"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        images = out / "images" / "full"
        deadline = time.monotonic() + 60
        while not images.is_dir() or len(list(images.glob("*.jpg"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "the crawl ended before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGSTOP)  # frozen mid-crawl, its lock held
        second = run_emmel("crawl", "--mirror", server.url, "--out", out, "--resume", *FLAGS, cwd=ROOT, timeout=60)
        assert second.returncode == 2 and "another emmel crawl is writing to this folder" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        journal = out / ".emmel-crawl" / "job" / "ihchina.jsonl"
        lines = journal.read_bytes().split(b"\n")
        assert len(lines) > 3, "kill came before the journal grew"
        lines[2] = b'{"add": 1, "fp": "\x00\xff corrupted'
        journal.write_bytes(b"\n".join(lines))
        result = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and re.search(r"ihchina\.jsonl:line 3: .*crawled again from its first page", warnings[0])
    assert (journal.parent / "ihchina.jsonl.corrupt").exists()
    records = read_jsonl(out / "records.jsonl")
    assert [r["record_id"] for r in records].count(records[0]["record_id"]) == 1
    assert {r["record_id"] for r in records} == expected_ids(manifest)
    for path in (out / "items").glob("*.jsonl"):
        urls = [i["url"] for i in read_jsonl(path)]
        assert len(urls) == len(set(urls))
