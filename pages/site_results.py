"""With ``--results``: the run's summary and, per model, the test queries worst first (the gold's
rank, the top prediction and its scores), paginated."""

from __future__ import annotations

from pages.html import el
from pages.naming import safe_name
from pages.paginate import pager, paginate
from pages.site_overview import results_summary


def _order(pred) -> tuple:
    return (-(pred.gold_rank or 10**9), pred.sample_id)


def write(site) -> None:
    body = [el("h1", "Benchmark results"), results_summary(site)]
    site.write("results.html", "Results", body, active="Results")
    for model, protocols in sorted(site.run.models.items()):
        stem = safe_name(model)
        rows = [(protocol, pred) for protocol in sorted(protocols) for pred in sorted(protocols[protocol].values(), key=_order)]
        correct = sum(1 for _, p in rows if p.correct)
        for page in paginate(rows, site.options.rows_per_page):
            trs = []
            for protocol, pred in page.items:
                s = site.samples.get(pred.sample_id)
                top = pred.ranked[0] if pred.ranked else None
                rank = pred.gold_rank
                trs.append(el("tr",
                              el("td", site.img(site.sample_thumb.get(pred.sample_id), 1, class_="mini")),
                              el("td", site.sample_link(pred.sample_id, 1, s.text if s else pred.sample_id)),
                              el("td", site.entity_link(pred.gold, 1)),
                              el("td", site.entity_link(top.id, 1) if top else "–"),
                              el("td", f"{top.score:.3f}" if top else "–", class_="num"),
                              el("td", el("span", str(rank) if rank else "–", class_="badge ok" if rank == 1 else "badge warn"), class_="num"),
                              el("td", protocol),
                              class_="hit" if rank == 1 else None))
            head = el("thead", el("tr", [el("th", h) for h in ("", "sample", "gold", "top prediction", "score", "gold rank", "protocol")]))
            body = [el("p", el("a", "Results", href="../results.html"), " › ", model, class_="crumbs"),
                    el("h1", model), el("p", f"{len(rows):,} test queries, {correct:,} correct at rank 1; the hardest first.", class_="sub"),
                    pager(page, stem, len(rows)), el("section", el("table", head, el("tbody", trs))), pager(page, stem, len(rows))]
            site.write(f"results/{page.file(stem)}", f"{model} ({page.number}/{page.count})", body, active="Results")
