"""Dataset -> Label Studio tasks: data (image URL, text, current link, the task's own candidates)
and a pre-annotation (the current link, or the top-1 of a model's ranking among those candidates).

With a model's predictions (``emmel benchmark``'s ``predictions/<model>.jsonl``) the ranked entities
move to the top of the options with their rank and scores as hints, and ``order="uncertainty"``
puts first the tasks whose model is least sure (smallest margin between its top two offered
entities)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotation.candidates import NeighbourIndex, sample_candidates
from annotation.config import CURRENT_LINK_MODEL, ENTITY, NIL, NIL_DISPLAY, TO_NAME
from annotation.images import URLMaker
from emmel.errors import EmmelError
from emmel.io import dumps, write_output_file
from emmel.predictions import Ranked, model_of
from emmel.predictions import read_predictions as read_predictions_file
from emmel.schema import SPLITS, Sample
from emmel.suspect import suspect_rank


@dataclass
class Ranking:
    """A model's ranked entities for one sample (one line of a ``--predictions`` file)."""

    sample_id: str
    entities: list[Ranked]  # best first, as the file lists them
    model_version: str
    line: int  # in the file, for reports


def read_predictions(path: str | Path, dataset, problems: list[str] | None = None) -> dict[str, Ranking]:
    """Read a predictions file of `emmel benchmark` (``RESULTS/predictions/<model>.jsonl``, format:
    :mod:`emmel.predictions`). A malformed or cut-off line, an unknown sample or entity id, or a
    sample listed twice is an error naming the file and line; a file none of whose samples is in the
    dataset is refused as another dataset's. A gold that differs from the sample's current link (a
    run on another version of the dataset) is reported in ``problems``, one line each, and kept."""
    path = Path(path)
    model, protocol = model_of(path)
    version = model if protocol == "candidates" else f"{model}-{protocol}"
    samples = {s.id: s for s in dataset.all_samples() if s.augmented_from is None}
    entities = dataset.entities
    lines = list(read_predictions_file(path))
    if lines and not any(p.sample_id in samples for _, p in lines):
        number, first = lines[0]
        raise EmmelError(f"none of the {len(lines)} predictions is about a sample of this dataset (first: {first.sample_id!r}); "
                         "predictions of another dataset?", path=path, record=f"line {number}")
    rankings: dict[str, Ranking] = {}
    for number, prediction in lines:
        where = f"line {number}"
        if prediction.sample_id not in samples:
            raise EmmelError(f"unknown sample id {prediction.sample_id!r}", path=path, record=where)
        if prediction.sample_id in rankings:
            raise EmmelError(f"second prediction for sample {prediction.sample_id}", path=path, record=where)
        unknown = [r.id for r in prediction.ranked if r.id not in entities]
        if unknown:
            raise EmmelError(f"unknown entity id {unknown[0]!r}", path=path, record=where)
        if prediction.gold != samples[prediction.sample_id].entity_id and problems is not None:
            problems.append(f"{where}: sample {prediction.sample_id}: the predictions' gold {prediction.gold} is not its current "
                            f"link {samples[prediction.sample_id].entity_id} (a run on another version of the dataset?)")
        rankings[prediction.sample_id] = Ranking(prediction.sample_id, list(prediction.ranked), version, number)
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


def _hint(rank: int, item: Ranked) -> str:
    modules = ", ".join(f"{slot} {value:.3f}" for slot, value in item.scores.items())
    return f"rank {rank} · score {item.score:.3f}" + (f" ({modules})" if modules else "")


def _margin(sample: Sample, ranked: list[Ranked]) -> tuple:
    """The model's doubt: the smallest margin between its top two offered entities first; then a task
    offering a single ranked entity; then the samples the model did not rank."""
    if len(ranked) > 1:
        return (0, ranked[0].score - ranked[1].score)
    return (1, 0.0) if ranked else (2, 0.0)


# The orders tasks can be exported in (``--order``): each a sort key of a task from its sample and the
# ranked entities the task offers (from ``--predictions``, best first, or none). Several names sort by
# the first, then the next; ties keep the dataset's order (split, then sample id).
ORDERS: dict[str, Callable[[Sample, list[Ranked]], tuple]] = {
    "dataset": lambda sample, ranked: (),  # split, then sample id
    "suspect": lambda sample, ranked: suspect_rank(sample),  # model-flagged mismatches first, most suspect first
    "uncertainty": _margin,  # the samples the model is least sure of first (needs --predictions)
}
DEFAULT_ORDER = ("suspect",)  # without flags (docs/suspect.md) this is the dataset's order
NEEDS_PREDICTIONS = ("uncertainty",)


def check_order(names: str | Sequence[str], *, predictions: bool = True) -> tuple[str, ...]:
    """The order names, checked (an unknown one is an error listing the known ones; an order that reads a
    model's ranking needs ``predictions``)."""
    if isinstance(names, str):  # "--order a,b"
        names = tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = [n for n in names if n not in ORDERS]
    if unknown or not names:
        raise EmmelError(f"unknown task order {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(ORDERS)} "
                         "(comma-separated to sort by one, then the next)")
    needing = [n for n in names if n in NEEDS_PREDICTIONS]
    if needing and not predictions:
        raise EmmelError(f"--order {needing[0]} needs --predictions (a model's ranking says how sure it is)")
    return tuple(names)


def build_tasks(dataset, splits: Iterable[str], urls: URLMaker, rankings: dict[str, Ranking] | None = None, *,
                order: Sequence[str] = DEFAULT_ORDER, problems: list[str] | None = None) -> list[dict]:
    """One task per original sample of ``splits`` (augmented copies follow their original), in ``order``
    (:data:`ORDERS`; the default puts model-flagged mismatches first, then split and id). ``problems``
    collects one line per ranked entity a task does not offer (left out)."""
    keys = [ORDERS[name] for name in check_order(order, predictions=rankings is not None)]
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
            ranked = [item for item in ranking.entities if item.id in ids] if ranking else []
            if ranking and problems is not None:
                problems += [f"line {ranking.line}: sample {sample.id}: entity {item.id} is not among the task's candidates (left out)"
                             for item in ranking.entities if item.id not in ids]
            if ranked:
                for rank, item in enumerate(ranked, start=1):
                    hints[item.id] = _hint(rank, item)
                ids = list(hints) + [eid for eid in ids if eid not in hints]
                prediction = {"model_version": ranking.model_version, "score": ranked[0].score, "result": _entity_result(ranked[0].id)}
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
