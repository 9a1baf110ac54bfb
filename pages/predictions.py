"""Reading a benchmark run for the site: ``RUN/results.json`` and ``RUN/predictions/<model>.jsonl``
(the stored candidates) and ``<model>.kb.jsonl`` (the whole KB).

The line format and its checks are :mod:`emmel.predictions`, the one definition the benchmark
writes and every reader (this site, the report, annotation) reads. Any malformed line is an error
naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emmel.errors import EmmelError
from emmel.io import read_json
from emmel.predictions import FOLDER, PROTOCOLS, Prediction, model_of, read_predictions


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
    pred_dir = folder / FOLDER
    files = sorted(pred_dir.glob("*.jsonl")) if pred_dir.is_dir() else []
    for path in files:
        model, _ = model_of(path)  # mcr.jsonl and mcr.kb.jsonl are one model's two protocols
        per_protocol = run.models.setdefault(model, {})
        for number, pred in read_predictions(path):
            if pred.sample_id not in sample_ids:
                raise EmmelError(f"sample {pred.sample_id!r} is not in this dataset (a run of another dataset?)", path=path, record=f"line {number}")
            seen = per_protocol.setdefault(pred.protocol, {})
            if pred.sample_id in seen:
                raise EmmelError(f"sample {pred.sample_id!r} appears twice for protocol {pred.protocol!r}", path=path, record=f"line {number}")
            seen[pred.sample_id] = pred
    if not files:
        run.warnings.append(f"warning: {folder}: no predictions/<model>.jsonl files; the site shows the run's summary only")
    return run
