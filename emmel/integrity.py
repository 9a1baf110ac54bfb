"""The integrity check behind ``emmel stats --check``: every problem of a dataset folder, as readable lines.

``check`` loads the folder and runs the named checks in order; each takes what it needs and
returns its problems, so each can be run (and tested) alone:

    files -> KB -> knowledge graph -> samples -> leakage across splits -> candidate sets -> accounting
"""

from __future__ import annotations

from pathlib import Path

from emmel.dataset import MANIFEST, Dataset
from emmel.errors import EmmelError
from emmel.io import MARKER, read_json, sha256_file
from emmel.schema import EVAL_SPLITS, SPLITS

LEAKAGE_KEYS = ("image_sha256", "group")  # a value of these may appear in one split only


def check(folder: str | Path) -> list[str]:
    """Every integrity problem of a dataset folder, as readable lines; empty when all is well.

    Checks: at least one sample, schema of every file, sha256 of every file in the manifest, no stray files, split
    disjointness (ids, images and leakage groups; an imported benchmark's official splits may share
    images), entity ids resolve, candidate sets hold the gold and λ distinct KB entities (imported
    lists may lack the gold where the manifest declares it, and then the count of misses must match),
    augmentations only in train, the knowledge graph is the one of kb.jsonl, and the accounting identity.
    """
    folder = Path(folder)
    try:
        dataset = Dataset.load(folder)
    except EmmelError as exc:
        return [str(exc)]
    manifest = read_json(folder / MANIFEST)
    listed = manifest.get("files", {})
    return [
        *check_files(folder, listed),
        *check_kb(dataset, listed),
        *check_graph(folder, dataset),
        *check_samples(dataset, listed),
        *([] if manifest.get("import", {}).get("official_splits") else check_leakage(dataset)),  # a benchmark's splits as published
        *check_candidates(dataset, int(manifest.get("lambda", 0) or 0), manifest.get("candidates", {})),
        *check_counts(dataset, manifest.get("counts", {})),
    ]


def check_files(folder: Path, listed: dict[str, str]) -> list[str]:
    """Every file of the manifest is there with its sha256, and nothing else is (but the manifest and emmel's output marker)."""
    problems = []
    for rel, digest in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 differs from the manifest")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in (MANIFEST, MARKER) and rel not in listed:
            problems.append(f"{rel}: file not listed in the manifest")
    return problems


def check_kb(dataset: Dataset, listed: dict[str, str]) -> list[str]:
    """Entity ids unique; every entity image (imported KBs carry them) listed in the manifest."""
    problems = ["kb.jsonl: duplicate entity ids"] if len(dataset.entities) != len(dataset.kb) else []
    for entity in dataset.kb:
        missing = [image for image in entity.images if image not in listed]
        if missing:
            problems.append(f"kb.jsonl: entity {entity.id}: image {missing[0]} not in the manifest")
    return problems


def check_graph(folder: Path, dataset: Dataset) -> list[str]:
    """``kg/triples.jsonl`` must be the graph of ``kb.jsonl`` (datasets older than the graph have none)."""
    from emmel.kg import TRIPLES_FILE, build_graph, read_triples

    path = folder / TRIPLES_FILE
    if not path.exists():
        return []
    try:
        stored = read_triples(path)
    except EmmelError as exc:
        return [str(exc)]
    expected = build_graph(dataset.kb).triples
    if stored == expected:
        return []
    missing, extra = len(set(expected) - set(stored)), len(set(stored) - set(expected))
    return [f"{TRIPLES_FILE}: not the graph of kb.jsonl ({missing} triples missing, {extra} unexpected)"]


