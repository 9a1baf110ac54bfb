"""What `emmel benchmark` writes: the Table-3-style table, results.json/.md, plots, saved models.

The output folder is written atomically; nothing in it depends on the clock, so the same data,
settings and seed give the same files on CPU.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from baseline.config import MODEL_KINDS, MODEL_NAMES
from emmel.io import atomic_directory, atomic_write_bytes, atomic_write_text, write_json, write_jsonl
from emmel.stats import format_table

KIND = "benchmark"  # the output kind in the results folder's emmel.io.MARKER
KB_KS = (1, 3, 5, 10, 20)  # the whole-KB protocol's H@k (MIMIC), with MR and MRR
PUBLISHED_MARK = "†"  # marks the reference rows: published numbers, not this run


def cell(result: dict, split: str, metric: str) -> str:
    """``77.8``, or ``77.8 ± 3.1`` (mean ± standard deviation) for a run over several seeds."""
    value = f"{result[split][metric]:.1f}"
    std = result.get("std", {}).get(split)
    return f"{value} ± {std[metric]:.1f}" if std and metric in std else value


def display_name(report: dict, name: str) -> str:
    """A row's label: the run's own (an English CLIP is named CLIP, not CN-CLIP), else the paper's."""
    return report["results"].get(name, {}).get("display") or MODEL_KINDS[name].display


def table_rows(report: dict) -> list[dict]:
    """The rows of the table like the paper's Table 3: this run's test Top-1/5/10 (and whole-KB H@k, MR,
    MRR) beside the EMMEL paper's numbers for the same rows, then other methods' published numbers (†)
    in the columns of the protocol they were measured with."""
    rows = []
    has_kb = any("kb" in r for r in report["results"].values())
    for name in MODEL_NAMES:
        result = report["results"].get(name)
        if result is None:
            continue
        row = {"model": display_name(report, name)}
        row.update({f"Top-{k}": cell(result, "test", f"top{k}") for k in (1, 5, 10)})
        if has_kb and "kb" in result:
            row.update({f"KB H@{k}": cell(result, "kb", f"h{k}") for k in KB_KS})
            row["KB MR"] = cell(result, "kb", "mr")
            row["KB MRR"] = cell(result, "kb", "mrr")
        if "paper" in result:
            row.update({f"paper Top-{k}": f"{result['paper'][f'top{k}']:.1f}" for k in (1, 5, 10)})
        rows.append(row)
    for ref in report.get("published", []):
        if ref["protocol"] == "kb" and not has_kb:
            continue
        row = {"model": f"{PUBLISHED_MARK} {ref['method']}, published"}
        names = {f"top{k}": f"Top-{k}" for k in (1, 5, 10)} if ref["protocol"] == "candidates" else \
            {**{f"h{k}": f"KB H@{k}" for k in KB_KS}, "mrr": "KB MRR"}
        row.update({names[key]: f"{value:.1f}" for key, value in ref["numbers"].items()})
        rows.append(row)
    columns = list(dict.fromkeys(c for r in rows for c in r))
    return [{c: r.get(c, "–") for c in columns} for r in rows]


def results_table(report: dict) -> str:
    """The Markdown table of :func:`table_rows` ("–" where a row has no number for a column)."""
    rows = table_rows(report)
    return format_table(rows) if rows else ""


def below_lexical(report: dict) -> list[str]:
    """The models whose test Top-1 (mean) is below the lexical baseline's."""
    results = report["results"]
    if "lexical" not in results:
        return []
    floor = results["lexical"]["test"]["top1"]
    return [name for name in MODEL_NAMES if name in results and name != "lexical" and results[name]["test"]["top1"] < floor]


