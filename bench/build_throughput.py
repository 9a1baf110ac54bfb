"""Benchmark of the build's hot paths (a benchmark, not a test): prints figures.

1. images/s of the per-image path (read, decode, checks, sha256, pHash) on one core, 512-px JPEGs;
2. time of near-duplicate search over n random 64-bit hashes at Hamming radius 8, for growing n,
   so the growth of cost is visible (targets: >= 150 images/s; 1M hashes < 60 s; ~linear growth).

    python bench/build_throughput.py [--images 600] [--sizes 10000,100000,1000000] [--radius 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def make_jpegs(folder: Path, count: int) -> list[Path]:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    paths = []
    for k in range(count):
        image = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((512, 384), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(20):
            x, y, r = int(rng.integers(0, 512)), int(rng.integers(0, 384)), int(rng.integers(10, 80))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        path = folder / f"{k:05d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def bench_images(count: int) -> None:
    from emmel.config import CleanConfig
    from emmel.images import inspect_image, read_image_file

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), count)
        clean = CleanConfig()
        inspect_image(read_image_file(paths[0]), clean)  # warm up
        start = time.perf_counter()
        for path in paths:
            inspect_image(read_image_file(path), clean)
        seconds = time.perf_counter() - start
    print(f"per-image path (read+decode+checks+sha256+pHash), 512x384 JPEG, 1 core: {count / seconds:,.0f} images/s "
          f"({1000 * seconds / count:.2f} ms/image; target >= 150)")


def bench_hashes(sizes: list[int], radius: int) -> None:
    from emmel.dedup import near_duplicate_clusters, near_duplicate_pairs

    rng = np.random.default_rng(1)
    previous = None
    print(f"\nnear-duplicate search, random 64-bit hashes, Hamming radius <= {radius} (multi-index hashing):")
    print(f"{'n':>10} {'seconds':>9} {'pairs':>7} {'x time vs previous n':>22}")
    for n in sizes:
        hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
        start = time.perf_counter()
        pairs = near_duplicate_pairs(hashes, radius)
        seconds = time.perf_counter() - start
        growth = f"{seconds / previous[1]:.1f}x for {n / previous[0]:.0f}x n" if previous else ""
        print(f"{n:>10,} {seconds:>9.2f} {len(pairs):>7} {growth:>22}")
        previous = (n, seconds)
    hashes = rng.integers(0, 2**64 - 1, size=10_000, dtype=np.uint64, endpoint=True)
    hashes[5000:5100] = hashes[:100] ^ np.uint64(0b1011)  # 100 planted near-duplicates (3 bits)
    labels = near_duplicate_clusters(hashes, radius)
    print(f"planted check: {sum(labels[5000 + i] == i for i in range(100))}/100 planted near-duplicates found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--radius", type=int, default=8)
    args = parser.parse_args()
    bench_images(args.images)
    bench_hashes([int(s) for s in args.sizes.split(",")], args.radius)


if __name__ == "__main__":
    main()
