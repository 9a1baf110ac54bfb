"""Dataset -> Label Studio tasks: data (image URL, text, current link, the task's own candidates)
and a pre-annotation (the current link, or the top-1 of a model's ranking)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotation.candidates import NeighbourIndex, sample_candidates
from annotation.config import CURRENT_LINK_MODEL, ENTITY, NIL, NIL_DISPLAY, TO_NAME
from annotation.images import URLMaker
from emmel.errors import EmmelError
from emmel.io import dumps, iter_jsonl_lines, write_output_file
from emmel.schema import SPLITS, Sample
from emmel.suspect import suspect_rank


@dataclass
class Ranking:
    """A model's ranked entities for one sample (one row of a ``--predictions`` file)."""

    sample_id: str
    entities: list[tuple[str, float]]  # (entity_id, score), best first
    model_version: str


def read_predictions(path: str | Path, dataset) -> dict[str, Ranking]:
    """Read a predictions file: JSON Lines of
    ``{"sample_id": "S…", "ranking": [{"entity_id": "E…", "score": 0.93}, …], "model_version": "mcr"}``
    (``model_version`` optional, default: the file name without suffix). Every bad line is an error
    naming the file and line; sample and entity ids must exist in the dataset."""
    path = Path(path)
    known = {s.id for s in dataset.all_samples() if s.augmented_from is None}
    entities = dataset.entities
    rankings: dict[str, Ranking] = {}
    for number, row, problem in iter_jsonl_lines(path):
        where = f"line {number}"
        if problem:
            raise EmmelError(problem.split(": ", 1)[1], path=path, record=where)
        sample_id, ranking = row.get("sample_id"), row.get("ranking")
        if not isinstance(sample_id, str) or not isinstance(ranking, list) or not ranking:
            raise EmmelError("a prediction needs 'sample_id' and a non-empty 'ranking' list", path=path, record=where)
        if sample_id not in known:
            raise EmmelError(f"unknown sample id {sample_id!r}", path=path, record=where)
        if sample_id in rankings:
            raise EmmelError(f"second prediction for sample {sample_id}", path=path, record=where)
        pairs = []
        for item in ranking:
            eid, score = (item.get("entity_id"), item.get("score")) if isinstance(item, dict) else (None, None)
            if not isinstance(eid, str) or isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise EmmelError("ranking items need 'entity_id' (str) and a finite 'score'", path=path, record=where)
            if eid not in entities:
                raise EmmelError(f"unknown entity id {eid!r}", path=path, record=where)
            pairs.append((eid, float(score)))
        version = row.get("model_version", path.stem)
        if not isinstance(version, str) or not version:
            raise EmmelError("'model_version' must be a non-empty string", path=path, record=where)
        pairs.sort(key=lambda pair: -pair[1])  # stable: ties keep the file's order
        rankings[sample_id] = Ranking(sample_id, pairs, version)
    return rankings


def _choice(entity, hint: str = "") -> dict:
    option = {"value": entity.id, "html": html.escape(entity.display, quote=False)}
    extra = [hint] if hint else []
    if entity.aliases:
        extra.append("又名 aka " + "、".join(entity.aliases[:5]))
    if extra:
        option["hint"] = " · ".join(extra)
    return option


def _entity_result(entity_id: str) -> list[dict]:
    return [{"from_name": ENTITY, "to_name": TO_NAME, "type": "choices", "value": {"choices": [entity_id]}}]


# The orders tasks can be exported in (``--order``): each a sort key of a task from its sample and the
# ranked entities the task offers (``(rank, entity id, score)`` from ``--predictions``, or none). Several
# names sort by the first, then the next; ties keep the dataset's order (split, then sample id).
ORDERS: dict[str, Callable[[Sample, list[tuple[int, str, float]]], tuple]] = {
    "dataset": lambda sample, ranked: (),  # split, then sample id
    "suspect": lambda sample, ranked: suspect_rank(sample),  # model-flagged mismatches first, most suspect first
}
DEFAULT_ORDER = ("suspect",)  # without flags (docs/suspect.md) this is the dataset's order