def notes(report: dict) -> list[str]:
    """The lines under the table: what its reference numbers, protocols and columns are, the seeds, α,
    and which models the lexical baseline beats."""
    d = report["dataset"]
    lines = []
    seeds = report.get("seeds", [])
    source = report.get("paper_reference", {}).get("source", "")
    if any("paper" in r for r in report["results"].values()):
        lines.append(f"Paper columns: the numbers of {source}, for reference only; they were not produced by this run.")
    published = report.get("published", [])
    has_kb = any("kb" in r for r in report["results"].values())
    shown = [p for p in published if p["protocol"] == "candidates" or has_kb]
    if shown:
        sources = "; ".join(dict.fromkeys(p["source"] for p in shown))
        lines.append(f"{PUBLISHED_MARK} rows: numbers other methods published on {d.get('benchmark')} ({sources}), for reference "
                     "only, in the columns of their protocol (– where a paper gives no number); not produced by this run. "
                     "Candidate-protocol papers ranked their own lists (GHMFC: fuzzy top-100, gold not always in; DWE+: "
                     "WikiDiverse's 10 padded to 100, gold prepended), so compare Top-k with care; the whole-KB papers ranked "
                     "MIMIC's cleaned data, which keeps mentions without images (blank image) that `emmel import` rejects.")
    if any(p["protocol"] == "kb" for p in published) and not has_kb:
        lines.append(f"Run with --full-kb for the whole-KB protocol, where {d.get('benchmark')}'s published H@k and MRR apply.")
    if len(seeds) > 1:
        alphas = ", ".join(f"{r['alpha']:.2f}" for r in report["seed_runs"] if r["alpha"] is not None)
        lines.append(f"Mean ± standard deviation (n − 1) over {len(seeds)} runs with seeds {', '.join(map(str, seeds))}"
                     f"{f' (α chosen per run: {alphas})' if alphas else ''}; models/ and predictions/ hold the first seed's run.")
    if d["lambda"] <= 10:
        lines.append(f"Top-k is 100 by construction for k ≥ λ = {d['lambda']}.")
    if report.get("alpha"):
        a = report["alpha"]
        lines.append(f"MCR fusion: y = α·S_v + (1 − α)·S_t with {a['normalization']} normalisation per candidate list, "
                     f"α = {a['alpha']:.2f} ({a['mode']}; best on dev: {a['dev_best_alpha']:.2f}){' in the first run' if len(seeds) > 1 else ''}.")
    if has_kb:
        lines.append(kb_note(report))
    below = below_lexical(report)
    if below:
        scratch = any("trained from scratch" in (source or "") for source in report["models_used"].values())
        why = (f" They start from random weights (no checkpoint given) and learn from {d.get('distinct_train_texts', '?')} distinct train texts only, "
               f"too few to learn to match names, while {d.get('test_texts_naming_gold', '?')} % of the test descriptions contain their entity's "
               "base name, which BM25 matches directly (docs/benchmark.md, \"Small datasets\")." if scratch else "")
        names = ", ".join(display_name(report, n) for n in below)
        lines.append(f"Below the lexical baseline (test Top-1 {report['results']['lexical']['test']['top1']:.1f}): {names}.{why}")
    return lines


def kb_note(report: dict) -> str:
    """What the KB columns are, and the shortlist convention of the rows that used one."""
    k = report["settings"].get("shortlist")
    line = ("KB columns: the test queries ranked against all KB entities (MIMIC's protocol): H@k and MRR in %, MR the mean "
            "rank. Rows without the cross-encoder (lexical, CLIP, visual-text only) rank the whole KB exactly.")
    short = {display_name(report, n): r["kb"] for n, r in report["results"].items() if "kb" in r and not r["kb"].get("exact", True)}
    if short:
        recall = ", ".join(f"{name.split(' (')[0]} {kb['shortlist_recall']:.1f} %" for name, kb in short.items())
        line += (f" Cross-encoder rows rerank a shortlist (top {k} of BM25 over entity names and top {k} of the row's visual "
                 f"bi-encoder); a gold outside it ranks after the whole shortlist, by the first-stage score (the visual cosine; "
                 f"BM25 without a visual module), so MR and MRR count it, and H@k up to {k} is bounded by the shortlist's gold "
                 f"recall ({recall}).")
    return line


