"""What ``Dataset.save`` writes beside the JSONL: Parquet tables, plots and the dataset card."""

from __future__ import annotations

import io
from pathlib import Path

from emmel.io import atomic_write_bytes, atomic_write_text, dumps
from emmel.schema import SPLITS
from emmel.stats import entity_frequency, format_table, table1
from emmel.textfiles import encoding_label

PLOTS = ("entity_frequency.png", "text_length.png", "image_size.png")
MAX_BARS = 5000  # entities drawn as bars in the frequency plot; beyond, a filled step curve
LIST_COLUMNS = ("aliases", "source_urls", "images")  # kept as Parquet lists; other nested fields become JSON strings


def write_parquet(dataset, folder: Path) -> None:
    """``parquet/{kb,train,dev,test}.parquet``; nested fields (source, augmentation) as JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def table(rows: list[dict]) -> pa.Table:
        flat = [{k: (dumps(v) if isinstance(v, (dict, list)) and k not in LIST_COLUMNS else v) for k, v in r.items()} for r in rows]
        columns = list(dict.fromkeys(k for r in flat for k in r))
        if any(len(r) != len(columns) for r in flat):  # optional fields present in some rows only
            flat = [{k: r.get(k) for k in columns} for r in flat]
        return pa.Table.from_pylist(flat) if flat else pa.table({})

    tables = {"kb": [e.to_dict() for e in sorted(dataset.kb, key=lambda e: e.id)]}
    for split in SPLITS:
        tables[split] = [s.to_dict() for s in sorted(dataset.samples.get(split, []), key=lambda s: s.id)]
    for name, rows in tables.items():
        buffer = io.BytesIO()
        pq.write_table(table(rows), buffer, compression="zstd")
        atomic_write_bytes(folder / "parquet" / f"{name}.parquet", buffer.getvalue())


def write_plots(dataset, folder: Path) -> None:
    """Entity frequency (rank plot), text length and image size histograms, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    originals = [s for s in dataset.all_samples() if s.augmented_from is None]
    freq = sorted(entity_frequency(dataset).values(), reverse=True)

    def save(fig, name: str) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        atomic_write_bytes(folder / "plots" / name, buffer.getvalue())

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if len(freq) <= MAX_BARS:
        ax.bar(range(1, len(freq) + 1), freq, width=1.0, color="#3b6ea5")
    else:  # one patch per entity would take minutes for an imported 100k-entity benchmark; same picture
        ax.fill_between(range(1, len(freq) + 1), freq, step="mid", color="#3b6ea5")
    ax.set(title="Samples per entity (rank order)", xlabel="entity rank", ylabel="samples")
    if freq and max(freq) > 20 * max(1, min(freq)):
        ax.set_yscale("log")
    fig.tight_layout()
    save(fig, PLOTS[0])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for split in SPLITS:
        lengths = [len(s.text) for s in dataset.samples.get(split, []) if s.augmented_from is None]
        if lengths:
            ax.hist(lengths, bins=min(40, max(5, len(set(lengths)))), alpha=0.6, label=split)
    ax.set(title="Description length (characters)", xlabel="characters", ylabel="samples")
    if originals:
        ax.legend()
    fig.tight_layout()
    save(fig, PLOTS[1])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if originals:
        ax.hist([min(s.width, s.height) for s in originals], bins=30, alpha=0.6, label="shorter side")
        ax.hist([max(s.width, s.height) for s in originals], bins=30, alpha=0.6, label="longer side")
        ax.legend()
    ax.set(title="Image size (pixels)", xlabel="pixels", ylabel="images")
    fig.tight_layout()
    save(fig, PLOTS[2])


def write_card(dataset, folder: Path, graph=None) -> None:
    """The dataset card ``README.md``: YAML front matter, then what is in the folder, Table 1, the knowledge graph,
    provenance and licenses."""
    meta = dataset.meta
    counts = dataset.counts()
    rows = table1(dataset)
    licenses = {}
    for s in dataset.all_samples():
        licenses[s.license or "(none given)"] = licenses.get(s.license or "(none given)", 0) + 1
    kinds = {}
    for s in dataset.all_samples():
        kind = s.source.get("kind", "") or "unknown"
        kinds[kind] = kinds.get(kind, 0) + 1
    reasons = counts["rejected_by_reason"]
    lines = [
        *front_matter(dataset),
        f"# {meta.get('name', 'EMMEL')} dataset card",
        "",
        *((meta["description"], CHECK_LINE) if meta.get("description") else DESCRIPTION),
        "",
        "## Statistics (Table 1)",
        "",
        format_table(rows, ["split", "samples", "augmented", "entities", "avg_text_len"]),
        "",
        _candidates_line(meta.get("candidates"), counts["candidates_per_sample"], len(dataset.kb)) + f" Seed: {meta.get('seed')}.",
        *(() if (meta.get("candidates") or {}).get("origin") == "imported" else (CANDIDATE_ORDER,)),  # how a build chose them
        "",
        "## Accounting",
        "",
        f"Input records: {counts['input_records']} = kept {counts['kept']} + rejected {counts['rejected']}.",
        "",
    ]
    if reasons:
        lines += [format_table([{"reason": k, "records": v} for k, v in reasons.items()]), ""]
    if graph is not None:
        lines += _graph_lines(graph.summary())
    lines += ["## Sources", ""]
    for source in meta.get("sources", []):
        read_as = f", read as {encoding_label(source['encoding'])}" if source.get("encoding") else ""  # older datasets: not recorded
        lines.append(f"- `{source.get('name')}` ({source.get('kind', 'unknown')}): {source.get('records', '?')} records{read_as}, "
                     f"sha256 `{source.get('records_sha256', '')[:16]}`")
    if kinds:
        lines += ["", format_table([{"source kind": k, "samples": v} for k, v in sorted(kinds.items())])]
    lines += ["", "## Licenses and attribution", "", format_table([{"license": k, "samples": v} for k, v in sorted(licenses.items())]), ""]
    if meta.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in meta["notes"]], ""]
    if (folder / "plots").exists():
        lines += ["## Plots", ""] + [f"![{p}](plots/{p})" for p in PLOTS if (folder / "plots" / p).exists()] + [""]
    atomic_write_text(folder / "README.md", "\n".join(lines))


