"""Speed of the lexical baseline (BM25 over character n-grams) on a whole KB the size of EMMEL-scale KBs.

    PYTHONPATH=. python bench/lexical_speed.py                 # 110,000 entities, 1,000 queries, top-100
    PYTHONPATH=. python bench/lexical_speed.py --entities 20000 --queries 200

The KB is generated: labels like real ICH labels (a 2–6 character base name drawn from a
Zipf-weighted pool of 3,500 common CJK characters, half of them with a bracketed place qualifier,
a third with one alias); queries are 12–40 character descriptions, half of which contain the label
of a random entity. Prints the index build time, whole-KB top-k retrieval (queries/s, and the
share of queries whose named entity is in its shortlist) and scoring of λ = 100 stored candidates.
The functions timed are the ones `emmel benchmark --models lexical` and a retrieve-and-rerank
shortlist call.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLACES = ["蔚县", "扬州", "湘西", "延边", "大理", "泉州", "雷山", "黔东南", "凉山", "喀什", "日喀则", "临夏", "红河", "德宏", "恩施", "阿坝"]


def make_kb(n: int, rng: random.Random):
    from emmel.schema import Entity

    pool = [chr(0x4E00 + i) for i in rng.sample(range(0x9FA5 - 0x4E00), 3500)]
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    def word(lo: int, hi: int) -> str:
        return "".join(rng.choices(pool, weights, k=rng.randint(lo, hi)))

    entities = []
    for i in range(n):
        base = word(2, 6)
        label = f"{base}({rng.choice(PLACES)}{base[:2]})" if rng.random() < 0.5 else base
        aliases = [word(2, 5)] if rng.random() < 1 / 3 else []
        entities.append(Entity(f"E{i:07d}", label, aliases=aliases))
    return entities, pool, weights


def make_queries(entities, pool, weights, n: int, rng: random.Random) -> tuple[list[str], list[int]]:
    texts, named = [], []
    for _ in range(n):
        filler = "".join(rng.choices(pool, weights, k=rng.randint(12, 30)))
        if rng.random() < 0.5:
            target = rng.randrange(len(entities))
            cut = rng.randrange(len(filler) + 1)
            texts.append(filler[:cut] + entities[target].label + filler[cut:])
            named.append(target)
        else:
            texts.append(filler)
            named.append(-1)
    return texts, named


def main(argv: list[str] | None = None) -> int:
    from baseline.lexical import BM25Index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=110_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("-k", type=int, default=100, help="shortlist size")
    parser.add_argument("--candidates", type=int, default=100, help="λ of the stored-candidate protocol")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    entities, pool, weights = make_kb(args.entities, rng)
    texts, named = make_queries(entities, pool, weights, args.queries, rng)

    with timed() as build:
        index = BM25Index.from_entities(entities)
    print(f"KB {len(index):,} entities, {len(index.vocab):,} distinct n-grams, {len(index.weight):,} postings; "
          f"index built in {build}")

    with timed(len(texts)) as took:
        _, positions = index.top_k(texts, args.k)
    hits = [target in row for target, row in zip(named, positions.tolist()) if target >= 0]
    print(f"top-{args.k} over the whole KB, {len(texts):,} queries: {took}; the named entity is in the shortlist for "
          f"{100 * sum(hits) / max(1, len(hits)):.1f} % of the {len(hits)} queries that name one")

    cands = torch.randint(0, len(entities), (len(texts), args.candidates))
    with timed(len(texts)) as took:
        index.scores(texts, cands)
    print(f"λ = {args.candidates} stored candidates, {len(texts):,} queries: {took}")
    return 0


class timed:
    """Wall and CPU seconds of a block (CPU time is what a busy shared machine does not inflate)."""

    def __init__(self, queries: int = 0):
        self.queries = queries

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        rate = f" = {self.queries / self.cpu:,.0f} queries/s of CPU ({1000 * self.cpu / self.queries:.1f} ms each)" if self.queries else ""
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU{rate}"


if __name__ == "__main__":
    sys.exit(main())