def summary(report: dict) -> str:
    """The text `emmel benchmark` prints and puts in results.md."""
    d = report["dataset"]
    lines = [
        f"EMMEL benchmark on {d['name'] or d['path']}: KB {d['kb_entities']} entities; test {d['samples']['test']} queries, "
        f"λ = {d['lambda']} candidates each (Top-k over the stored candidate sets).",
        "",
        "Models used:",
    ]
    for module, source in report["models_used"].items():
        if source:
            lines.append(f"- {module}: {source}")
    lines += ["", results_table(report), "", *notes(report)]
    return "\n".join(lines)


def presented(report: dict) -> dict:
    """``report`` with what pages show beside the numbers: the models' display names, the table rows and its notes."""
    rows = table_rows(report)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return {**report, "model_names": [[name, display_name(report, name)] for name in MODEL_NAMES if name in report["results"]],
            "table": {"columns": columns, "rows": [[row.get(c, "") for c in columns] for row in rows]}, "notes": notes(report)}


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def ablation_png(report: dict) -> bytes:
    """Grouped bars: test Top-1/5/10 of every model, the paper's Top-1 as a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in MODEL_NAMES if n in report["results"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.26
    for j, k in enumerate((1, 5, 10)):
        values = [report["results"][n]["test"][f"top{k}"] for n in names]
        errors = [report["results"][n].get("std", {}).get("test", {}).get(f"top{k}", 0.0) for n in names]
        ax.bar([i + (j - 1) * width for i in range(len(names))], values, width, label=f"Top-{k} (this run)",
               yerr=errors if any(errors) else None, capsize=2)
    marked = [i for i, n in enumerate(names) if "paper" in report["results"][n]]
    ax.scatter([i - width for i in marked], [report["results"][names[i]]["paper"]["top1"] for i in marked], marker="_", s=300,
               color="black", linewidths=2, zorder=3, label="Top-1 reported in the paper (reference)")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=15)
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("% of test queries")
    ax.set_title("MCR and ablations (test, stored candidate sets)")
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.tight_layout()
    return _png(fig)


def alpha_png(report: dict) -> bytes:
    """Top-1 against α on dev and test for the chosen normalisation; dev for the others (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = report["alpha"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method, curves in info["sweep"].items():
        xs = [r["alpha"] for r in curves["dev"]]
        if method == info["normalization"]:
            ax.plot(xs, [r["top1"] for r in curves["dev"]], "o-", label=f"dev ({method})")
            ax.plot(xs, [r["top1"] for r in curves["test"]], "s-", label=f"test ({method})")
        else:
            ax.plot(xs, [r["top1"] for r in curves["dev"]], "--", alpha=0.6, label=f"dev ({method})")
    ax.axvline(info["alpha"], color="grey", linestyle=":", label=f"chosen α = {info['alpha']:.2f}")
    ax.set(xlabel="α (weight of the visual-text score)", ylabel="Top-1 (%)", title="MCR fusion weight sweep", xlim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def write_outputs(out: Path, report: dict, save_models: Callable[[Path], None], *, overwrite: bool, inputs=(),
                  predictions: dict[str, list] | None = None, extra=()) -> Path:
    """The output folder, atomically: results, plots, ``predictions/`` (file name → Prediction list), the
    models, then each ``extra(folder, report)`` (files made from the others, e.g. the HTML report)."""
    from emmel.predictions import FOLDER

    with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=inputs) as tmp:
        write_json(tmp / "results.json", report)
        atomic_write_text(tmp / "results.md", "# MCR benchmark\n\n" + summary(report) + "\n")
        atomic_write_bytes(tmp / "ablation.png", ablation_png(report))
        if report.get("alpha"):
            atomic_write_bytes(tmp / "alpha_sweep.png", alpha_png(report))
        if predictions:
            (tmp / FOLDER).mkdir()
            for name, rows in sorted(predictions.items()):
                write_jsonl(tmp / FOLDER / name, [p.to_dict() for p in rows])
        save_models(tmp / "models")
        for write in extra:
            write(tmp, report)
    return out
