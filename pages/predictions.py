"""Reading a benchmark run for the site: ``RUN/results.json`` and ``RUN/predictions/<model>.jsonl``.

A predictions line holds one test query::

    {"sample_id": "S…", "gold": "E…", "gold_rank": 3, "protocol": "candidates",
     "ranked": [{"id": "E…", "score": 0.91, "scores": {"visual": 0.8, "text": 0.95}}, …]}

``gold_rank`` is 1-based, null when the gold is not among the ranked entities; ``ranked`` holds up
to 10 entities, best first; ``protocol`` is ``candidates`` (the stored λ candidates) or ``kb`` (the
whole KB). Any malformed line is an error naming the file and the line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from emmel.errors import EmmelError
from emmel.io import iter_jsonl_lines, read_json

PROTOCOLS = ("candidates", "kb")


@dataclass(frozen=True)
class Ranked:
    id: str
    score: float
    scores: dict[str, float]


@dataclass(frozen=True)
class Prediction:
    sample_id: str
    gold: str
    gold_rank: int | None
    ranked: tuple[Ranked, ...]
    protocol: str

    @property
    def correct(self) -> bool:
        return self.gold_rank == 1


@dataclass
class Run:
    results: dict  # results.json
    models: dict[str, dict[str, dict[str, Prediction]]] = field(default_factory=dict)  # model -> protocol -> sample id -> prediction
    warnings: list[str] = field(default_factory=list)

    def for_sample(self, sample_id: str) -> list[tuple[str, Prediction]]:
        out = []
        for model in sorted(self.models):
            for protocol in PROTOCOLS:
                pred = self.models[model].get(protocol, {}).get(sample_id)
                if pred is not None:
                    out.append((model, pred))
        return out


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)


def parse_prediction(obj: dict) -> Prediction:
    """One predictions line; ``ValueError`` with a short reason when it is malformed."""
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
    out = []
    for k, row in enumerate(ranked, start=1):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise ValueError(f"ranked[{k}] must be an object with a string 'id'")
        scores = row.get("scores") or {}
        if not isinstance(scores, dict):
            raise ValueError(f"ranked[{k}].scores must be an object")
        out.append(Ranked(row["id"], _number(row.get("score"), f"ranked[{k}].score"),
                          {str(name): _number(v, f"ranked[{k}].scores.{name}") for name, v in sorted(scores.items())}))
    if rank is not None and rank <= len(out) and out[rank - 1].id != obj["gold"]:
        raise ValueError(f"gold_rank {rank} but ranked[{rank}] is {out[rank - 1].id}, not the gold {obj['gold']}")
    return Prediction(obj["sample_id"], obj["gold"], rank, tuple(out), protocol)


def read_run(folder: str | Path, sample_ids: set[str]) -> Run:
    """A run folder; predictions must be about samples of this dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EmmelError("results folder not found", path=folder)
    if not (folder / "results.json").is_file():
        raise EmmelError("not a benchmark run (no results.json)", path=folder)
    results = read_json(folder / "results.json")
    if not isinstance(results, dict):
        raise EmmelError("results.json must hold a JSON object", path=folder / "results.json")
    run = Run(results=results)
    pred_dir = folder / "predictions"
    files = sorted(pred_dir.glob("*.jsonl")) if pred_dir.is_dir() else []
    for path in files:
        model = path.stem
        per_protocol: dict[str, dict[str, Prediction]] = {}
        for number, obj, problem in iter_jsonl_lines(path):
            if problem:
                raise EmmelError(problem.split(": ", 1)[1], path=path, record=f"line {number}")
            try:
                pred = parse_prediction(obj)
            except ValueError as exc:
                raise EmmelError(str(exc), path=path, record=f"line {number}") from None
            if pred.sample_id not in sample_ids:
                raise EmmelError(f"sample {pred.sample_id!r} is not in this dataset (a run of another dataset?)", path=path, record=f"line {number}")
            seen = per_protocol.setdefault(pred.protocol, {})
            if pred.sample_id in seen:
                raise EmmelError(f"sample {pred.sample_id!r} appears twice for protocol {pred.protocol!r}", path=path, record=f"line {number}")
            seen[pred.sample_id] = pred
        run.models[model] = per_protocol
    if not files:
        run.warnings.append(f"warning: {folder}: no predictions/<model>.jsonl files; the site shows the run's summary only")
    return run
