"""Votes -> a new dataset version and its review report (the pure heart of ``emmel annotate import``).

Per sample, the annotations of all its tasks vote: ``link:<id>``, ``nil`` or ``reject`` (an
annotation that chose nothing abstains but its note is kept). The majority wins; a tie is flagged as
a conflict and changes nothing. A new link replaces the sample's ``entity_id`` (its augmented copies
follow); it must be one of the entities the dataset offers for the sample
(``annotation.candidates.sample_candidates``), so on dev/test the candidate set is unchanged and the
old gold stays in it as a hard negative. ``nil`` and ``reject`` move the sample to
``rejects`` (reasons ``annotator_nil`` / ``annotator_rejected``) with its augmented copies, so
``input_records = kept + rejected`` still holds.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from annotation.candidates import NeighbourIndex, offered_from, sample_candidates
from annotation.config import NIL, NIL_REASON, REJECTED_REASON, reject_reasons
from annotation.images import ImageError, check_image_ref
from annotation.results import TaskResult
from emmel.schema import EVAL_SPLITS, SPLITS, Reject, Sample


@dataclass
class Outcome:
    dataset: object  # the new Dataset (the input is not modified)
    report: dict
    notes: list[dict] = field(default_factory=list)

    @property
    def edited(self) -> bool:
        return bool(self.report["edited"])


def _problem(task: TaskResult, message: str) -> dict:
    return {"task": task.task_id, "sample_id": task.sample_id if isinstance(task.sample_id, str) else None, "problem": message}


def _validate(task: TaskResult, sample: Sample, dataset, index: NeighbourIndex) -> str | None:
    """Why this task cannot be applied, or None."""
    if task.problem:
        return task.problem
    try:
        check_image_ref(task.image, sample, dataset.root)
    except ImageError as exc:
        return str(exc)
    # what the dataset offers, never the export's own copy of data.candidates (an export can be edited)
    allowed, reasons = {*sample_candidates(sample, dataset.candidates, index), NIL}, set(reject_reasons())
    for vote in task.votes:
        label = f"annotation {vote.annotation_id}"
        if len(vote.entity) > 1:
            return f"{label} chose {len(vote.entity)} entities; the entity choice is single"
        if vote.entity and vote.entity[0] not in allowed:
            return (f"{label} chose {vote.entity[0]!r}, which is not among the candidates the dataset offers for this sample "
                    f"({offered_from(sample)}; the export's data.candidates is not trusted)")
        unknown = sorted(set(vote.reasons) - reasons)
        if unknown:
            return f"{label} gave an unknown reject reason {unknown[0]!r}"
    return None


@dataclass
class Decisions:
    """What the votes decided, sample by sample (``decide``), and what was counted on the way."""

    relinks: dict[str, str] = field(default_factory=dict)  # sample id -> new entity id
    removals: dict[str, tuple[str, str]] = field(default_factory=dict)  # sample id -> (reason, detail)
    changes: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    confirmed: int = 0
    annotations: int = 0
    unannotated: int = 0


def apply_review(dataset, tasks: list[TaskResult], *, source: str, export_sha256: str = "", export_format: str = "") -> Outcome:
    """Apply the decisions of ``tasks`` to a copy of ``dataset``; returns it with the report.

    triage (which tasks can be applied) -> decide (majority per sample) -> rebuild the dataset -> report.
    """
    originals = {s.id: s for s in dataset.all_samples() if s.augmented_from is None}
    copies: dict[str, list[Sample]] = defaultdict(list)
    for s in dataset.all_samples():
        if s.augmented_from is not None:
            copies[s.augmented_from].append(s)
    round_no = len(dataset.meta.get("annotation", {}).get("rounds", [])) + 1
    accepted, invalid, unknown = triage(dataset, tasks, originals, copies)
    decisions = decide(accepted, originals, round_no)
    new = _rebuild(dataset, decisions.relinks, decisions.removals, originals, copies)
    report = {
        "round": round_no,
        "source": source,
        "format": export_format,
        "export_sha256": export_sha256,
        "tasks_seen": len(tasks),
        "samples_reviewed": len(accepted),
        "annotations": decisions.annotations,
        "unannotated_tasks": decisions.unannotated,
        "confirmed": decisions.confirmed,
        "changed": len(decisions.changes),
        "rejected": sum(1 for r in decisions.removed if r["reason"] == REJECTED_REASON),
        "nil": sum(1 for r in decisions.removed if r["reason"] == NIL_REASON),
        "conflicting": len(decisions.conflicts),
        "notes": len(decisions.notes),
        "unknown_ids": unknown,
        "invalid": invalid,
        "edited": bool(decisions.relinks or decisions.removals or decisions.notes),
        "changes": decisions.changes,
        "removed": decisions.removed,
        "conflicts": decisions.conflicts,
    }
    if report["edited"]:
        new.meta = _with_round(new.meta, report)
    return Outcome(dataset=new, report=report, notes=decisions.notes)


def triage(dataset, tasks: list[TaskResult], originals: dict, copies: dict) -> tuple[dict[str, list[TaskResult]], list[dict], list[dict]]:
    """The applicable tasks per sample id, the invalid ones (with why) and those of samples not in the dataset."""
    index = NeighbourIndex(dataset.kb)
    augmented = {c.id for group in copies.values() for c in group}
    invalid, unknown = [], []
    accepted: dict[str, list[TaskResult]] = defaultdict(list)
    for task in tasks:
        sid = task.sample_id
        if task.problem is None and sid not in originals:
            if sid in augmented:
                invalid.append(_problem(task, f"sample {sid} is an augmented copy; review its original"))
            else:
                unknown.append({"task": task.task_id, "sample_id": sid})
            continue
        problem = _validate(task, originals.get(sid), dataset, index) if task.problem is None else task.problem
        if problem:
            invalid.append(_problem(task, problem))
            continue
        accepted[sid].append(task)
    return accepted, invalid, unknown


def decide(accepted: dict[str, list[TaskResult]], originals: dict, round_no: int) -> Decisions:
    """The majority decision of each reviewed sample (samples in id order; see the module docstring)."""
    decisions = Decisions()
    for sid in sorted(accepted):
        _decide_sample(decisions, originals[sid], accepted[sid], round_no)
    return decisions


def _decide_sample(decisions: Decisions, sample: Sample, tasks: list[TaskResult], round_no: int) -> None:
    votes = [(task, vote) for task in tasks for vote in task.votes]
    decisions.annotations += len(votes)
    decisions.unannotated += sum(1 for task in tasks if not task.votes)
    for task, vote in votes:
        if vote.note:
            decisions.notes.append({"round": round_no, "sample_id": sample.id, "task": task.task_id, "annotation": vote.annotation_id,
                                    "annotator": vote.annotator, "decision": vote.decision, "note": vote.note})
    tally = Counter(vote.decision for _, vote in votes if vote.decision)
    if not tally:
        return
    top = max(tally.values())
    winners = sorted(k for k, n in tally.items() if n == top)
    if len(winners) > 1:
        decisions.conflicts.append({"sample_id": sample.id, "votes": dict(sorted(tally.items()))})
        return
    outcome = winners[0]
    if outcome == f"link:{sample.entity_id}":
        decisions.confirmed += 1
    elif outcome.startswith("link:"):
        decisions.relinks[sample.id] = outcome[len("link:"):]
        decisions.changes.append({"sample_id": sample.id, "split": sample.split, "from": sample.entity_id, "to": decisions.relinks[sample.id]})
    else:
        if outcome == "nil":
            reason, detail = NIL_REASON, f"review round {round_no}: the entity is not in the KB (NIL)"
        else:
            why = sorted({r for _, vote in votes if vote.decision == "reject" for r in vote.reasons})
            reason, detail = REJECTED_REASON, f"review round {round_no}: {', '.join(why)}"
        sample_notes = " | ".join(vote.note for _, vote in votes if vote.note)
        if sample_notes:
            detail += f"; notes: {sample_notes}"
        decisions.removals[sample.id] = (reason, detail)
        decisions.removed.append({"sample_id": sample.id, "split": sample.split, "reason": reason, "detail": detail})


def _with_round(meta: dict, report: dict) -> dict:
    """A copy of the dataset's ``meta`` with this round's summary appended to ``annotation.rounds``."""
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items() if k not in ("changes", "removed", "conflicts", "edited")}
    summary["report"] = report_path(report["round"])
    meta = copy.deepcopy(meta)
    meta.setdefault("annotation", {}).setdefault("rounds", []).append(summary)
    return meta


def is_report(data: bytes) -> bool:
    """Whether ``data`` is a review report emmel wrote (``emmel annotate import --report``)."""
    import json

    try:
        report = json.loads(data.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(report, dict) and {"round", "tasks_seen", "invalid", "unknown_ids"} <= set(report)


def report_path(round_no: int) -> str:
    return f"annotation/round-{round_no:03d}.json"


def _rebuild(dataset, relinks: dict, removals: dict, originals: dict, copies: dict):
    """A copy of ``dataset`` with the relinks and removals applied (unchanged when both are empty)."""
    new = copy.copy(dataset)
    if not relinks and not removals:
        return new
    gone = set(removals) | {c.id for sid in removals for c in copies.get(sid, [])}
    samples = {}
    for split in SPLITS:
        rows = []
        for s in dataset.samples.get(split, []):
            if s.id in gone:
                continue
            target = relinks.get(s.augmented_from or s.id)
            rows.append(replace(s, entity_id=target) if target else s)
        samples[split] = rows
    # a relink picks one of the sample's candidates, so each set stays as it is (the old gold becomes a negative)
    candidates = {split: {sid: list(ids) for sid, ids in dataset.candidates[split].items() if sid not in gone}
                  for split in EVAL_SPLITS if split in dataset.candidates}
    rejects = list(dataset.rejects)
    for sid, (reason, detail) in removals.items():
        s = originals[sid]
        source = s.source if isinstance(s.source, dict) else {}
        rejects.append(Reject(
            record=f"{s.split}.jsonl:{s.id}",
            reason=reason,
            detail=detail,
            record_id=source.get("record_id") if isinstance(source.get("record_id"), str) else None,
            source=source.get("name") if isinstance(source.get("name"), str) else "",
        ))
    new.samples, new.candidates, new.rejects = samples, candidates, rejects
    return new
