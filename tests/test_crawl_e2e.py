"""End-to-end: the real spiders, run by `python -m emmel crawl` in a fresh process, against a real
HTTP server on 127.0.0.1 serving a generated mirror with every fault (robots.txt disallow, 429 then
200, 503 then 200, off-domain redirect, undeclared GBK page, GB2312 pages, missing fields, page
without title, broken and oversized images)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from crawlers.mirror_server import serve_mirror
from emmel.sources import read_raw_records
from tests.helpers import run_emmel
from tests.synth.mirror import MirrorConfig, generate_mirror

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--no-throttle", "--backoff", "0.05", "--no-progress"]


def crawl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_emmel("crawl", *args, cwd=ROOT, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stats_of(out: Path) -> dict:
    return json.loads((out / ".emmel-crawl" / "stats.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    manifest = generate_mirror(root / "m", MirrorConfig.for_tests())
    return root / "m", manifest


@pytest.fixture(scope="module")
def crawled(mirror, tmp_path_factory):
    """One full crawl of all three spiders; the server's request log comes with it."""
    root, manifest = mirror
    out = tmp_path_factory.mktemp("crawl") / "raw"
    with serve_mirror(root) as server:
        result = crawl("--mirror", server.url, "--out", str(out), *FAST)
        hits = list(server.hits)
        port = server.port
    assert result.returncode == 0, result.stdout + result.stderr
    return {"out": out, "result": result, "hits": hits, "manifest": manifest, "root": root, "port": port}


def _entities(manifest, site, *, faults=False):
    return [e for e in manifest["sites"][site]["entities"] if faults or e["fault"] in ("", "undeclared_gbk")]


def _entity_id(site: str, entity: dict) -> str:
    return f"t20240516_{entity['id']}" if site == "guizhou" else entity["id"]


def test_every_item_matches_the_mirror(crawled):
    manifest, out = crawled["manifest"], crawled["out"]
    for site in ("ihchina", "guangdong", "guizhou"):
        items = {i["entity_id"]: i for i in read_jsonl(out / "items" / f"{site}.jsonl")}
        for entity in _entities(manifest, site):
            item = items.pop(_entity_id(site, entity))
            # GBK / GB2312 / undeclared-GBK pages all decode to the right characters.
            assert item["title"] == entity["title"]
            assert item["category"] == entity["category"]
            assert item["region"] == entity["region"]
            assert item["batch"] == entity["batch"] and item["year"] == str(entity["year"])
            if site == "ihchina":
                assert item["num"] == entity["num"]
            if entity["ethnic_group"]:
                assert item["ethnic_group"] == entity["ethnic_group"]
            for paragraph in entity["description"].split("\n"):
                assert paragraph in item["description"]
            assert item["url"].endswith(entity["page"])
            assert item["crawled_at"].endswith("+00:00")
            assert [m["url"].split(str(crawled["port"]) + "/", 1)[1] for m in item["image_meta"]] == \
                [p["path"] for p in entity["pictures"]]
        if site == "ihchina":  # the missing-fields item is kept, with its problems listed
            assert set(items) == {"90001"}
            assert items["90001"]["problems"] == ["missing:batch", "missing:category", "missing:description"]
        else:
            assert items == {}


def test_one_record_per_stored_image_with_the_served_bytes(crawled):
    manifest, out, root = crawled["manifest"], crawled["out"], crawled["root"]
    records = {r.record_id: r for r in read_raw_records(out)}  # what `emmel build` reads
    expected = set()
    for site in ("ihchina", "guangdong", "guizhou"):
        for entity in _entities(manifest, site, faults=True):
            for k, pic in enumerate(entity["pictures"]):
                rid = f"{site}:{_entity_id(site, entity)}:{k}"
                if pic["kind"] in ("broken", "oversized") or entity["fault"] in ("redirect", "robots", "no_title"):
                    assert rid not in records
                    continue
                expected.add(rid)
                record = records[rid]
                served = (root / pic["path"]).read_bytes()
                stored = (out / record.image).read_bytes()
                assert stored == served  # original bytes, not re-encoded
                assert record.image.startswith("images/full/") and record.source["checksum"] == hashlib.sha256(served).hexdigest()
                assert record.title == entity["title"]
                assert bool(record.entity_description) == (entity["fault"] != "missing_fields")
                assert record.source["kind"] == "web" and record.source["spider"] == site
                assert record.source["image_url"].endswith(pic["path"]) and record.license
                if pic["caption"]:
                    assert (record.text, record.source["text_from"]) == (pic["caption"], "caption")
                elif pic["alt"] and pic["alt"] != entity["title"]:
                    assert (record.text, record.source["text_from"]) == (pic["alt"], "alt")
                else:
                    assert record.source["text_from"] == "description"
                    assert 0 < len(record.text) <= 30 and record.text in record.entity_description
                    assert not record.text.startswith("申报地区或单位")
    assert set(records) == expected
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(expected)
    source = json.loads((out / "source.json").read_text(encoding="utf-8"))
    assert source["kind"] == "web" and set(source["spiders"]) == {"ihchina", "guangdong", "guizhou"}
    assert source["records"] == len(expected)


