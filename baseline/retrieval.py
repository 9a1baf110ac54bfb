"""Whole-KB ranking at real size (MIMIC's protocol): retrieve a shortlist, rerank it with the model.

Every test query is ranked against every KB entity (H@1/3/5/10/20, MR, MRR). Scoring all E pairs
with the cross-encoder is what retrieve-and-rerank entity linkers avoid, and so does emmel:

- **Bi-encoder models** (the CLIP rows and MCR's visual-text module alone) rank the whole KB
  exactly. The KB's label embeddings are computed once (``E×D``); each chunk of queries is
  multiplied against them with at most ``EvalBatches.chunk_pairs`` cosines alive, and only each
  query's top K and its gold's rank are kept (:func:`visual_retrieval`).
- **Models with the cross-encoder** score a shortlist only: the union of the top K of the lexical
  retriever (BM25 over entity names, :mod:`baseline.lexical`; its query is the mention where the
  sample has one, else the text) and the top K of the model's own visual-text bi-encoder, if it has
  one (``text-only`` has none: lexical alone). The shortlist is ranked by the model's score (fused
  over the shortlist exactly as over a candidate list); the entities outside it follow in the order
  of the **first-stage score** (the model's visual cosine; BM25 for ``text-only``).

**A gold outside the shortlist** therefore ranks ``|S| + r``, r being its rank among the entities
left out, by the first-stage score: the complete ranking the system produces, so MR and MRR are
over all E entities and nothing is credited that the model did not rank. H@k for k ≤ K does not
depend on this convention (such a gold is never in the top K); counting it as a miss instead would
change the MRR by less than 1/(K+1) per such query. The share of golds inside the shortlist
(``shortlist_recall``) bounds H@k from above and is reported beside it.

A KB of at most 2K entities is shortlisted whole: every pair is scored, the ranking is exact.
Ties are broken by KB position everywhere (a stable sort: KB order is sorted ids, random with
respect to the query).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baseline.metrics import gold_ranks
from baseline.scoring import query_chunks


@dataclass
class Retrieved:
    """One first stage's view of Q queries: their top K and the gold's exact rank among all E entities."""

    positions: torch.Tensor  # Q×K KB positions, best first (-1 pads rows with fewer matches)
    gold_score: torch.Tensor | None = None  # Q: the gold's first-stage score
    gold_rank: torch.Tensor | None = None  # Q: 1 + entities scoring above the gold (ties: lower KB position first)
    embeddings: torch.Tensor | None = None  # Q×D query embeddings of a bi-encoder (reused to score the shortlist)


@dataclass
class KBRanking:
    """A model's ranking of Q queries against the whole KB (see the module docstring)."""

    shortlist: torch.Tensor  # Q×S KB positions the model scored, in KB order (-1 pads)
    scores: object  # baseline.model.ModuleScores over the shortlist (fused + each module)
    ranks: torch.Tensor | None  # Q: the gold's 1-based rank among all E entities (None without golds)
    in_shortlist: torch.Tensor | None  # Q bool: the gold was scored by the model
    exact: bool  # every entity was scored (bi-encoder models, small KBs)
    first_stage: str  # what orders the entities outside the shortlist ("" when exact)

    def top(self, k: int) -> torch.Tensor:
        """Q×k KB positions, best first (-1 where the shortlist is shorter)."""
        columns, positions = self.scores.top(k)
        return torch.where(self.scores.fused.gather(1, columns) > float("-inf"), positions, torch.full_like(positions, -1))

    def summary(self) -> dict:
        """What the report says about the protocol of this ranking."""
        sizes = (self.shortlist >= 0).sum(1).float()
        out = {"exact": self.exact, "first_stage": self.first_stage, "shortlist_mean": round(float(sizes.mean()), 1) if len(sizes) else 0.0}
        if self.in_shortlist is not None:
            out["shortlist_recall"] = round(100.0 * float(self.in_shortlist.float().mean()), 2) if len(self.in_shortlist) else 0.0
        return out