def check_order(names: Sequence[str]) -> tuple[str, ...]:
    """The order names, checked (an unknown one is an error listing the known ones)."""
    unknown = [n for n in names if n not in ORDERS]
    if unknown or not names:
        raise EmmelError(f"unknown task order {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(ORDERS)} "
                         "(comma-separated to sort by one, then the next)")
    return tuple(names)


def build_tasks(dataset, splits: Iterable[str], urls: URLMaker, rankings: dict[str, Ranking] | None = None,
                order: Sequence[str] = DEFAULT_ORDER) -> list[dict]:
    """One task per original sample of ``splits`` (augmented copies follow their original), in ``order``
    (:data:`ORDERS`; the default puts model-flagged mismatches first, then split and id)."""
    keys = [ORDERS[name] for name in check_order(order)]
    rankings = rankings or {}
    entities = dataset.entities
    index = NeighbourIndex(dataset.kb)
    tasks = []
    for split in (s for s in SPLITS if s in set(splits)):
        for sample in sorted(dataset.samples.get(split, []), key=lambda s: s.id):
            if sample.augmented_from is not None:
                continue
            ids = sample_candidates(sample, dataset.candidates, index)
            ranking = rankings.get(sample.id)
            hints: dict[str, str] = {}
            # a ranking re-orders and annotates the offered entities; it never adds others (import would refuse them)
            ranked = [(rank, eid, score) for rank, (eid, score) in enumerate(ranking.entities, start=1) if eid in ids] if ranking else []
            if ranked:
                for rank, eid, score in ranked:
                    hints.setdefault(eid, f"rank {rank} · score {score:.3f}")
                ids = list(hints) + [eid for eid in ids if eid not in hints]
                _, best, score = ranked[0]
                prediction = {"model_version": ranking.model_version, "score": score, "result": _entity_result(best)}
            else:
                prediction = {"model_version": CURRENT_LINK_MODEL, "score": 1.0, "result": _entity_result(sample.entity_id)}
            unknown = [eid for eid in ids if eid not in entities]
            if unknown:
                raise EmmelError(f"sample {sample.id}: entity {unknown[0]} is not in kb.jsonl", path=dataset.root)
            options = [_choice(entities[eid], hints.get(eid, "")) for eid in ids]
            options.append({"value": NIL, "html": NIL_DISPLAY})
            data = {
                "sample_id": sample.id,
                "split": sample.split,
                "image": urls(sample),
                "text": sample.text,
                "link": entities[sample.entity_id].display,
                "candidates": options,
            }
            tasks.append((tuple(key(sample, ranked) for key in keys), {"data": data, "predictions": [prediction]}))
    return [task for _, task in sorted(tasks, key=lambda pair: pair[0])]  # stable: ties keep split-then-id order


def write_tasks(path: str | Path, tasks: list[dict], *, overwrite: bool = False, inputs=()) -> None:
    """A JSON array, one task per line: compact, diffable, deterministic. An existing file is
    replaced only with ``overwrite`` and only if it is a task list (``is_task_file``)."""
    body = ",\n".join(dumps(task) for task in tasks)
    text = "[\n" + body + "\n]\n" if tasks else "[]\n"
    write_output_file(path, text.encode("utf-8"), overwrite=overwrite, is_ours=is_task_file, what="task list", inputs=inputs)


def is_task_file(data: bytes) -> bool:
    """Whether ``data`` is a task list of emmel's or a Label Studio export of one (JSON or JSON_MIN):
    a JSON array whose every item carries a ``sample_id``."""
    try:
        items = json.loads(data.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(items, list) and all(
        isinstance(t, dict) and "sample_id" in (t["data"] if isinstance(t.get("data"), dict) else t) for t in items)


def read_tasks(path: str | Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
