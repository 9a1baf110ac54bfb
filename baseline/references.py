"""Published numbers of the field's MEL benchmarks: the reference rows and columns of `emmel benchmark`'s table.

They were not produced by emmel; they are printed beside a run, labelled as published, in the
columns of the protocol they were measured with (never mixed):

- **whole KB** (MIMIC, KDD'23, and successors): every KB entity ranked; H@1/3/5 and MRR (%) on the
  test split of MIMIC's cleaned WikiMEL / RichpediaMEL / WikiDiverse (MIMIC's README and logs;
  CLIP and GHMFC as re-run by MIMIC);
- **candidates** (GHMFC, DWE+, UniMEL, the EMMEL paper): about 100 candidates per mention,
  Top-1/5/10 (%); each paper used its own lists (GHMFC: fuzzy top-100 with the gold not always in;
  DWE+: WikiDiverse's 10 padded to 100, gold prepended; EMMEL paper: λ = 100).

Which benchmark a dataset is comes from its manifest: ``emmel import`` writes the benchmark's name
(``name``: WikiMEL, RichpediaMEL, WikiDiverse, COCO-CN; GHMFC's Richpedia-MEL folder name). Facts
from ../shared/MEL_BENCHMARKS.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KB_COLUMNS = ("h1", "h3", "h5", "mrr")  # what the whole-KB papers report
CANDIDATE_COLUMNS = ("top1", "top5", "top10")


@dataclass(frozen=True)
class Published:
    """One method's published numbers on one benchmark, under one protocol."""

    method: str
    protocol: str  # "kb" (whole KB: h1/h3/h5/mrr) or "candidates" (top1/top5/top10)
    numbers: dict  # column → value (%); a column the paper does not report is absent
    source: str


MIMIC_SRC = "pengfei-luo/MIMIC README and logs (whole KB, MIMIC's cleaned data)"
UNIMEL_SRC = "Javkonline/UniMEL README (candidate protocol)"
EMMEL_SRC = "EMMEL paper, Table 4 (candidate protocol, λ = 100)"

# method → (source, {benchmark: (H@1, H@3, H@5, MRR)}); None where a paper gives no number
WHOLE_KB = {
    "CLIP (re-run by MIMIC)": (MIMIC_SRC, {"WikiMEL": (83.23, None, None, 88.23), "RichpediaMEL": (67.78, None, None, 77.57),
                                           "WikiDiverse": (61.21, None, None, 71.69)}),
    "GHMFC (re-run by MIMIC)": (MIMIC_SRC, {"WikiMEL": (76.55, None, None, 83.36), "RichpediaMEL": (72.92, None, None, 80.76),
                                            "WikiDiverse": (60.27, None, None, 70.99)}),
    "MIMIC (KDD'23)": (MIMIC_SRC, {"WikiMEL": (87.98, 95.07, 96.37, 91.82), "RichpediaMEL": (81.02, 91.77, 94.38, 86.95),
                                   "WikiDiverse": (63.51, 81.04, 86.43, 73.44)}),
    "M3EL (KDD'25)": ("zhiweihu1103/MEL-M3EL (KDD'25)", {"WikiMEL": (88.84, 95.20, 96.71, 92.30), "RichpediaMEL": (82.82, 92.73, 95.34, 88.26),
                                                         "WikiDiverse": (74.06, 86.57, 90.04, 81.29)}),
    "MMoE (KDD'25)": ("zhiweihu1103/MEL-MMoE (KDD'25)", {"WikiMEL": (90.77, 96.27, 97.41, 93.75), "RichpediaMEL": (85.51, 93.43, 95.31, 89.86),
                                                         "WikiDiverse": (77.57, 89.12, 92.49, 84.23)}),
}
# method → (source, {benchmark: (Top-1, Top-5, Top-10)})
CANDIDATES = {
    "GHMFC": (UNIMEL_SRC, {"WikiMEL": (43.6, 64.0, 74.4), "RichpediaMEL": (38.7, 50.9, 58.5)}),
    "DWE+": (UNIMEL_SRC, {"WikiMEL": (72.8, 97.5, 98.9), "RichpediaMEL": (72.5, 97.3, 98.8), "WikiDiverse": (51.2, 91.0, 96.3)}),
    "UniMEL (LLM)": (UNIMEL_SRC, {"WikiMEL": (94.1, 97.2, 98.4), "RichpediaMEL": (94.8, 97.9, 98.3), "WikiDiverse": (92.9, 97.0, 99.5)}),
}


