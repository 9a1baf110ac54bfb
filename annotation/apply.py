"""Votes -> a new dataset version and its review report (the pure heart of ``emmel annotate import``).

Per sample, the annotations of all its tasks vote: ``link:<id>``, ``nil`` or ``reject`` (an
annotation that chose nothing abstains but its note is kept). The majority wins; a tie is flagged as
a conflict and changes nothing. A new link replaces the sample's ``entity_id`` (its augmented copies
follow); on dev/test the candidate set keeps λ ids and gains the new gold in place of a negative
picked by hash (the old gold stays, as a hard negative). ``nil`` and ``reject`` move the sample to
``rejects`` (reasons ``annotator_nil`` / ``annotator_rejected``) with its augmented copies, so
``input_records = kept + rejected`` still holds.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from annotation.candidates import NeighbourIndex, sample_candidates
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


def _validate(task: TaskResult, sample: Sample, dataset, index: NeighbourIndex, entities: dict) -> str | None:
    """Why this task cannot be applied, or None."""
    if task.problem:
        return task.problem
    try:
        check_image_ref(task.image, sample, dataset.root)
    except ImageError as exc:
        return str(exc)
    offered = task.candidates if task.candidates is not None else [*sample_candidates(sample, dataset.candidates, index), NIL]
    strangers = [c for c in offered if c != NIL and c not in entities]
    if strangers:
        return f"task offers {strangers[0]!r}, which is not in kb.jsonl"
    allowed, reasons = set(offered), set(reject_reasons())
    for vote in task.votes:
        label = f"annotation {vote.annotation_id}"
        if len(vote.entity) > 1:
            return f"{label} chose {len(vote.entity)} entities; the entity choice is single"
        if vote.entity and vote.entity[0] not in allowed:
            return f"{label} chose {vote.entity[0]!r}, which is not among the task's candidates"
        unknown = sorted(set(vote.reasons) - reasons)
        if unknown:
            return f"{label} gave an unknown reject reason {unknown[0]!r}"
    return None


def _swap_in(ids: list[str], sample_id: str, old: str, new: str) -> list[str]:
    """The candidate set with ``new`` in place of a negative chosen by hash (never the old gold)."""
    if new in ids:
        return ids
    slots = [i for i, eid in enumerate(ids) if eid != old] or list(range(len(ids)))
    pick = slots[int(hashlib.sha256(f"{sample_id}\x1f{new}".encode()).hexdigest(), 16) % len(slots)]
    out = list(ids)
    out[pick] = new
    return out


def apply_review(dataset, tasks: list[TaskResult], *, source: str, export_sha256: str = "", export_format: str = "") -> Outcome:
    """Apply the decisions of ``tasks`` to a copy of ``dataset``; returns it with the report."""
    entities = dataset.entities
    index = NeighbourIndex(dataset.kb)
    originals = {s.id: s for s in dataset.all_samples() if s.augmented_from is None}
    copies: dict[str, list[Sample]] = defaultdict(list)
    for s in dataset.all_samples():
        if s.augmented_from is not None:
            copies[s.augmented_from].append(s)
    augmented = {c.id for group in copies.values() for c in group}
    rounds = dataset.meta.get("annotation", {}).get("rounds", [])
    round_no = len(rounds) + 1

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
        problem = _validate(task, originals.get(sid), dataset, index, entities) if task.problem is None else task.problem
        if problem:
            invalid.append(_problem(task, problem))
            continue
        accepted[sid].append(task)

    relinks: dict[str, str] = {}
    removals: dict[str, tuple[str, str]] = {}
    changes, removed, conflicts, notes = [], [], [], []
    confirmed = annotations = unannotated = 0
    for sid in sorted(accepted):
        sample = originals[sid]
        votes = [(task, vote) for task in accepted[sid] for vote in task.votes]
        annotations += len(votes)
        unannotated += sum(1 for task in accepted[sid] if not task.votes)
        tally = Counter(vote.decision for _, vote in votes if vote.decision)
        outcome = None
        if tally:
            top = max(tally.values())
            winners = sorted(k for k, n in tally.items() if n == top)
            if len(winners) > 1:
                conflicts.append({"sample_id": sid, "votes": dict(sorted(tally.items()))})
                outcome = "conflict"
            else:
                outcome = winners[0]
        for task, vote in votes:
            if vote.note:
                notes.append({"round": round_no, "sample_id": sid, "task": task.task_id, "annotation": vote.annotation_id,
                              "annotator": vote.annotator, "decision": vote.decision, "note": vote.note})
        sample_notes = " | ".join(vote.note for _, vote in votes if vote.note)
        if outcome is None or outcome == "conflict":
            continue
        if outcome == f"link:{sample.entity_id}":
            confirmed += 1
        elif outcome.startswith("link:"):
            relinks[sid] = outcome[len("link:"):]
            changes.append({"sample_id": sid, "split": sample.split, "from": sample.entity_id, "to": relinks[sid]})
        else:
            if outcome == "nil":
                reason, detail = NIL_REASON, f"review round {round_no}: the entity is not in the KB (NIL)"
            else:
                why = sorted({r for _, vote in votes if vote.decision == "reject" for r in vote.reasons})
                reason, detail = REJECTED_REASON, f"review round {round_no}: {', '.join(why)}"
            if sample_notes:
                detail += f"; notes: {sample_notes}"
            removals[sid] = (reason, detail)
            removed.append({"sample_id": sid, "split": sample.split, "reason": reason, "detail": detail})

    new = _rebuild(dataset, relinks, removals, originals, copies)
    edited = bool(relinks or removals or notes)
    report = {
        "round": round_no,
        "source": source,
        "format": export_format,
        "export_sha256": export_sha256,
        "tasks_seen": len(tasks),
        "samples_reviewed": len(accepted),
        "annotations": annotations,
        "unannotated_tasks": unannotated,
        "confirmed": confirmed,
        "changed": len(changes),
        "rejected": sum(1 for r in removed if r["reason"] == REJECTED_REASON),
        "nil": sum(1 for r in removed if r["reason"] == NIL_REASON),
        "conflicting": len(conflicts),
        "notes": len(notes),
        "unknown_ids": unknown,
        "invalid": invalid,
        "edited": edited,
        "changes": changes,
        "removed": removed,
        "conflicts": conflicts,
    }
    if edited:
        summary = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items() if k not in ("changes", "removed", "conflicts", "edited")}
        summary["report"] = report_path(round_no)
        meta = copy.deepcopy(new.meta)
        meta.setdefault("annotation", {}).setdefault("rounds", []).append(summary)
        new.meta = meta
    return Outcome(dataset=new, report=report, notes=notes)


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
    candidates = {}
    for split in EVAL_SPLITS:
        if split not in dataset.candidates:
            continue
        table = {}
        for sid, ids in dataset.candidates[split].items():
            if sid in gone:
                continue
            table[sid] = _swap_in(ids, sid, originals[sid].entity_id, relinks[sid]) if sid in relinks and sid in originals else list(ids)
        candidates[split] = table
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
