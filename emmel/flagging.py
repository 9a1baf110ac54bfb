"""``emmel flag``: flag model-suspected mismatches in an existing dataset and write the result as a new version.

The rule is :mod:`emmel.suspect`'s, the scorer comes from above (the command wires the baseline's
CLIP in), and the new version is written like a reviewed one: atomically, never over the input,
with the review history under ``annotation/`` carried forward.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from emmel.config import SuspectConfig
from emmel.dataset import KIND, Dataset, carry_files, has_plots
from emmel.errors import EmmelError
from emmel.images import ImageProblem, check_image_file
from emmel.io import atomic_directory, check_output
from emmel.schema import SPLITS, Reject, Sample
from emmel.suspect import REASON, Flags, PairInput, PairScorer, flag_pairs


def dataset_pairs(dataset) -> tuple[list[PairInput], list[str]]:
    """The original samples of a loaded dataset as pairs (split, then id order), and each one's entity id."""
    entities = dataset.entities
    pairs, entity_ids = [], []
    for split in SPLITS:
        for sample in sorted(dataset.samples.get(split, []), key=lambda s: s.id):
            if sample.augmented_from is not None:
                continue
            if sample.entity_id not in entities:
                raise EmmelError(f"sample {sample.id}: entity {sample.entity_id} is not in kb.jsonl", path=Path(dataset.root) / f"{split}.jsonl")
            try:
                image = dataset.image_path(sample)
            except ValueError as exc:
                raise EmmelError(f"sample {sample.id}: unsafe image path ({exc})", path=Path(dataset.root) / f"{split}.jsonl") from None
            try:
                check_image_file(image, limits=None)  # every image is there before a model is fitted
            except ImageProblem as exc:
                state = "is missing" if exc.detail == "not found" else exc.detail
                raise EmmelError(f"image {sample.image!r} of sample {sample.id} {state}", path=dataset.root) from None
            pairs.append(PairInput(sample.id, split, image, sample.text, entities[sample.entity_id].label))
            entity_ids.append(sample.entity_id)
    return pairs, entity_ids


def apply_flags(dataset, flags: Flags, config: SuspectConfig):
    """A copy of ``dataset`` whose original samples carry their new ``suspect`` field (earlier ones are replaced),
    with ``meta["suspect"]`` set; with ``config.reject`` the flagged samples (and their augmented copies) become
    rejects ``<split>.jsonl:<sample id>`` with reason ``suspect_mismatch``."""
    gone = set(flags.flagged) if config.reject else set()
    new = copy.copy(dataset)
    new.samples = {}
    for split in SPLITS:
        rows = []
        for s in dataset.samples.get(split, []):
            if s.id in gone or s.augmented_from in gone:
                continue
            rows.append(replace(s, suspect=flags.by_sample.get(s.id)))
        new.samples[split] = rows
    new.candidates = {split: {sid: list(ids) for sid, ids in table.items() if sid not in gone} for split, table in dataset.candidates.items()}
    originals = {s.id: s for s in dataset.all_samples()}
    new.rejects = list(dataset.rejects) + [sample_reject(originals[sid], flags.by_sample[sid]) for sid in flags.flagged if sid in gone]
    new.meta = {**copy.deepcopy(dataset.meta), "suspect": flags.summary}
    return new


def sample_reject(sample: Sample, field: dict) -> Reject:
    """The reject of a flagged sample of an existing dataset (its record is ``<split>.jsonl:<sample id>``, as for reviews)."""
    source = sample.source if isinstance(sample.source, dict) else {}
    return Reject(record=f"{sample.split}.jsonl:{sample.id}", reason=REASON, detail=field["reason"],
                  record_id=source.get("record_id") if isinstance(source.get("record_id"), str) else None,
                  source=source.get("name") if isinstance(source.get("name"), str) else "")


def flag_dataset(dataset_dir: str | Path, out: str | Path, scorer: PairScorer | Callable[[], PairScorer], config: SuspectConfig, *,
                 overwrite: bool = False, inputs: Sequence = ()) -> tuple[Path, Flags]:
    """``emmel flag``: score an existing dataset and write the result as a new version at ``out`` (never the input;
    the review history under ``annotation/`` travels with it). ``scorer`` may be a function that makes it, called once
    the output, the dataset and its images have been checked (loading a model takes time); ``inputs``: other paths
    ``out`` must not replace."""
    source, out = Path(dataset_dir), Path(out)
    guard = dict(kind=KIND, overwrite=overwrite, inputs=[source, *inputs])
    check_output(out, **guard)  # fail in a second, not after the model
    dataset = Dataset.load(source)
    pairs, entity_ids = dataset_pairs(dataset)
    if not hasattr(scorer, "describe"):
        scorer = scorer()
    flags = flag_pairs(pairs, entity_ids, scorer, config)
    new = apply_flags(dataset, flags, config)
    with atomic_directory(out, **guard) as tmp:
        carry_files(source, tmp)
        new.write_into(tmp, plots=has_plots(source))
        counts = new.counts()
        if counts["input_records"] != counts["kept"] + counts["rejected"]:
            raise EmmelError(f"internal accounting error: {counts}; please report this")
    return out, flags