def _published(benchmark: str) -> tuple[Published, ...]:
    rows = []
    for protocol, table, columns in (("kb", WHOLE_KB, KB_COLUMNS), ("candidates", CANDIDATES, CANDIDATE_COLUMNS)):
        for method, (source, numbers) in table.items():
            if benchmark in numbers:
                values = {c: v for c, v in zip(columns, numbers[benchmark]) if v is not None}
                rows.append(Published(method, protocol, values, source))
    return tuple(rows)


PUBLISHED: dict[str, tuple[Published, ...]] = {name: _published(name) for name in ("WikiMEL", "RichpediaMEL", "WikiDiverse", "COCO-CN", "EMMEL")}

# The EMMEL paper's numbers for emmel's own rows (Top-1/5/10, candidate protocol), per benchmark; EMMEL's
# own (Table 3) are baseline.config.MODEL_KINDS[...].paper.
PAPER_ROWS: dict[str, dict[str, tuple[float, float, float]]] = {
    "COCO-CN": {"clip-zeroshot": (21.8, 50.8, 65.7), "clip-finetuned": (34.2, 71.7, 85.9), "mcr": (71.7, 87.1, 90.4)},  # Table 3
    "WikiMEL": {"mcr": (74.6, 83.8, 86.2)},  # Table 4
    "WikiDiverse": {"mcr": (58.4, 97.1, 97.9)},  # Table 4
    "RichpediaMEL": {},
}
PAPER_SOURCES = {"COCO-CN": "EMMEL paper, Table 3 (COCO-CN)", "WikiMEL": EMMEL_SRC, "WikiDiverse": EMMEL_SRC}

# How datasets name the benchmarks (compared lower-cased, letters and digits only).
ALIASES = {
    "wikimel": "WikiMEL", "wikidatamel": "WikiMEL",
    "richpediamel": "RichpediaMEL",
    "wikidiverse": "WikiDiverse",
    "cococn": "COCO-CN",
    "emmel": "EMMEL",
}


def _key(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def benchmark_of(meta: dict) -> str | None:
    """The benchmark a dataset is, from its manifest (``benchmark``, ``name``, the imported folder's name), or None."""
    imported = meta.get("import") if isinstance(meta.get("import"), dict) else {}
    for name in (meta.get("benchmark"), imported.get("benchmark"), meta.get("name"), imported.get("source")):
        if name and _key(name) in ALIASES:
            return ALIASES[_key(name)]
    return None


def reference_rows(benchmark: str | None) -> list[Published]:
    """Other methods' published numbers on ``benchmark`` (whole-KB first, then candidate protocol)."""
    rows = PUBLISHED.get(benchmark or "", ())
    return [r for r in rows if r.protocol == "kb"] + [r for r in rows if r.protocol == "candidates"]


def paper_row(benchmark: str | None, kind) -> tuple[float, float, float] | None:
    """The EMMEL paper's Top-1/5/10 for emmel's row ``kind`` on ``benchmark`` (EMMEL's Table 3 when it is EMMEL
    or unknown, as for a dataset `emmel build` made), or None where the paper has none."""
    if benchmark in PAPER_ROWS:
        return PAPER_ROWS[benchmark].get(kind.name)
    return kind.paper


def paper_source(benchmark: str | None) -> str:
    return PAPER_SOURCES.get(benchmark or "", "EMMEL paper, Table 3 (EMMEL test set, Top-1/5/10 %)")