def test_bad_images_are_kept_for_the_build_or_counted(crawled):
    manifest, out = crawled["manifest"], crawled["out"]
    kinds = Counter()
    for record in read_raw_records(out):
        site, eid, k = record.record_id.split(":")
        entity = next(e for e in manifest["sites"][site]["entities"] if _entity_id(site, e) == eid)
        kind = entity["pictures"][int(k)]["kind"]
        kinds[kind] += 1
        if kind == "truncated":  # stored as served: the build rejects it with `truncated_image`
            with pytest.raises(OSError):
                Image.open(out / record.image).load()
        elif kind == "tiny":
            assert Image.open(out / record.image).size == (80, 60)
    assert kinds["tiny"] == 1 and kinds["truncated"] == 1 and kinds["near_duplicate"] == 1
    stats = stats_of(out)["ihchina"]
    assert stats["emmel/error/image/not_an_image"] == 1  # the broken image
    assert stats["emmel/error/image/too_large"] == 1  # 7200x6400 header, refused before decoding
    assert stats["emmel/images/stored"] == sum(1 for r in read_raw_records(out) if r.record_id.startswith("ihchina:"))


def test_politeness_robots_redirect_and_backoff(crawled):
    hits, out = crawled["hits"], crawled["out"]
    statuses = Counter((h.key, h.status) for h in hits)
    keys = {h.key for h in hits}
    # robots.txt is read first and its disallow is respected
    assert hits[0].key == "robots.txt" or any(h.key == "robots.txt" for h in hits[:3])
    assert "ihchina/project_details/90003.html" not in keys
    # the off-domain redirect is not followed
    assert statuses[("ihchina/project_details/90002.html", 302)] == 1
    assert not any(h.key.startswith("elsewhere/") for h in hits) and not any(h.host.startswith("localhost") for h in hits)
    # 429, 429 then 200 on a list page; 503 then 200 on a detail page; 429 then 200 on an image
    page2 = "ihchina/getProject.html@category_id=16&limit=10&p=2"
    assert statuses[(page2, 429)] == 2 and statuses[(page2, 200)] == 1
    detail = crawled["manifest"]["sites"]["ihchina"]["entities"][1]["page"]
    assert statuses[(detail, 503)] == 1 and statuses[(detail, 200)] == 1
    image = crawled["manifest"]["sites"]["ihchina"]["entities"][2]["pictures"][0]["path"]
    assert statuses[(image, 429)] == 1 and statuses[(image, 200)] == 1
    # nothing fetched twice with success (robots.txt: once per spider, they run side by side)
    twice = {k: n for (k, status), n in statuses.items() if status == 200 and n > 1}
    assert twice == {"robots.txt": 3}
    stats = stats_of(out)
    ih = stats["ihchina"]
    assert ih["emmel/skipped/robots"] == 1 and ih["offsite/filtered"] == 1
    assert ih["emmel/backoff/429"] == 3 and ih["emmel/backoff/503"] == 1 and ih["retry/count"] == 4
    assert ih["emmel/dropped/missing_title"] == 1 and ih["item_dropped_count"] == 1
    assert ih["emmel/field/missing/category"] == 1
    assert stats["guangdong"]["emmel/encoding/gb18030_fallback"] == 1
    for name, s in stats.items():
        assert s["finish_reason"] == "finished", name


def test_summary_and_progress_are_printed(crawled):
    result = crawled["result"]
    assert "crawl summary" in result.stdout and "records (one per image)" in result.stdout
    assert "skipped by robots.txt" in result.stdout and "error/image/not_an_image" in result.stdout
    records = len((crawled["out"] / "records.jsonl").read_text(encoding="utf-8").splitlines())
    assert f"{records} records in records.jsonl" in result.stdout


