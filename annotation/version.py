"""Write the reviewed dataset as a new version folder (never in place).

The review files live inside the new folder, under ``annotation/``, so the manifest covers them and
they travel with the data: ``notes.jsonl`` (every note of every round) and ``round-NNN.json`` (the
report of round NNN). Files of earlier rounds are carried forward unchanged. Without edits nothing
new is written, so the new folder is byte-identical to the old one.
"""

from __future__ import annotations

from pathlib import Path

from annotation.apply import Outcome, report_path
from emmel.dataset import KIND, carry_files, has_plots
from emmel.io import atomic_directory, dumps, read_jsonl, write_json, write_jsonl

NOTES = "annotation/notes.jsonl"


def write_version(outcome: Outcome, source: Path, out: Path, *, overwrite: bool = False, inputs=()) -> Path:
    """The new version at ``out``: never the input dataset (nor its ancestor, nor any of ``inputs``)."""
    source, out = Path(source), Path(out)
    plots = has_plots(source)
    with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=(source, *inputs)) as tmp:
        carry_files(source, tmp)
        if outcome.edited:
            rows = read_jsonl(tmp / NOTES) if (tmp / NOTES).exists() else []
            rows += outcome.notes
            rows.sort(key=lambda r: (r.get("round", 0), r.get("sample_id", ""), dumps(r.get("task")), dumps(r.get("annotation"))))
            if rows:
                write_jsonl(tmp / NOTES, rows)
            write_json(tmp / report_path(outcome.report["round"]), outcome.report)
        outcome.dataset.write_into(tmp, plots=plots)
    outcome.dataset.root = out
    return out
