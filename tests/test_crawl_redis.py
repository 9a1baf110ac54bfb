"""Scale-out switch: the Redis-backed scheduler and dupefilter (scrapy-redis) against a real
redis-server that this test starts on 127.0.0.1 (free port, temp dir). Skipped locally when
redis-server is absent; with CI=true a missing redis-server fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from crawlers.mirror_server import serve_mirror
from tests.helpers import free_port, run_emmel
from tests.synth.mirror import MirrorConfig, generate_mirror

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.redis




@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed (apt-get install redis-server); CI must run this test")
        pytest.skip("redis-server not installed")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _crawl(*args, env_extra=None):
    return run_emmel("crawl", *args, "--no-throttle", "--no-progress", cwd=ROOT, env=env_extra, timeout=120)


def test_redis_scheduler_and_shared_dupefilter(redis_url, tmp_path):
    import redis

    root = tmp_path / "mirror"
    manifest = generate_mirror(root, MirrorConfig(seed=3, ihchina=6, guangdong=3, guizhou=2, images_min=1, images_max=2,
                                                  size_min=200, size_max=240, provincial_page_size=2, bad_images=False))
    client = redis.Redis.from_url(redis_url)
    with serve_mirror(root) as server:
        first = _crawl("--mirror", server.url, "--out", str(tmp_path / "worker1"), "--redis", redis_url)
        assert first.returncode == 0, first.stdout + first.stderr
        stats = json.loads((tmp_path / "worker1" / ".emmel-crawl" / "stats.json").read_text(encoding="utf-8"))
        for site in ("ihchina", "guangdong", "guizhou"):
            s = stats[site]
            assert s["scheduler/enqueued/redis"] == s["scheduler/dequeued/redis"] > 0
            assert "scheduler/enqueued/disk" not in s  # no JOBDIR: Redis holds the job
            assert s["item_scraped_count"] == len(manifest["sites"][site]["entities"])
            # every page request went through the shared seen-set in Redis (JSON queue, no pickle)
            assert client.scard(f"emmel:{site}:dupefilter") == s["scheduler/enqueued/redis"]
        assert client.llen("emmel:ihchina:requests") == 0 and client.zcard("emmel:ihchina:requests") == 0
        records = (tmp_path / "worker1" / "records.jsonl").read_text(encoding="utf-8").splitlines()
        expected = sum(len(e["pictures"]) for s in manifest["sites"].values() for e in s["entities"])
        assert len(records) == expected
        # A second worker joining the same job (--resume: no flush) finds every page already seen.
        before = len(server.hits)
        second = _crawl("--mirror", server.url, "--out", str(tmp_path / "worker2"), "--resume",
                        env_extra={"EMMEL_REDIS_URL": redis_url})
        assert second.returncode == 0, second.stdout + second.stderr
        fetched = [h.key for h in server.hits[before:] if h.key != "robots.txt"]
        assert fetched == []
        assert (tmp_path / "worker2" / "records.jsonl").read_text(encoding="utf-8") == ""
        # A fresh crawl (no --resume) flushes the job and fetches everything again.
        third = _crawl("ihchina", "--mirror", server.url, "--out", str(tmp_path / "worker3"), "--redis", redis_url)
        assert third.returncode == 0, third.stdout + third.stderr
        again = {h.key for h in server.hits if h.key.startswith("ihchina/project_details/")}
        assert len(again) == len(manifest["sites"]["ihchina"]["entities"])
        assert all(server.count(k, 200) == 2 for k in again)
