"""Label Studio export (JSON or JSON_MIN) -> one ``TaskResult`` per task, with its annotators' votes.

Parsing checks shapes only; whether ids, candidates and images fit the dataset is ``apply``'s job.
A malformed export as a whole raises ``EmmelError``; a malformed task or annotation sets
``TaskResult.problem`` so that one task is refused and the rest still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from annotation.config import ENTITY, NIL, NOTE, REJECT
from emmel.errors import EmmelError
from emmel.io import json_error


@dataclass(frozen=True)
class Vote:
    """What one annotator decided for one task."""

    annotator: str
    annotation_id: object
    entity: tuple[str, ...] = ()  # values chosen in the entity control (one, normally)
    reasons: tuple[str, ...] = ()  # reject reasons; any reason rejects the sample
    note: str = ""

    @property
    def decision(self) -> str | None:
        """``reject``, ``nil``, ``link:<entity id>``, or None when the annotator chose nothing."""
        if self.reasons:
            return "reject"
        if not self.entity:
            return None
        return "nil" if self.entity[0] == NIL else f"link:{self.entity[0]}"


@dataclass
class TaskResult:
    task_id: object  # Label Studio's task id, or "#<position>" when the export has none
    sample_id: str | None
    image: object = None
    candidates: list | None = None  # the values of data.candidates, as exported
    votes: list[Vote] = field(default_factory=list)
    problem: str | None = None


class _Bad(ValueError):
    pass


def load_export(path: str | Path) -> tuple[str, list[TaskResult]]:
    """Read an export file; returns (format, tasks)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EmmelError("file not found", path=path) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EmmelError(f"not UTF-8 ({exc.reason} at byte {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise EmmelError(f"not a Label Studio export: invalid JSON: {json_error(exc)}", path=path, record=f"line {exc.lineno}") from None
    return parse_export(data, path)


def parse_export(data: object, where: object = "export") -> tuple[str, list[TaskResult]]:
    """Parse an already decoded export (a JSON array of tasks)."""
    if not isinstance(data, list):
        raise EmmelError("not a Label Studio export: expected a JSON array of tasks", path=where)
    if not data:  # JSON_MIN of a project whose annotations were all skipped is empty
        return "JSON_MIN", []
    kinds = set()
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise EmmelError("not a Label Studio export: every item must be a JSON object", path=where, record=f"item {number}")
        kinds.add("JSON" if isinstance(item.get("data"), dict) else "JSON_MIN" if "sample_id" in item else None)
    if None in kinds:
        number = next(n for n, item in enumerate(data, 1) if not isinstance(item.get("data"), dict) and "sample_id" not in item)
        raise EmmelError("not a Label Studio export of emmel tasks: item has neither 'data' (JSON) nor 'sample_id' (JSON_MIN)",
                         path=where, record=f"item {number}")
    if len(kinds) > 1:
        raise EmmelError("the export mixes JSON and JSON_MIN items", path=where)
    if kinds == {"JSON"}:
        return "JSON", [_json_task(item, number) for number, item in enumerate(data, start=1)]
    return "JSON_MIN", _min_tasks(data)


def _task_id(item: dict, number: int) -> object:
    tid = item.get("id")
    return tid if isinstance(tid, (int, str)) and not isinstance(tid, bool) else f"#{number}"


def _annotator(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("email") or value.get("id")
    return "" if value is None else str(value)


def _strings(value: object, key: str) -> tuple[str, ...]:
    """Choices / text of one result value: ``{"choices": [...]}`` (JSON), or a bare string,
    a ``{key: [...]}`` object or a list of those (JSON_MIN)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, dict):
        items = value.get(key)
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise _Bad(f"{key!r} must be a list of strings")
        return tuple(items)
    if isinstance(value, list):
        return tuple(v for part in value for v in _strings(part, key))
    raise _Bad(f"unexpected {type(value).__name__} where {key} were expected")


def _vote(annotator: object, annotation_id: object, entity=None, reject=None, note=None) -> Vote:
    notes = _strings(note, "text")
    return Vote(
        annotator=_annotator(annotator),
        annotation_id=annotation_id,
        entity=_strings(entity, "choices"),
        reasons=tuple(sorted(set(_strings(reject, "choices")))),
        note="\n".join(n.strip() for n in notes if n.strip()),
    )


def _json_task(item: dict, number: int) -> TaskResult:
    data = item["data"]
    task = TaskResult(task_id=_task_id(item, number), sample_id=data.get("sample_id"), image=data.get("image"))
    try:
        task.candidates = _candidate_values(data)
        if not isinstance(task.sample_id, str) or not task.sample_id:
            raise _Bad("task data has no 'sample_id'")
        annotations = item.get("annotations", item.get("completions", []))
        if not isinstance(annotations, list):
            raise _Bad("'annotations' must be a list")
        for annotation in annotations:
            if not isinstance(annotation, dict):
                raise _Bad("an annotation must be an object")
            if annotation.get("was_cancelled") or annotation.get("skipped"):
                continue
            result = annotation.get("result") or []
            if not isinstance(result, list):
                raise _Bad(f"annotation {annotation.get('id')}: 'result' must be a list")
            controls: dict[str, list] = {}
            for region in result:
                if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
                    raise _Bad(f"annotation {annotation.get('id')}: every result needs a 'value' object")
                controls.setdefault(region.get("from_name"), []).append(region["value"])
            task.votes.append(
                _vote(annotation.get("completed_by"), annotation.get("id"), controls.get(ENTITY), controls.get(REJECT), controls.get(NOTE))
            )
    except _Bad as exc:
        task.problem = str(exc)
    return task


def _candidate_values(data: dict) -> list | None:
    options = data.get("candidates")
    if options is None:
        return None
    if not isinstance(options, list):
        raise _Bad("'candidates' must be a list")
    values = []
    for option in options:
        value = option.get("value") if isinstance(option, dict) else option
        if not isinstance(value, str):
            raise _Bad("every candidate needs a string 'value'")
        values.append(value)
    return values


def _min_tasks(rows: list[dict]) -> list[TaskResult]:
    """JSON_MIN has one row per annotation (or one row for an unannotated task): group by task id."""
    tasks: dict[object, TaskResult] = {}
    for number, row in enumerate(rows, start=1):
        tid = _task_id(row, number)
        task = tasks.get(tid)
        if task is None:
            task = tasks[tid] = TaskResult(task_id=tid, sample_id=row.get("sample_id"), image=row.get("image"))
            try:
                task.candidates = _candidate_values(row)
                if not isinstance(task.sample_id, str) or not task.sample_id:
                    raise _Bad("row has no 'sample_id'")
            except _Bad as exc:
                task.problem = str(exc)
        if task.problem:
            continue
        if row.get("sample_id") != task.sample_id:
            task.problem = f"rows of one task name different samples ({task.sample_id}, {row.get('sample_id')})"
            continue
        if row.get("annotation_id") is None and not any(k in row for k in (ENTITY, REJECT, NOTE)):
            continue  # a task nobody annotated
        try:
            task.votes.append(_vote(row.get("annotator"), row.get("annotation_id"), row.get(ENTITY), row.get(REJECT), row.get(NOTE)))
        except _Bad as exc:
            task.problem = f"annotation {row.get('annotation_id')}: {exc}"
    return list(tasks.values())
