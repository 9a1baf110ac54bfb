"""Whole-KB ranking (baseline/retrieval.py, MCRModel.rank_kb): the shortlist convention by hand and against
a brute-force complete ranking, exact bi-encoder ranks, BM25 ranks with zero-score golds, and the model end to end."""

from __future__ import annotations

import random

import pytest
import torch

from baseline.metrics import hits_mrr
from baseline.retrieval import Retrieved, complete_ranks, exact_ranks, lexical_retrieval, top_positions, union_rows

INF = float("-inf")


def test_gold_outside_the_shortlist_ranks_after_it_by_the_first_stage_score():
    """Hand-computed: KB of 8 entities, query 0's shortlist {1, 4, 6}, gold 2 outside it.

    First-stage scores over the KB:  e0 .9  e1 .8  e2 .5  e3 .7  e4 .1  e5 .5  e6 .95  e7 .2
    The gold (e2, .5) is beaten among the entities left out {0, 2, 3, 5, 7} by e0 (.9) and e3 (.7);
    e5 ties at .5 but sits after it in KB order. So it ranks 3 among them, after the 3 of the
    shortlist: rank 6 (the miss convention would say ∞; rank K+1 would say 4).
    Query 1: gold 4 inside its shortlist {1, 4, 6}, second by the fused score: rank 2.
    """
    first_all = torch.tensor([[.9, .8, .5, .7, .1, .5, .95, .2], [.9, .8, .5, .7, .1, .5, .95, .2]])
    gold = torch.tensor([2, 4])
    g, rank = exact_ranks(first_all, gold)
    assert rank.tolist() == [5, 8] and g.tolist() == pytest.approx([.5, .1])  # e6, e0, e1, e3 beat e2; all seven others beat e4
    shortlist = torch.tensor([[1, 4, 6], [1, 4, 6]])
    fused = torch.tensor([[.2, .3, .5], [.9, .6, .1]])
    first = Retrieved(torch.tensor([[6, 0], [6, 0]]), g, rank)
    ranks, inside = complete_ranks(fused, shortlist, gold, first, first_all.gather(1, shortlist))
    assert ranks.tolist() == [6, 2] and inside.tolist() == [False, True]
    metrics = hits_mrr(ranks)
    assert metrics["h1"] == 0.0 and metrics["h3"] == 50.0 and metrics["mr"] == 4.0
    assert metrics["mrr"] == pytest.approx(100 * (1 / 6 + 1 / 2) / 2, abs=0.01)


def _brute_force(fused_row, shortlist_row, first_row, gold) -> int:
    """The complete ranking written out: the shortlist by fused score (ties: KB order), then every other entity
    by the first-stage score (ties: KB order); the gold's 1-based position in it."""
    members = [int(e) for e in shortlist_row if e >= 0]
    scored = {e: float(fused_row[j]) for j, e in enumerate(shortlist_row.tolist()) if e >= 0}
    head = sorted(members, key=lambda e: (-scored[e], e))
    tail = sorted((e for e in range(len(first_row)) if e not in scored), key=lambda e: (-float(first_row[e]), e))
    return (head + tail).index(gold) + 1


@pytest.mark.parametrize("seed", range(5))
def test_complete_ranks_equal_the_written_out_ranking(seed):
    rng = random.Random(seed)
    torch.manual_seed(seed)
    q, e = 12, 40
    first_all = torch.randint(0, 6, (q, e)).float() / 5  # few distinct values: many ties
    gold = torch.randint(0, e, (q,))
    rows = [sorted(rng.sample(range(e), rng.randint(1, 9))) for _ in range(q)]
    for i in range(0, q, 3):  # a third of the queries have their gold in the shortlist
        rows[i] = sorted({*rows[i], int(gold[i])})
    shortlist = torch.full((q, max(map(len, rows))), -1)
    for i, r in enumerate(rows):
        shortlist[i, : len(r)] = torch.tensor(r)
    fused = torch.where(shortlist >= 0, torch.randint(0, 4, shortlist.shape).float(), torch.full(shortlist.shape, INF))
    g, rank = exact_ranks(first_all, gold)
    picked = torch.where(shortlist >= 0, first_all.gather(1, shortlist.clamp(min=0)), torch.full(shortlist.shape, INF))
    ranks, inside = complete_ranks(fused, shortlist, gold, Retrieved(shortlist, g, rank), picked)
    for i in range(q):
        assert int(ranks[i]) == _brute_force(fused[i], shortlist[i], first_all[i], int(gold[i])), i
        assert bool(inside[i]) == (int(gold[i]) in rows[i])


def test_top_positions_and_union_keep_kb_order_on_ties():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_positions(scores, 3).tolist() == [[1, 2, 4], [0, 1, 2]]
    merged = union_rows([torch.tensor([[4, 1, -1], [2, -1, -1]]), torch.tensor([[1, 3], [-1, -1]])])
    assert merged.tolist() == [[1, 3, 4], [2, -1, -1]]


