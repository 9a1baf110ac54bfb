"""Per-query predictions of a model: the format of ``RESULTS/predictions/<model>.jsonl``.

`emmel benchmark` writes one file per model and protocol; `emmel annotate export --predictions`
(reviewers see the model's ranking) and the result pages read them. The format lives here, in the
core, so the writer and every reader share one definition. One JSON object per line, one line per
test query::

    {"sample_id": "S…", "gold": "E…", "gold_rank": 3, "protocol": "candidates",
     "ranked": [{"id": "E…", "score": 0.91, "scores": {"text": 2.3, "visual": 0.42}}, …]}

- ``gold_rank``: 1-based rank of the gold among everything the model ranked (the stored candidate
  set, or the whole KB), not only the listed top 10; ``null`` when the gold is not among them (an
  imported candidate list may lack it): a miss for every Top-k and 0 for the reciprocal rank.
- ``ranked``: the model's best entities (at most :data:`TOP`), best first; ``score`` is what it
  ranks by (the fused y for MCR, the module's own score for a one-module model), ``scores`` each
  module's own raw score (``text``: cross-encoder logit, ``visual``: CLIP cosine, ``lexical``: BM25).
- ``protocol``: ``candidates`` (the stored λ candidates: file ``<model>.jsonl``) or ``kb`` (the whole
  KB, ``--full-kb``: file ``<model>.kb.jsonl``).

Top-k of a file is the share of its lines with ``gold_rank ≤ k``, MRR the mean of ``1/gold_rank``
(null counting 0): exactly the benchmark table's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emmel.errors import EmmelError
from emmel.io import iter_jsonl_lines

PROTOCOLS = ("candidates", "kb")
TOP = 10  # entities listed per query
FOLDER = "predictions"  # inside a benchmark output folder
SUFFIX = {"candidates": ".jsonl", "kb": ".kb.jsonl"}


def file_name(model: str, protocol: str) -> str:
    """``mcr.jsonl`` (stored candidates) or ``mcr.kb.jsonl`` (whole KB)."""
    return model + SUFFIX[protocol]


def model_of(path: str | Path) -> tuple[str, str]:
    """``(model, protocol)`` of a predictions file name."""
    name = Path(path).name
    if name.endswith(SUFFIX["kb"]):
        return name[: -len(SUFFIX["kb"])], "kb"
    return name.removesuffix(SUFFIX["candidates"]), "candidates"


@dataclass(frozen=True)
class Ranked:
    id: str
    score: float
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return {"id": self.id, "score": self.score, "scores": dict(self.scores)}


@dataclass(frozen=True)
class Prediction:
    sample_id: str
    gold: str
    gold_rank: int | None
    ranked: tuple[Ranked, ...]
    protocol: str = "candidates"

    @property
    def correct(self) -> bool:
        return self.gold_rank == 1

    @property
    def margin(self) -> float:
        """Score of the best entity minus the second's: how sure the model is (inf with fewer than two)."""
        return self.ranked[0].score - self.ranked[1].score if len(self.ranked) > 1 else math.inf

    def to_dict(self) -> dict:
        return {"sample_id": self.sample_id, "gold": self.gold, "gold_rank": self.gold_rank, "protocol": self.protocol,
                "ranked": [r.to_dict() for r in self.ranked]}

    @classmethod
    def from_dict(cls, obj: dict) -> Prediction:
        """One line; ``ValueError`` with a short reason when it is malformed."""
        for name in ("sample_id", "gold"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise ValueError(f"field {name!r} must be a non-empty string")
        rank = obj.get("gold_rank")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise ValueError("field 'gold_rank' must be a positive integer (1-based) or null")
        protocol = obj.get("protocol", "candidates")
        if protocol not in PROTOCOLS:
            raise ValueError(f"field 'protocol' must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        ranked = obj.get("ranked")
        if not isinstance(ranked, list):
            raise ValueError("field 'ranked' must be a list")
        items, seen = [], set()
        for k, row in enumerate(ranked, start=1):
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
                raise ValueError(f"ranked[{k}] must be an object with a non-empty string 'id'")
            if row["id"] in seen:
                raise ValueError(f"ranked[{k}]: entity {row['id']!r} is listed twice")
            seen.add(row["id"])
            scores = row.get("scores", {})
            if not isinstance(scores, dict):
                raise ValueError(f"ranked[{k}].scores must be an object")
            items.append(Ranked(row["id"], _number(row.get("score"), f"ranked[{k}].score"),
                                {str(name): _number(v, f"ranked[{k}].scores.{name}") for name, v in sorted(scores.items())}))
        if any(a.score < b.score for a, b in zip(items, items[1:])):
            raise ValueError("'ranked' must be sorted best first (scores not increasing)")
        if rank is not None and rank <= len(items) and items[rank - 1].id != obj["gold"]:
            raise ValueError(f"gold_rank {rank} but ranked[{rank}] is {items[rank - 1].id}, not the gold {obj['gold']}")
        if obj["gold"] in seen and (rank is None or rank > len(items)):
            raise ValueError(f"the gold {obj['gold']} is listed in 'ranked' at another rank than gold_rank {rank}")
        return cls(obj["sample_id"], obj["gold"], rank, tuple(items), protocol)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)


def read_predictions(path: str | Path) -> Iterator[tuple[int, Prediction]]:
    """``(line number, prediction)`` of every line; a malformed or cut-off line is an error naming the file and line."""
    for number, obj, problem in iter_jsonl_lines(path):
        if problem:
            raise EmmelError(problem.split(": ", 1)[1], path=path, record=f"line {number}")
        try:
            yield number, Prediction.from_dict(obj)
        except ValueError as exc:
            if "ranking" in obj and "ranked" not in obj:
                raise EmmelError("this is not a predictions file of `emmel benchmark` (a 'ranking' list instead of 'ranked'; "
                                 "see docs/benchmark.md, Outputs)", path=path, record=f"line {number}") from None
            raise EmmelError(str(exc), path=path, record=f"line {number}") from None


def rounded(value: float) -> float:
    """A score as the files store it: 7 significant digits (ranks are computed before rounding)."""
    return float(f"{value:.7g}")
