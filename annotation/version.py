"""Write the reviewed dataset as a new version folder (never in place).

The review files live inside the new folder, under ``annotation/``, so the manifest covers them and
they travel with the data: ``notes.jsonl`` (every note of every round) and ``round-NNN.json`` (the
report of round NNN). Files of earlier rounds are carried forward unchanged. Without edits nothing
new is written, so the new folder is byte-identical to the old one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from annotation.apply import Outcome, report_path
from emmel.dataset import KIND, MANIFEST
from emmel.errors import EmmelError
from emmel.io import atomic_directory, dumps, read_json, read_jsonl, safe_join, write_json, write_jsonl

NOTES = "annotation/notes.jsonl"


def write_version(outcome: Outcome, source: Path, out: Path, *, overwrite: bool = False, inputs=()) -> Path:
    """The new version at ``out``: never the input dataset (nor its ancestor, nor any of ``inputs``)."""
    source, out = Path(source), Path(out)
    listed = read_json(source / MANIFEST).get("files", {})
    carried = sorted(rel for rel in listed if rel.startswith("annotation/"))
    plots = any(rel.startswith("plots/") for rel in listed)
    with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=(source, *inputs)) as tmp:
        for rel in carried:
            try:
                src, dst = safe_join(source, rel), safe_join(tmp, rel)
            except ValueError as exc:
                raise EmmelError(f"manifest lists an unsafe path: {exc}", path=source / MANIFEST) from None
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
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
