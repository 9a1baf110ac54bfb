"""The overview page: Table 1, the accounting (input = kept + rejected by reason), the card's
plots, the knowledge graph in numbers, sources, licenses and, with a run, the results table."""

from __future__ import annotations

from collections import Counter

from emmel.schema import FORMAT_VERSION
from emmel.stats import table1
from pages.html import el, table
from pages.layout import section
from pages.naming import safe_name
from pages.site_rejects import REASONS, reason_href


def _stat(value, label) -> object:
    return el("div", el("b", f"{value:,}" if isinstance(value, int) else value), el("span", label), class_="stat")


def accounting(site) -> object:
    counts = site.dataset.counts()
    total = max(1, counts["input_records"])
    kept_pct = 100 * counts["kept"] / total
    bar = el("div", el("span", class_="kept", style=f"width:{kept_pct:.2f}%"), el("span", class_="rejected", style=f"width:{100 - kept_pct:.2f}%"),
             class_="bar-chart", title=f"kept {kept_pct:.1f}%")
    rows = [[el("a", reason, href=reason_href(reason, 0)), REASONS.get(reason, ""), n, f"{100 * n / total:.1f}%"]
            for reason, n in sorted(counts["rejected_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))]
    ok = counts["input_records"] == counts["kept"] + counts["rejected"]
    return section(
        "Accounting",
        el("p", el("b", f"input {counts['input_records']:,}"), f" = kept {counts['kept']:,} + rejected {counts['rejected']:,} ",
           el("span", "balanced" if ok else "does not add up", class_="badge ok" if ok else "badge warn")),
        bar,
        table(["reason", "what it means", "records", "share of input"], rows, numeric=(2, 3)) if rows else el("p", "Nothing was rejected.", class_="note"),
        id="accounting",
    )


def graph_numbers(site) -> object:
    g = site.graph
    kinds = Counter(t for types in g.types.values() for t in types)

    def used(cls: str) -> int:
        return sum(1 for n in g.of_type(cls) if g.members(n))

    rows = [
        ["categories", used("class:Category")],
        ["ethnic groups", used("class:EthnicGroup")],
        ["provinces", used("class:Province")],
        ["prefectures", used("class:Prefecture")],
        ["counties", used("class:County")],
        ["cities (level not stated)", used("class:City")],
        ["variant_of links", sum(1 for edges in g.out.values() for p, _ in edges if p == "property:variant_of")],
    ]
    return section("Knowledge graph", el("p", f"{kinds['class:Entity']:,} entities linked to categories, ethnic groups and places; ",
                                         el("a", "browse the graph", href="graph.html"), "."),
                   table(["nodes in use", "count"], rows, numeric=(1,)))


def results_summary(site, depth: int = 0) -> object:
    results = site.run.results.get("results") if isinstance(site.run.results.get("results"), dict) else {}
    rows = []
    with_kb = any(isinstance(r, dict) and isinstance(r.get("kb"), dict) for r in results.values())
    for model, r in sorted(results.items()):
        test = r.get("test", {}) if isinstance(r, dict) else {}
        kb = r.get("kb", {}) if isinstance(r, dict) and isinstance(r.get("kb"), dict) else {}
        link = el("a", model, href="../" * depth + f"results/{_model_file(model)}") if model in site.run.models else model
        row = [link] + [_pct(test.get(f"top{k}") if isinstance(test, dict) else None) for k in (1, 5, 10)]
        rows.append(row + ([_pct(kb.get(f"h{k}")) for k in (1, 10)] + [_pct(kb.get("mrr"))] if with_kb else []))
    headers = ["model", "Top-1", "Top-5", "Top-10"] + (["KB H@1", "KB H@10", "KB MRR"] if with_kb else [])
    body = [table(headers, rows, numeric=range(1, len(headers)))] if rows else [
        el("p", "results.json lists no models.", class_="note")]
    if not site.run.models:
        body.append(el("p", "This run has no per-query predictions (predictions/<model>.jsonl), so samples show no rankings.", class_="note"))
    return section("Benchmark results (test)", *body, id="results")


def _model_file(model: str) -> str:
    return safe_name(model) + ".html"


def _pct(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def write(site, plots: list[str]) -> None:
    d = site.dataset
    counts = d.counts()
    meta = d.meta
    queries = len(d.samples.get("dev", [])) + len(d.samples.get("test", []))
    sub = " · ".join(str(x) for x in (f"format v{FORMAT_VERSION}", meta.get("seed") is not None and f"seed {meta.get('seed')}",
                                      counts["candidates_per_sample"] and f"λ = {counts['candidates_per_sample']}") if x)
    t1 = table1(d)
    body = [
        el("h1", site.name),
        el("p", "A multimodal entity linking dataset: every sample pairs an image with a short description and links it to one "
                "entity of the knowledge base. ", sub, class_="sub"),
        el("div", _stat(counts["kept"], "samples kept"), _stat(counts["augmented"], "augmented copies"), _stat(counts["entities"], "KB entities"),
           _stat(queries, "dev + test queries"), _stat(counts["rejected"], "records rejected"), class_="stats"),
        section("Statistics (Table 1)", table(["split", "samples", "augmented", "entities", "avg. text length"],
                                              [[el("a", r["split"], href=f"{r['split']}.html") if r["split"] in ("train", "dev", "test") else r["split"],
                                                r["samples"], r["augmented"], r["entities"], r["avg_text_len"]] for r in t1], numeric=(1, 2, 3, 4))),
        accounting(site),
    ]
    if site.run is not None:
        body.append(results_summary(site))
    body.append(graph_numbers(site))
    if plots:
        body.append(section("Plots", el("div", [el("img", src=p, alt=p.rsplit("/", 1)[-1], loading="lazy") for p in plots], class_="plots")))
    sources = [s for s in meta.get("sources", []) if isinstance(s, dict)]
    if sources:
        body.append(section("Sources", table(["source", "kind", "records", "records sha256"],
                                             [[s.get("name", ""), s.get("kind", ""), s.get("records", ""),
                                               el("span", str(s.get("records_sha256", ""))[:16], class_="mono")]
                                              for s in sources], numeric=(2,))))
    licenses = Counter(s.license or "(none given)" for s in site.originals)
    if licenses:
        body.append(section("Licenses", table(["license", "samples"], [[k, v] for k, v in sorted(licenses.items(), key=lambda kv: -kv[1])], numeric=(1,))))
    site.write("index.html", site.name, body, active="Overview")