def test_refuses_to_mix_crawls_and_bad_arguments(crawled, tmp_path):
    again = crawl("ihchina", "--start-url", "http://127.0.0.1:9/x", "--out", str(crawled["out"]))
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    bad = crawl("nosuchspider", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "unknown spider 'nosuchspider'" in bad.stderr
    two = crawl("ihchina", "guizhou", "--start-url", "http://127.0.0.1:9/", "--out", str(tmp_path / "o"))
    assert two.returncode == 2 and "SPIDER=URL" in two.stderr
    secret = crawl("--redis", "redis://:hunter2@127.0.0.1:6379/0", "--out", str(tmp_path / "o"))
    assert secret.returncode == 2 and "EMMEL_REDIS_URL" in secret.stderr
    nothing = crawl("--resume", "--out", str(tmp_path / "fresh"))
    assert nothing.returncode == 2 and "nothing to resume" in nothing.stderr


def test_start_url_max_pages_and_cache(mirror, tmp_path):
    """`--start-url` on one spider, `--max-pages 1`, then `--cache`: a re-run fetches nothing."""
    root, manifest = mirror
    out = tmp_path / "raw"
    with serve_mirror(root) as server:
        start = server.url + manifest["sites"]["ihchina"]["start"]
        first = crawl("ihchina", "--start-url", start, "--max-pages", "1", "--cache", "--out", str(out), *FAST)
        assert first.returncode == 0, first.stderr
        page2 = "ihchina/getProject.html@category_id=16&limit=10&p=2"
        assert server.count(page2) == 0  # --max-pages 1
        fetched = len(server.hits)
        records = read_jsonl(out / "records.jsonl")
        assert len(records) > 0 and {r["record_id"].split(":")[0] for r in records} == {"ihchina"}
        second = crawl("ihchina", "--start-url", start, "--max-pages", "1", "--cache", "--overwrite", "--out", str(out), *FAST)
        assert second.returncode == 0, second.stderr
        assert len(server.hits) == fetched  # every page and image came from the HTTP cache
        assert stats_of(out)["ihchina"]["httpcache/hit"] > 0
    again = read_jsonl(out / "records.jsonl")
    for record in records + again:
        record["source"].pop("crawled_at")
    assert again == records  # same pages in, same records out (crawl time aside)


def test_resume_after_interrupt_fetches_nothing_twice(tmp_path):
    root = tmp_path / "mirror"
    manifest = generate_mirror(root, MirrorConfig(seed=5, ihchina=14, guangdong=0, guizhou=0, images_min=1,
                                                  images_max=2, size_min=200, size_max=240, bad_images=False))
    out = tmp_path / "raw"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with serve_mirror(root, latency=0.03) as server:
        cmd = [sys.executable, "-m", "emmel", "crawl", "ihchina", "--mirror", server.url, "--out", str(out),
               "--no-throttle", "--concurrency", "1", "--delay", "0.05", "--no-progress"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while sum(1 for k in server.keys(200) if "project_details" in k) < 4:
            assert proc.poll() is None and time.monotonic() < deadline, "crawl ended before it could be interrupted"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # like Ctrl-C: Scrapy shuts down gracefully and saves its job
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stdout + stderr
        assert "--resume" in stderr
        partial = read_jsonl(out / "records.jsonl")
        done = {h.key for h in server.hits if "project_details" in h.key}
        assert 0 < len(done) < 14 and stats_of(out)["ihchina"]["finish_reason"] == "shutdown"
        resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        fetched = Counter(h.key for h in server.hits if h.status == 200 and h.key != "robots.txt")
    assert [k for k, n in fetched.items() if n > 1] == []  # no page or image fetched twice
    final = read_jsonl(out / "records.jsonl")
    expected = {f"ihchina:{e['id']}:{k}" for e in manifest["sites"]["ihchina"]["entities"] for k in range(len(e["pictures"]))}
    assert {r["record_id"] for r in final} == expected
    assert {r["record_id"] for r in partial} < expected
    items = read_jsonl(out / "items" / "ihchina.jsonl")  # the feed was appended, not overwritten
    assert sorted(i["entity_id"] for i in items) == sorted(e["id"] for e in manifest["sites"]["ihchina"]["entities"])
