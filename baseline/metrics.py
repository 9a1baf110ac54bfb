"""Ranking metrics from a score matrix (pure functions).

The rank of the gold is ``1 + #(candidates scoring higher) + #(equal scores listed before it)``:
ties are broken by list position, like a stable descending sort (candidate order is a seeded
shuffle, so position carries no signal). Padding entries score ``-inf`` and never outrank a gold.
An imported candidate list may lack its gold (``gold_pos`` -1): that query ranks ``MISS``.
"""

from __future__ import annotations

import torch

MISS = torch.iinfo(torch.int64).max  # rank of a gold absent from its candidate list: outside every Top-k, 1/rank ≈ 0


def gold_ranks(scores: torch.Tensor, gold_pos: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``scores[i, gold_pos[i]]`` within row i; ``MISS`` where ``gold_pos[i]`` is -1."""
    scores = scores.float()
    present = gold_pos >= 0
    gold = scores.gather(1, gold_pos.clamp(min=0).view(-1, 1))
    index = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)
    before = (scores == gold) & (index < gold_pos.view(-1, 1))
    ranks = 1 + (scores > gold).sum(1) + before.sum(1)
    return torch.where(present, ranks, torch.full_like(ranks, MISS))


def top_k(ranks: torch.Tensor, ks=(1, 5, 10)) -> dict[str, float]:
    """Top-k accuracy in percent: the share of queries whose gold ranks within k."""
    return {f"top{k}": round(100.0 * float((ranks <= k).float().mean()), 2) for k in ks}


def hits_mrr(ranks: torch.Tensor, ks=(1, 3, 5, 10, 20)) -> dict[str, float]:
    """H@k (percent), MR (mean rank) and MRR (percent) over the whole KB: the MIMIC protocol's columns."""
    out = {f"h{k}": round(100.0 * float((ranks <= k).float().mean()), 2) for k in ks}
    out["mr"] = round(float(ranks.double().mean()), 2)
    out["mrr"] = round(100.0 * float((1.0 / ranks.double()).mean()), 2)
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1; 0 for one value) of a metric over runs, rounded like the metrics."""
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return round(mean, 2), round(var ** 0.5, 2)