def check_samples(dataset: Dataset, listed: dict[str, str]) -> list[str]:
    """At least one sample; each: in the file of its split, id unique, entity in the KB, augmented only in train, image listed."""
    problems = []
    if not any(True for _ in dataset.all_samples()):
        problems.append("the dataset holds no samples (every input record was rejected?)")
    entities = dataset.entities
    seen_ids: dict[str, str] = {}
    for split in SPLITS:
        for sample in dataset.samples.get(split, []):
            tag = f"{split}.jsonl: sample {sample.id}"
            if sample.split != split:
                problems.append(f"{tag}: split field says {sample.split!r}")
            if sample.id in seen_ids:
                problems.append(f"{tag}: id also in {seen_ids[sample.id]}")
            seen_ids[sample.id] = split
            if sample.entity_id not in entities:
                problems.append(f"{tag}: entity {sample.entity_id} not in kb.jsonl")
            if sample.augmented_from is not None and split != "train":
                problems.append(f"{tag}: augmented sample outside train")
            if sample.image not in listed:
                problems.append(f"{tag}: image {sample.image} not in the manifest")
    return problems


def check_leakage(dataset: Dataset) -> list[str]:
    """No image and no leakage group in two splits."""
    problems = []
    for key in LEAKAGE_KEYS:
        splits_of: dict[str, set[str]] = {}
        for split in SPLITS:
            for sample in dataset.samples.get(split, []):
                value = getattr(sample, key)
                if value:
                    splits_of.setdefault(value, set()).add(split)
        leaks = sorted(v for v, splits in splits_of.items() if len(splits) > 1)
        if leaks:
            problems.append(f"{key} shared across splits ({len(leaks)}), e.g. {leaks[0]}")
    return problems


def check_candidates(dataset: Dataset, lam: int, declared: dict | None = None) -> list[str]:
    """Every dev/test sample has one candidate set: the gold among ``lam`` distinct KB entities.

    ``declared`` is the manifest's ``candidates``: imported lists (``gold_always_included`` false)
    may lack the gold, and then exactly ``missing_gold[split]`` of them do.
    """
    declared = declared or {}
    gold_optional = declared.get("gold_always_included") is False
    problems = []
    entities = dataset.entities
    for split in EVAL_SPLITS:
        samples = dataset.samples.get(split, [])
        cands = dataset.candidates.get(split)
        if samples and cands is None:
            problems.append(f"candidates/{split}.jsonl: missing")
            continue
        for sample in samples:
            problems += _candidate_set_problems(f"candidates/{split}.jsonl: sample {sample.id}", sample.entity_id,
                                                cands.get(sample.id), entities, lam, gold_optional)
        extra = set(cands or ()) - {s.id for s in samples}
        if extra:
            problems.append(f"candidates/{split}.jsonl: {len(extra)} rows for unknown samples")
        if gold_optional and samples:
            missing = sum(1 for s in samples if s.entity_id not in (cands.get(s.id) or ()))
            said = declared.get("missing_gold", {}).get(split, 0)
            if missing != said:
                problems.append(f"candidates/{split}.jsonl: {missing} golds missing from their lists, but the manifest says {said}")
    return problems


def _candidate_set_problems(tag: str, gold: str, ids: list[str] | None, entities: dict, lam: int, gold_optional: bool = False) -> list[str]:
    if ids is None:
        return [f"{tag}: no candidate set"]
    problems = []
    if gold not in ids and not gold_optional:
        problems.append(f"{tag}: gold {gold} not among the candidates")
    if len(set(ids)) != len(ids):
        problems.append(f"{tag}: duplicate candidates")
    unknown = [i for i in ids if i not in entities]
    if unknown:
        problems.append(f"{tag}: unknown entity {unknown[0]}")
    if lam and len(ids) != min(lam, len(entities)):
        problems.append(f"{tag}: {len(ids)} candidates, expected {min(lam, len(entities))}")
    return problems


def check_counts(dataset: Dataset, counts: dict) -> list[str]:
    """The manifest's accounting identity holds and its counts are those of the files."""
    problems = []
    if counts.get("input_records") != counts.get("kept", -1) + counts.get("rejected", -1):
        problems.append(
            f"accounting: input_records {counts.get('input_records')} != kept {counts.get('kept')} + rejected {counts.get('rejected')}"
        )
    recomputed = dataset.counts()
    for key in ("kept", "rejected", "entities", "samples", "augmented"):
        if counts.get(key) != recomputed[key]:
            problems.append(f"manifest counts.{key} = {counts.get(key)} but the files hold {recomputed[key]}")
    return problems
