"""Dataset statistics (the paper's Table 1) and the Markdown tables that show them.

Pure functions of a loaded dataset; the integrity check behind ``emmel stats --check`` is ``emmel.integrity``.
"""

from __future__ import annotations

from collections import Counter

from emmel.schema import SPLITS


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

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths)) + " |"

    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def _width(text: str) -> int:
    """Terminal columns of a string: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def entity_frequency(dataset) -> Counter:
    return Counter(s.entity_id for s in dataset.all_samples() if s.augmented_from is None)
