"""Crawl throughput against a local mirror with throttling off (target: >= 30 pages/s).

Generates a larger mirror than the bundled one (every spider, ~300 entities, small images) in a
temp dir, serves it on 127.0.0.1, runs `python -m emmel crawl --no-throttle` in a fresh process and
prints pages/s, items/s and images/s from the crawl's own stats (Scrapy start-up excluded: the
rates use the spiders' start_time..finish_time). Politeness settings, not code, limit real crawls:
run it once more with --polite to see the default settings' rate against the same mirror.

    PYTHONPATH=. python bench/crawl_throughput.py [--entities 100] [--polite]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawlers.mirror_server import serve_mirror  # noqa: E402
from tests.synth.mirror import MirrorConfig, generate_mirror  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=100, help="entities per site (default 100)")
    parser.add_argument("--polite", action="store_true", help="default politeness settings instead of --no-throttle")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emmel-bench-") as tmp:
        t0 = time.monotonic()
        config = MirrorConfig(seed=1, ihchina=args.entities, guangdong=min(args.entities, 150), guizhou=min(args.entities, 150),
                              images_min=1, images_max=2, size_min=256, size_max=300, provincial_page_size=10, bad_images=False)
        manifest = generate_mirror(Path(tmp) / "mirror", config)
        entities = sum(len(s["entities"]) for s in manifest["sites"].values())
        print(f"mirror: {entities} entities generated in {time.monotonic() - t0:.1f} s")
        out = Path(tmp) / "raw"
        with serve_mirror(Path(tmp) / "mirror") as server:
            cmd = [sys.executable, "-m", "emmel", "crawl", "--mirror", server.url, "--out", str(out), "--no-progress"]
            if not args.polite:
                cmd.append("--no-throttle")
            wall = time.monotonic()
            result = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
            wall = time.monotonic() - wall
        if result.returncode != 0:
            print(result.stdout, result.stderr, file=sys.stderr)
            return 1
        stats = json.loads((out / ".emmel-crawl" / "stats.json").read_text(encoding="utf-8"))
    start = min(datetime.fromisoformat(s["start_time"]) for s in stats.values())
    finish = max(datetime.fromisoformat(s["finish_time"]) for s in stats.values())
    seconds = (finish - start).total_seconds()
    pages = sum(s.get("emmel/pages/list", 0) + s.get("emmel/pages/detail", 0) for s in stats.values())
    items = sum(s.get("item_scraped_count", 0) for s in stats.values())
    images = sum(s.get("emmel/images/stored", 0) for s in stats.values())
    mode = "polite defaults" if args.polite else "throttle off"
    print(f"crawl ({mode}): {pages} pages, {items} items, {images} images in {seconds:.2f} s "
          f"(process wall time {wall:.2f} s, incl. start-up)")
    print(f"pages/s:  {pages / seconds:.1f}" + ("   (target >= 30)" if not args.polite else ""))
    print(f"items/s:  {items / seconds:.1f}")
    print(f"images/s: {images / seconds:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