def test_bm25_ranks_count_zero_score_entities_in_kb_order():
    from baseline.lexical import BM25Index
    from emmel.schema import Entity

    labels = ["Barack Obama", "Michelle Obama", "Detroit Lions", "Ada Lovelace", "Lions (band)", "Marie Curie"]
    index = BM25Index.from_entities([Entity(id=f"E{i}", label=label) for i, label in enumerate(labels)])
    texts = ["Obama", "Obama", "qqq", "Lions"]
    gold = torch.tensor([1, 3, 4, 2])
    found = lexical_retrieval(index, texts, 2, gold, budget=12)  # 2 queries per chunk: the chunking is exercised too
    full = index.scores(texts)
    for i, text in enumerate(texts):
        order = sorted(range(len(labels)), key=lambda e: (-float(full[i, e]), e))
        assert int(found.gold_rank[i]) == order.index(int(gold[i])) + 1, text
        kept = [e for e in order[:2] if full[i, e] > 0]
        assert found.positions[i].tolist() == kept + [-1] * (2 - len(kept))
    assert found.gold_rank[2] == 5  # "qqq" matches nothing: every entity scores 0, gold 4 comes fifth in KB order


@pytest.fixture(scope="module")
def synth_models(tmp_path_factory):
    """The synthetic dataset's MCR, text-only and image-only models after one quick training run."""
    from baseline.benchmark import Benchmark
    from baseline.config import BenchmarkConfig
    from tests.synth.learnable import LearnableConfig, write_learnable

    root = tmp_path_factory.mktemp("rank kb")
    small = LearnableConfig(crafts=3, places=3, train_per_entity=4, dev_per_entity=2, test_per_entity=4, candidates=6)
    folder = write_learnable(root / "EMMEL-synth", small, plots=False)
    run = Benchmark(BenchmarkConfig(dataset=str(folder), models=["image-only", "text-only", "mcr"], out=str(root / "out"),
                                    progress=False, threads=1, train={"epochs": 1}), log=lambda line: None)
    run.train()
    run.evaluate()
    return run


def test_rank_kb_reranks_a_shortlist_and_ranks_the_rest_by_the_first_stage(synth_models):
    from baseline.scorers import Queries

    run = synth_models
    queries, gold = run.queries["test"], run.splits["test"].gold
    full_visual = run.models["mcr"].score_modules(queries, None, slots=["visual"])["visual"]
    for name, k in (("mcr", 3), ("text-only", 3), ("image-only", 3)):
        model = run.models[name]
        model.config.shortlist = k  # 36 entities > 2k: the retrieve-and-rerank path
        ranking = model.rank_kb(queries, gold)
        assert ((ranking.ranks >= 1) & (ranking.ranks <= len(run.kb))).all() and len(run.kb) > 2 * k
        if name == "image-only":  # a bi-encoder: exact over the whole KB
            assert ranking.exact and torch.equal(ranking.ranks, exact_ranks(full_visual, gold)[1])
            continue
        assert not ranking.exact and (ranking.shortlist >= 0).sum(1).max() <= 2 * k
        assert not ranking.in_shortlist.all() or name == "mcr"  # some golds are left out: the tail convention is exercised
        first = full_visual if name == "mcr" else model.retriever.scores(queries.texts)
        for i in range(len(gold)):
            fused = ranking.scores.fused[i]
            assert int(ranking.ranks[i]) == _brute_force(fused, ranking.shortlist[i], first[i], int(gold[i]))
        model.config.shortlist = len(run.kb)  # a KB of at most 2K entities: every pair, exact
        exact = model.rank_kb(queries, gold)
        full = model.score_queries(queries, torch.arange(len(run.kb)).expand(len(gold), -1))
        assert exact.exact and torch.equal(exact.ranks, exact_ranks(full.fused, gold)[1])
    assert isinstance(queries, Queries)


def test_link_lists_the_reranked_shortlist(synth_models):
    model = synth_models.models["mcr"]
    model.config.shortlist = 3
    sample = synth_models.splits["test"]
    rows = model.link(sample.image_paths[0], sample.texts[0], k=3)
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert {"text_score", "visual_score"} <= set(rows[0])


def test_indexed_pools_follow_the_builds_precedence_without_e_squared():
    """Large KBs get pools from the build's candidate index: same base name first, then the most similar labels;
    never the entity itself, rows always full, the same for the same seed."""
    from baseline.negatives import EXACT_LIMIT, hard_pools, indexed_pools

    labels = ["剪纸", "剪纸(蔚县剪纸)", "剪纸(扬州剪纸)", "皮影戏", "皮影戏(华县皮影戏)", "木雕", "龙舞", "龙舞(铜梁龙舞)", "泼水节", "火把节"]
    categories = ["美术", "美术", "美术", "戏剧", "戏剧", "美术", "舞蹈", "舞蹈", "民俗", "民俗"]
    pools = indexed_pools(labels, categories, 4, seed=3)
    assert pools.shape == (10, 4) and not (pools == torch.arange(10).view(-1, 1)).any()
    assert set(pools[0, :2].tolist()) == {1, 2} and pools[3, 0] == 4 and pools[7, 0] == 6  # siblings by base name lead
    assert all(len(set(row.tolist())) == 4 for row in pools)  # distinct, filled by category and seeded draws
    assert torch.equal(pools, indexed_pools(labels, categories, 4, seed=3))
    exact = hard_pools(labels, categories, 4, seed=3)  # below EXACT_LIMIT: the exact pools, same leaders
    assert set(exact[0, :2].tolist()) == {1, 2} and exact[3, 0] == 4 and len(labels) <= EXACT_LIMIT