CANDIDATE_ORDER = ("Negatives are chosen hardest first: same base name (春节 vs 春节(查干萨日)), then the most similar labels "
                   "and texts, then the entities sharing most knowledge-graph facts with the gold (ethnic group, place at "
                   "each level, category), then seeded random; the list is shuffled.")


def _graph_lines(summary: dict) -> list[str]:
    from emmel.kg import NAMESPACE, TRIPLES_FILE, TURTLE_FILE

    places = summary["places"]
    regions = summary["regions"]
    n = summary["entities"]
    return [
        "## Knowledge graph",
        "",
        f"`{TRIPLES_FILE}` (JSON Lines) and `{TURTLE_FILE}` (RDF Turtle, prefixes under `{NAMESPACE}`): {summary['triples']} triples "
        f"linking the {n} entities to the national list's categories, the 56 ethnic groups and places "
        "(province → prefecture → county, parsed from the region strings).",
        "",
        format_table([
            {"relation": "category (one of the national list's ten)", "entities": summary["with_national_category"]},
            {"relation": "ethnic_group", "entities": summary["with_ethnic_group"]},
            {"relation": "located_in", "entities": summary["with_place"]},
            {"relation": "variant_of (qualified label → its base)", "entities": summary["variant_of"]},
        ]),
        "",
        "Places in use: " + ", ".join(f"{places[k]} {name}" for k, name in (("province", "provinces"), ("prefecture", "prefectures"),
                                                                          ("county", "counties"), ("city", "cities of unstated level")) if places.get(k))
        + ". Region strings: "
        + ", ".join(f"{regions.get(k, 0)} {label}" for k, label in (("complete", "parsed fully"), ("partial", "partly (an organisation after the province)"),
                                                                  ("unparsed", "not at all"), ("empty", "empty"))) + ".",
        "",
    ]


DESCRIPTION = (  # the card of a build; an import gives its own description (meta "description") + CHECK_LINE
    "A Chinese multimodal entity linking (MEL) dataset built by emmel: each sample pairs an image",
    "with a short Chinese description and links it to one entity of `kb.jsonl`. The format is",
    "documented in emmel's `docs/FORMAT.md`; `emmel stats --check` verifies this folder.",
)
CHECK_LINE = "The format is documented in emmel's `docs/FORMAT.md`; `emmel stats --check` verifies this folder."


def _candidates_line(candidates: dict | None, lam: int, kb_size: int) -> str:
    if candidates and candidates.get("origin") == "imported":
        recall = ", ".join(f"{split} {100 * value:.2f} %" for split, value in candidates.get("gold_recall", {}).items())
        return (f"Candidates per dev/test sample: imported from `{candidates.get('source')}` and kept as shipped "
                f"(gold recall: {recall or 'n/a'}; a gold missing from its list counts as a miss).")
    return _lambda_line(lam, kb_size)


SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"))


def front_matter(dataset) -> list[str]:
    """The card's YAML header (Hugging Face Hub metadata): what the Hub indexes, and the ``configs`` that let
    ``datasets.load_dataset(FOLDER)`` find the Parquet files of each split (config ``kb``: the KB) by itself.
    The candidate sets stay JSONL only: one dataset folder is read by one ``datasets`` builder."""
    rows = sum(len(dataset.samples.get(split, [])) for split in SPLITS)
    size = next((name for limit, name in SIZE_CATEGORIES if rows < limit), "n>10M" if rows < 100_000_000 else "other")
    configs = {
        "default": [(split, f"parquet/{split}.parquet") for split in SPLITS if dataset.samples.get(split)],
        "kb": [("kb", "parquet/kb.parquet")] if dataset.kb else [],
    }
    lines = [
        "---",
        f"pretty_name: {_yaml(dataset.meta.get('name', 'EMMEL'))}",
        "language:", *(f"- {code}" for code in dataset.meta.get("language", ["zh"])),
        "license: other",
        "license_name: per-sample",
        f"license_details: {_yaml('Every sample carries its own license and source; see Licenses and attribution below.')}",
        "task_categories:", "- text-retrieval",
        "task_ids:", "- entity-linking-retrieval",
        "tags:", *(f"- {tag}" for tag in dataset.meta.get("tags", ["multimodal-entity-linking", "intangible-cultural-heritage", "emmel"])),
        "size_categories:", f"- {size}",
        "configs:",
    ]
    for name, files in configs.items():
        if not files:
            continue
        lines += [f"- config_name: {name}", *(["  default: true"] if name == "default" else []), "  data_files:"]
        lines += [line for split, path in files for line in (f"  - split: {split}", f"    path: {path}")]
    return [*lines, "---", ""]


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(str(text), ensure_ascii=False)


def _lambda_line(lam: int, kb_size: int) -> str:
    if lam and kb_size < lam:
        return f"Candidates per dev/test sample: λ = {lam} asked, but the KB has {kb_size} entities, so every entity is a candidate."
    return f"Candidates per dev/test sample (λ): {lam}."
