"""Dataset statistics (the paper's Table 1) and the integrity check behind ``emmel stats --check``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from emmel.io import read_json, sha256_file
from emmel.schema import EVAL_SPLITS, SPLITS


def table1(dataset) -> list[dict]:
    """Rows of Table 1: samples, entities and average text length per split and in total."""
    rows = []
    everything = []
    for split in SPLITS:
        samples = dataset.samples.get(split, [])
        everything.extend(samples)
        rows.append(_row(split, samples))
    total = _row("total", everything)
    total["entities"] = len(dataset.kb)  # the KB, not only the linked entities
    rows.append(total)
    return rows


def _row(name: str, samples) -> dict:
    lengths = [len(s.text) for s in samples]
    return {
        "split": name,
        "samples": len(samples),
        "augmented": sum(1 for s in samples if s.augmented_from is not None),
        "entities": len({s.entity_id for s in samples}),
        "avg_text_len": round(sum(lengths) / len(lengths), 1) if lengths else 0.0,
    }


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A Markdown table (readable in a terminal and in the dataset card)."""
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(_width(c), *(_width(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "| " + " | ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths)) + " |"
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def _width(text: str) -> int:
    """Terminal columns of a string: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def entity_frequency(dataset) -> Counter:
    return Counter(s.entity_id for s in dataset.all_samples() if s.augmented_from is None)


def check(folder: str | Path) -> list[str]:
    """Every integrity problem of a dataset folder, as readable lines; empty when all is well.

    Checks: schema of every file, sha256 of every file in the manifest, no stray files, split
    disjointness (ids, images and leakage groups), entity ids resolve, candidate sets hold the
    gold and λ distinct KB entities, augmentations only in train, the knowledge graph is the one
    of kb.jsonl, and the accounting identity.
    """
    from emmel.dataset import MANIFEST, Dataset
    from emmel.errors import EmmelError

    folder = Path(folder)
    try:
        dataset = Dataset.load(folder)
    except EmmelError as exc:
        return [str(exc)]
    problems: list[str] = []
    manifest = read_json(folder / MANIFEST)
    listed = manifest.get("files", {})
    for rel, digest in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: sha256 differs from the manifest")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST and rel not in listed:
            problems.append(f"{rel}: file not listed in the manifest")

    entities = dataset.entities
    if len(entities) != len(dataset.kb):
        problems.append("kb.jsonl: duplicate entity ids")
    seen_ids: dict[str, str] = {}
    where: dict[str, dict[str, set]] = {"image_sha256": {}, "group": {}}
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
            for key in where:
                value = getattr(sample, key)
                if value:
                    where[key].setdefault(value, set()).add(split)
    for key, values in where.items():
        leaks = sorted(v for v, splits in values.items() if len(splits) > 1)
        if leaks:
            problems.append(f"{key} shared across splits ({len(leaks)}), e.g. {leaks[0]}")
    lam = int(manifest.get("lambda", 0) or 0)
    for split in EVAL_SPLITS:
        samples = dataset.samples.get(split, [])
        cands = dataset.candidates.get(split)
        if samples and cands is None:
            problems.append(f"candidates/{split}.jsonl: missing")
            continue
        for sample in samples:
            ids = cands.get(sample.id)
            tag = f"candidates/{split}.jsonl: sample {sample.id}"
            if ids is None:
                problems.append(f"{tag}: no candidate set")
                continue
            if sample.entity_id not in ids:
                problems.append(f"{tag}: gold {sample.entity_id} not among the candidates")
            if len(set(ids)) != len(ids):
                problems.append(f"{tag}: duplicate candidates")
            unknown = [i for i in ids if i not in entities]
            if unknown:
                problems.append(f"{tag}: unknown entity {unknown[0]}")
            if lam and len(ids) != min(lam, len(entities)):
                problems.append(f"{tag}: {len(ids)} candidates, expected {min(lam, len(entities))}")
        extra = set(cands or ()) - {s.id for s in samples}
        if extra:
            problems.append(f"candidates/{split}.jsonl: {len(extra)} rows for unknown samples")
    problems += _check_graph(folder, dataset.kb)
    counts = manifest.get("counts", {})
    recomputed = dataset.counts()
    if counts.get("input_records") != counts.get("kept", -1) + counts.get("rejected", -1):
        problems.append(
            f"accounting: input_records {counts.get('input_records')} != kept {counts.get('kept')} + rejected {counts.get('rejected')}"
        )
    for key in ("kept", "rejected", "entities", "samples", "augmented"):
        if counts.get(key) != recomputed[key]:
            problems.append(f"manifest counts.{key} = {counts.get(key)} but the files hold {recomputed[key]}")
    return problems


def _check_graph(folder: Path, kb) -> list[str]:
    """``kg/triples.jsonl`` must be the graph of ``kb.jsonl`` (datasets older than the graph have none)."""
    from emmel.errors import EmmelError
    from emmel.kg import TRIPLES_FILE, build_graph, read_triples

    path = folder / TRIPLES_FILE
    if not path.exists():
        return []
    try:
        stored = read_triples(path)
    except EmmelError as exc:
        return [str(exc)]
    expected = build_graph(kb).triples
    if stored != expected:
        missing, extra = len(set(expected) - set(stored)), len(set(stored) - set(expected))
        return [f"{TRIPLES_FILE}: not the graph of kb.jsonl ({missing} triples missing, {extra} unexpected)"]
    return []
