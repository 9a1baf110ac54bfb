"""Per-query predictions of a benchmark run (``predictions/<model>.jsonl``, format: :mod:`emmel.predictions`).

Built from the very score matrices the table's metrics come from (:class:`baseline.model.ModuleScores`),
with the gold's rank from the same :meth:`ModuleScores.ranks`, so Top-k and MRR recomputed from the
files equal the table's.
"""

from __future__ import annotations

import torch

from emmel.predictions import TOP, Prediction, Ranked, rounded


def predictions(scores, gold_columns: torch.Tensor, sample_ids: list[str], gold_ids: list[str], kb_ids: list[str],
                top: int = TOP) -> list[Prediction]:
    """One :class:`Prediction` per query of ``scores`` (a ``ModuleScores`` over the stored candidate lists);
    ``gold_columns[i]`` is the gold's column in row i (-1: not among the row's candidates, ``gold_rank`` null)."""
    return _predictions(scores, scores.ranks(gold_columns), sample_ids, gold_ids, kb_ids, "candidates", top, complete=False)


def kb_predictions(ranking, sample_ids: list[str], gold_ids: list[str], kb_ids: list[str], top: int = TOP) -> list[Prediction]:
    """One :class:`Prediction` per query of a whole-KB ranking (:class:`baseline.retrieval.KBRanking`): the top
    entities of its shortlist with their scores, and the gold's rank among all KB entities (the convention
    of docs/benchmarks.md: a gold outside the shortlist ranks after it, by the first-stage score)."""
    return _predictions(ranking.scores, ranking.ranks, sample_ids, gold_ids, kb_ids, "kb", top, complete=True)


def _predictions(scores, ranks: torch.Tensor, sample_ids: list[str], gold_ids: list[str], kb_ids: list[str], protocol: str, top: int, *,
                 complete: bool) -> list[Prediction]:
    """``complete``: the ranking orders every entity (the whole-KB protocol), so every gold has a rank."""
    ranks = ranks.tolist()
    ranked_count = torch.isfinite(scores.fused).sum(1).tolist()  # entities the model ranked per query (padding excluded)
    columns, positions = scores.top(top)
    fused = scores.fused.gather(1, columns)
    modules = {slot: matrix.float().gather(1, columns) for slot, matrix in sorted(scores.modules.items())}
    out = []
    for row, sample_id in enumerate(sample_ids):
        ranked = []
        for j, position in enumerate(positions[row].tolist()):
            value = float(fused[row, j])
            if position < 0 or value == float("-inf"):  # padding of a short candidate row
                break
            ranked.append(Ranked(kb_ids[position], rounded(value), {slot: rounded(float(m[row, j])) for slot, m in modules.items()}))
        rank = int(ranks[row])  # beyond a candidate list's ranked entities (baseline.metrics.MISS): the gold was not among them
        out.append(Prediction(sample_id, gold_ids[row], rank if complete or rank <= ranked_count[row] else None, tuple(ranked), protocol))
    return out
