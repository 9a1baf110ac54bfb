"""The two directions of the round trip, shared by the local commands and push / pull."""

from __future__ import annotations

import json
from pathlib import Path

from annotation.apply import Outcome, apply_review, is_report
from annotation.images import ImageError, ImageFiles, ImageURLs, URLMaker
from annotation.results import TaskResult
from annotation.tasks import DEFAULT_ORDER, build_tasks, check_order, read_predictions
from annotation.version import write_version
from emmel.errors import EmmelError
from emmel.io import check_output, check_output_file, sha256_file, write_output_file
from emmel.schema import SPLITS


def make_tasks(dataset, *, splits=SPLITS, images: ImageURLs, predictions: str | Path | None = None,
               order=DEFAULT_ORDER, problems: list[str] | None = None) -> list[dict]:
    """Task JSON for the original samples of ``splits`` in ``order`` (``annotation.tasks.ORDERS``; ``uncertainty``
    needs ``predictions``); bad image paths are errors naming the sample. ``problems`` collects one line per
    prediction that could not be used as given."""
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise EmmelError(f"unknown split {unknown[0]!r} (choose from {', '.join(SPLITS)})")
    order = check_order(order, predictions=bool(predictions))  # before the predictions are read
    rankings = read_predictions(predictions, dataset, problems) if predictions else None
    try:
        tasks = build_tasks(dataset, splits, URLMaker(dataset.root, images), rankings, order=order, problems=problems)
    except ImageError as exc:
        raise EmmelError(str(exc), path=dataset.root) from None
    if not tasks:
        raise EmmelError(f"no samples in split(s) {', '.join(splits)}", path=dataset.root)
    return tasks


def check_images(dataset) -> None:
    """Every sample's image path stays inside the dataset folder and exists."""
    files = ImageFiles(dataset.root)
    for split in SPLITS:
        for sample in dataset.samples.get(split, []):
            try:
                files(sample)
            except ImageError as exc:
                raise EmmelError(str(exc).split(": ", 1)[-1], path=Path(dataset.root) / f"{split}.jsonl", record=f"sample {sample.id}") from None


def import_review(
    dataset_dir: str | Path,
    tasks: list[TaskResult],
    out: str | Path,
    *,
    source: str,
    export_format: str,
    export_sha256: str = "",
    strict: bool = False,
    overwrite: bool = False,
    report_file: str | Path | None = None,
    inputs: tuple = (),
) -> Outcome:
    """Apply parsed export tasks to the dataset at ``dataset_dir`` and write the version at ``out``
    (and the review report at ``report_file``). ``inputs``: other files the output must not replace
    (the export); both outputs are checked before any work (``emmel.io`` guards)."""
    from emmel.dataset import KIND, Dataset

    inputs = (dataset_dir, *inputs)
    check_output(out, kind=KIND, overwrite=overwrite, inputs=inputs)
    if report_file:
        check_output_file(report_file, overwrite=overwrite, is_ours=is_report, what="review report", inputs=inputs)
    dataset = Dataset.load(dataset_dir)
    check_images(dataset)
    outcome = apply_review(dataset, tasks, source=source, export_sha256=export_sha256, export_format=export_format)
    report = outcome.report
    if report["tasks_seen"] and len(report["unknown_ids"]) == report["tasks_seen"]:
        first = report["unknown_ids"][0]
        raise EmmelError(f"none of the {report['tasks_seen']} tasks belongs to this dataset (first: task {first['task']}, "
                         f"sample {first['sample_id']!r}); wrong dataset?", path=source)
    if strict and (report["invalid"] or report["unknown_ids"]):
        problems = problem_lines(report)
        raise EmmelError(f"{len(problems)} task(s) refused (--strict), first: {problems[0]}", path=source)
    if not any(True for _ in outcome.dataset.all_samples()):
        raise EmmelError("the review rejects every sample; refusing to write an empty dataset", path=source)
    write_version(outcome, Path(dataset_dir), Path(out), overwrite=overwrite, inputs=inputs)
    if report_file:
        write_output_file(report_file, (json.dumps(report, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8"),
                          overwrite=overwrite, is_ours=is_report, what="review report", inputs=inputs)
    return outcome


def import_file(dataset_dir, export_path, out, **kwargs) -> Outcome:
    from annotation.results import load_export

    export_path = Path(export_path)
    fmt, tasks = load_export(export_path)
    return import_review(dataset_dir, tasks, out, source=export_path.name, export_format=fmt, export_sha256=sha256_file(export_path),
                         inputs=(export_path,), **kwargs)


def problem_lines(report: dict) -> list[str]:
    """One readable line per refused task."""
    lines = [f"task {p['task']}: unknown sample id {p['sample_id']!r}" for p in report["unknown_ids"]]
    lines += [f"task {p['task']}" + (f" (sample {p['sample_id']})" if p["sample_id"] else "") + f": {p['problem']}" for p in report["invalid"]]
    return lines


def summary_line(report: dict) -> str:
    keys = ("tasks_seen", "annotations", "confirmed", "changed", "rejected", "nil", "conflicting", "notes")
    parts = [f"{k.replace('_', ' ')} {report[k]}" for k in keys]
    parts += [f"unknown ids {len(report['unknown_ids'])}", f"invalid {len(report['invalid'])}"]
    return ", ".join(parts)