def exact_ranks(scores: torch.Tensor, gold: torch.Tensor, columns: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gold score, 1-based rank)`` per row of ``Q×E`` scores against golds ``gold`` (KB positions):
    1 + entities scoring higher + equal ones at a lower position (``columns``: the KB positions of the columns)."""
    g = scores.gather(1, gold.view(-1, 1))
    index = torch.arange(scores.shape[1]).view(1, -1) if columns is None else columns
    above = (scores > g) | ((scores == g) & (index < gold.view(-1, 1)))
    return g.view(-1), 1 + above.sum(1)


def top_positions(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Q×k column indices of the k highest scores per row, best first, ties by lower column (also at the k-th place)."""
    k = min(k, scores.shape[1])
    if k == 0:
        return torch.zeros((len(scores), 0), dtype=torch.long)
    kth = scores.topk(k, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    wanted = k - above.sum(1, keepdim=True)  # how many of the tied ones make the top k: the first in column order
    chosen = above | (tied & (tied.cumsum(1) <= wanted))
    columns = chosen.nonzero()[:, 1].view(len(scores), k)  # exactly k per row, in column order
    order = torch.argsort(scores.gather(1, columns), dim=1, descending=True, stable=True)
    return columns.gather(1, order)


@torch.no_grad()
def visual_retrieval(scorer, queries, k: int, gold: torch.Tensor | None, rt, batches) -> Retrieved:
    """Top k of a bi-encoder over the whole KB and the gold's exact rank, one chunk of queries at a time."""
    images = scorer.query_embeddings(queries, rt, batches)
    kb = scorer.kb_matrix(rt, batches)
    tops, scores, ranks = [], [], []
    for start, stop in query_chunks(len(images), len(kb), batches.chunk_pairs):
        cosines = (images[start:stop].float() @ kb.float().T).cpu()
        tops.append(top_positions(cosines, k))
        if gold is not None:
            g, r = exact_ranks(cosines, gold[start:stop])
            scores.append(g)
            ranks.append(r)
    if gold is None:
        return Retrieved(_cat(tops, (0, k), torch.long), embeddings=images)
    return Retrieved(_cat(tops, (0, k), torch.long), _cat(scores, (0,), torch.float32), _cat(ranks, (0,), torch.long), images)


def _cat(parts: list[torch.Tensor], empty: tuple, dtype) -> torch.Tensor:
    return torch.cat(parts) if parts else torch.zeros(empty, dtype=dtype)


def lexical_queries(queries) -> list[str]:
    """What the lexical retriever looks up: each query's mention where it has one, else its text."""
    texts = queries.texts or []
    mentions = queries.mentions or [""] * len(texts)
    return [m if m else t for m, t in zip(mentions, texts)]


def lexical_retrieval(index, texts: list[str], k: int, gold: torch.Tensor | None, budget: int, *, matches_only: bool = True) -> Retrieved:
    """Top k of BM25 and the gold's exact rank, entities of equal score (0 included) in KB order; at most
    ``budget`` scores are held at once. ``matches_only``: an entity sharing no term with the query is never
    retrieved (a shortlist); without, the top k are simply the first k of the ranking."""
    step = max(1, budget // max(1, len(index)))
    tops, scores, ranks = [], [], []
    for start in range(0, len(texts), step):
        block = index.scores(texts[start : start + step])  # chunk×E float32
        top = top_positions(block, k)
        tops.append(torch.where(block.gather(1, top) > 0, top, torch.full_like(top, -1)) if matches_only else top)
        if gold is not None:
            g, r = exact_ranks(block, gold[start : start + step])
            scores.append(g)
            ranks.append(r)
    positions = _cat(tops, (0, k), torch.long)
    if gold is None:
        return Retrieved(positions)
    return Retrieved(positions, _cat(scores, (0,), torch.float32), _cat(ranks, (0,), torch.long))


def union_rows(parts: list[torch.Tensor]) -> torch.Tensor:
    """Per row, the distinct KB positions of ``parts`` (each Q×K_i, -1 pads), in KB order, padded with -1."""
    stacked = torch.cat(parts, dim=1)
    ordered = torch.sort(stacked, dim=1).values  # -1 first, then ascending
    fresh = torch.ones_like(ordered, dtype=torch.bool)
    fresh[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    fresh &= ordered >= 0
    width = max(1, int(fresh.sum(1).max())) if len(ordered) else 1
    out = torch.full((len(ordered), width), -1, dtype=torch.long)
    for row in range(len(ordered)):  # Q rows of ≤ 2K: cheap
        kept = ordered[row][fresh[row]]
        out[row, : len(kept)] = kept
    return out


def complete_ranks(fused: torch.Tensor, shortlist: torch.Tensor, gold: torch.Tensor, first: Retrieved,
                   first_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ranks, in_shortlist)``: the gold's rank in the complete ranking, the shortlist by ``fused`` first,
    then the rest of the KB by the first-stage score (``first_scores``: that score on the shortlist)."""
    column = torch.where(shortlist == gold.view(-1, 1), torch.arange(shortlist.shape[1]).view(1, -1), shortlist.shape[1])
    column = column.min(1).values
    inside = column < shortlist.shape[1]
    inner = gold_ranks(fused, column.clamp(max=shortlist.shape[1] - 1))  # rows without the gold take `outer` below
    valid = shortlist >= 0
    g = first.gold_score.view(-1, 1).to(first_scores.dtype)
    ahead = valid & ((first_scores > g) | ((first_scores == g) & (shortlist < gold.view(-1, 1))))
    outer = valid.sum(1) + first.gold_rank - ahead.sum(1)  # |S| + rank among the entities left out
    return torch.where(inside, inner, outer), inside
