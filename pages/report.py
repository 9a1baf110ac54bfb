"""``RESULTS/report.html``: one self-contained page about a benchmark run, to look at rather than read.

It holds the results table (as ``results.md``), the ablation and α plots, Top-1 per category of the
gold entity, the entity pairs the models confuse most, and a case study like the EMMEL paper's
Fig. 4: test queries with their image, text and gold, the model's top-5 candidates with each
module's own score (visual, text) and the fused one, and how the other models did on the same
query, filterable by outcome. Everything comes from the run folder (``results.json``,
``predictions/``, the plots) and the dataset it names; images are small JPEG thumbnails embedded as
``data:`` URLs, the CSS and the one script are inline and allowed by their hashes in a strict content
security policy, so the page opens from disk anywhere, uses no network, and no text from the data
can run as code (every string goes through :mod:`pages.html`).
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from emmel.errors import EmmelError
from emmel.predictions import Prediction
from pages.html import Html, el, esc
from pages.layout import static_text
from pages.predictions import read_run
from pages.thumbs import render_thumbnail

FILE = "report.html"
MAX_CASES = 240  # case-study cards at most (half wrong, half right when there are more): the page stays small
THUMB = 160  # px, longest side of an embedded thumbnail
TOP_CASE = 5  # candidates shown per case
CONFUSED = 15  # confused pairs listed per model
PLOTS = (("ablation.png", "Top-k of every model on the test queries (stored candidates); black marks: the paper's Top-1"),
         ("alpha_sweep.png", "MCR's Top-1 against the fusion weight α (dev and test)"))
SLOT_NAMES = {"visual": "visual", "text": "text", "lexical": "BM25"}
CASE_MODELS = ("mcr",)  # the model of the case study when it ran; otherwise the last row of the table

REPORT_CSS = """
main { max-width: 1240px; }
header .bar { justify-content: space-between; }
.lead { color: var(--muted); margin: 0 0 16px; }
table.results td:first-child { white-space: nowrap; }
table.results td.best { font-weight: 700; }
.paper { color: var(--muted); }
meter { width: 64px; height: 12px; vertical-align: middle; margin-right: 6px; }
td.share { white-space: nowrap; font-variant-numeric: tabular-nums; }
td .key { color: var(--muted); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 0 0 14px; }
.filters button { font: inherit; font-size: 13.5px; padding: 4px 12px; border-radius: 999px; border: 1px solid var(--line);
  background: var(--card); color: var(--ink); cursor: pointer; }
.filters button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: #fff; }
.filters input { font: inherit; padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; min-width: 220px; }
.filters .count { color: var(--muted); font-size: 13px; margin-left: auto; }
.cases { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 14px; }
.case { background: var(--card); border-radius: var(--radius); box-shadow: var(--shadow); padding: 12px; display: grid;
  grid-template-columns: 168px 1fr; gap: 12px; border-left: 4px solid var(--train); }
.case.wrong { border-left-color: var(--warn); }
.case[hidden] { display: none; }
.case .shot { width: 168px; height: 168px; background: #e9ecf1; border-radius: 6px; display: flex; align-items: center; justify-content: center;
  overflow: hidden; color: var(--muted); font-size: 12px; text-align: center; }
.case .shot img { max-width: 100%; max-height: 100%; display: block; }
.case .text { font-size: 15px; margin: 0 0 4px; }
.case .gold { font-size: 13.5px; margin: 0 0 6px; }
.case table { font-size: 13px; }
.case th, .case td { padding: 3px 6px; }
.case .others { font-size: 12.5px; color: var(--muted); margin-top: 6px; }
.case .sid { font-size: 12px; color: var(--muted); }
details > summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
@media (max-width: 640px) { .cases { grid-template-columns: 1fr; } .case { grid-template-columns: 1fr; } }
"""

# The page's one script: the outcome buttons and the search box show and hide case cards.
FILTER_JS = """
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll(".case"));
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".filters button"));
  var box = document.getElementById("case-search");
  var count = document.getElementById("case-count");
  var active = "all";
  function apply() {
    var needle = (box.value || "").trim().toLowerCase();
    var shown = 0;
    cards.forEach(function (card) {
      var tags = (card.getAttribute("data-tags") || "").split(" ");
      var ok = (active === "all" || tags.indexOf(active) >= 0) &&
               (!needle || (card.getAttribute("data-search") || "").indexOf(needle) >= 0);
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + cards.length + " shown";
  }
  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      active = button.getAttribute("data-filter");
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
      apply();
    });
  });
  box.addEventListener("input", apply);
  apply();
})();
"""

FILTERS = (("all", "all"), ("correct", "correct"), ("wrong", "wrong"),
           ("fusion-fixed", "fusion right, a single module wrong"), ("fusion-broke", "fusion wrong, a single module right"),
           ("lexical-right", "wrong, but BM25 right"))


@dataclass
class Run:
    """A benchmark output folder as the report reads it (``pages.predictions.read_run``, the site's reader)."""

    folder: Path
    results: dict
    predictions: dict[str, dict[str, dict[str, Prediction]]]  # model → protocol → sample id → prediction

    @property
    def models(self) -> list[str]:
        """The models with predictions, in the order of the table."""
        order = [name for name, _ in self.results.get("model_names", [])] or sorted(self.results.get("results", {}))
        return [name for name in order if name in self.predictions]

    def display(self, model: str) -> str:
        return dict(self.results.get("model_names", [])).get(model, model)


def write_report(folder: str | Path, results: dict | None = None, dataset=None) -> Path:
    """Write ``folder/report.html`` for the run in ``folder`` (``results``: its results.json, if at hand;
    ``dataset``: the loaded dataset, else the one results.json names)."""
    from emmel.dataset import Dataset
    from emmel.io import atomic_write_text, read_json

    folder = Path(folder)
    results = results if results is not None else read_json(folder / "results.json")
    if dataset is None:
        path = results.get("dataset", {}).get("path")
        if not path or not Path(path).is_dir():
            raise EmmelError(f"the dataset of this run ({path!r}) is not there; the report needs its texts and images", path=folder)
        dataset = Dataset.load(path)
    site_run = read_run(folder, {s.id for s in dataset.all_samples()})
    target = folder / FILE
    atomic_write_text(target, render(Run(folder, results, site_run.models), dataset))
    return target


# ------------------------------------------------------------------------------------------ page
def render(run: Run, dataset) -> str:
    """The whole page."""
    entities = dataset.entities
    samples = {s.id: s for s in dataset.all_samples()}
    d = run.results.get("dataset", {})
    seeds = run.results.get("seeds", [])
    lead = (f"Dataset {d.get('name') or d.get('path', '')}: KB {d.get('kb_entities', len(entities))} entities, "
            f"{d.get('samples', {}).get('test', '?')} test queries, λ = {d.get('lambda', '?')} candidates each"
            + (f"; mean ± standard deviation over {len(seeds)} seeds ({', '.join(map(str, seeds))}), "
               "predictions and case study from the first" if len(seeds) > 1 else "") + ".")
    sections = [
        el("h1", "Benchmark report"),
        el("p", lead, class_="lead"),
        _results_section(run),
        _plots_section(run),
        _category_section(run, entities),
        _confused_section(run, entities),
        _case_section(run, entities, samples, dataset),
    ]
    return _page("Benchmark report · " + str(d.get("name") or ""), sections)


def _page(title: str, body: list) -> str:
    css = static_text("site.css") + REPORT_CSS
    csp = (f"default-src 'none'; img-src data:; style-src '{_sha256(css)}'; script-src '{_sha256(FILTER_JS)}'; "
           "base-uri 'none'; form-action 'none'")
    head = (el("meta", charset="utf-8") + el("meta", http_equiv="Content-Security-Policy", content=csp)
            + el("meta", name="viewport", content="width=device-width, initial-scale=1") + el("title", title)
            + Html("<style>" + css + "</style>"))
    header = el("header", el("div", el("span", "emmel · benchmark report", class_="brand"),
                             el("nav", [el("a", label, href=f"#{anchor}") for anchor, label in
                                        (("results", "Results"), ("plots", "Plots"), ("categories", "Categories"),
                                         ("confused", "Confusions"), ("cases", "Case study"))]), class_="bar"))
    foot = el("footer", "Written by emmel benchmark; one file, no network. Paper numbers are the EMMEL paper's (Table 3), for reference only.")
    return ('<!DOCTYPE html>\n<html lang="zh-Hans"><head>' + head + "</head><body>" + header
            + el("main", body) + foot + Html("<script>" + FILTER_JS + "</script>") + "</body></html>\n")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _section(anchor: str, title: str, *body) -> Html:
    return el("section", el("h2", title), *body, id=anchor)


# --------------------------------------------------------------------------------- results table
def _results_section(run: Run) -> Html:
    table = run.results.get("table") or {}
    columns, rows = table.get("columns", []), table.get("rows", [])
    if not rows:
        return _section("results", "Results", el("p", "results.json holds no table.", class_="note"))
    measured = [i for i, c in enumerate(columns) if c != "model" and not c.startswith("paper")]
    best = {i: max(_lead_number(row[i]) for row in rows) for i in measured}
    head = el("thead", el("tr", [el("th", c, class_=None if c == "model" else "num") for c in columns]))
    body = []
    for row in rows:
        cells = []
        for i, (column, value) in enumerate(zip(columns, row)):
            classes = [] if column == "model" else ["num"]
            if column.startswith("paper"):
                classes.append("paper")
            elif i in best and value and _lead_number(value) == best[i]:
                classes.append("best")
            if column == "model":
                key = {display: name for name, display in run.results.get("model_names", [])}.get(value)
                cells.append(el("td", str(value), el("span", f" {key}", class_="key") if key else None))
            else:
                cells.append(el("td", str(value), class_=" ".join(classes) or None))
        body.append(el("tr", cells))
    notes = [el("p", line, class_="note") for line in run.results.get("notes", [])]
    return _section("results", "Results (test)", el("div", el("table", head, el("tbody", body), class_="results"), class_="scroll"), *notes,
                    el("p", "Bold: the best of this run in each column (paper columns are reference numbers, not this run's).", class_="note"))


def _lead_number(value: str) -> float:
    try:
        return float(str(value).split("±")[0])
    except ValueError:
        return float("-inf")


# ------------------------------------------------------------------------------------------ plots
def _plots_section(run: Run) -> Html:
    figures = []
    for name, caption in PLOTS:
        path = run.folder / name
        if path.is_file():
            uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            figures.append(el("figure", el("img", src=uri, alt=caption), el("figcaption", caption, class_="note")))
    if not figures:
        return _section("plots", "Plots", el("p", "no plots in this run", class_="note"))
    return _section("plots", "Ablation and fusion weight", el("div", figures, class_="plots"))


# -------------------------------------------------------------------------------- per category
def _category_section(run: Run, entities: dict) -> Html:
    models = [m for m in run.models if "candidates" in run.predictions[m]]
    if not models:
        return _section("categories", "Top-1 per category", el("p", "no predictions in this run", class_="note"))
    counts: Counter = Counter()
    hits: dict[str, Counter] = {m: Counter() for m in models}
    for model in models:
        for p in run.predictions[model]["candidates"].values():
            category = _category(entities, p.gold)
            if model == models[0]:
                counts[category] += 1
            hits[model][category] += p.correct
    head = el("thead", el("tr", el("th", "category of the gold"), el("th", "queries", class_="num"),
                          [el("th", m, title=run.display(m)) for m in models]))
    body = []
    for category, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        cells = []
        for m in models:
            share = hits[m][category] / n
            cells.append(el("td", el("meter", value=f"{share:.4f}", min="0", max="1", title=f"{hits[m][category]} of {n}"),
                            f"{100 * share:.0f}", class_="share"))
        body.append(el("tr", el("td", category), el("td", str(n), class_="num"), cells))
    return _section("categories", "Top-1 per category (test, stored candidates, first seed)",
                    el("div", el("table", head, el("tbody", body)), class_="scroll"),
                    el("p", "Each cell: share of the category's test queries whose gold the model ranks first.", class_="note"))


def _category(entities: dict, entity_id: str) -> str:
    entity = entities.get(entity_id)
    return (entity.category if entity is not None else "") or "(none)"


def _label(entities: dict, entity_id: str) -> str:
    entity = entities.get(entity_id)
    return entity.label if entity is not None else entity_id


# ----------------------------------------------------------------------------- confused pairs
def confused_pairs(predictions: dict[str, Prediction], top: int = CONFUSED) -> list[tuple[tuple[str, str], int, int]]:
    """``((a, b), a→b, b→a)``: the unordered entity pairs most often confused at rank 1 (gold a predicted as b and back)."""
    directed = Counter((p.gold, p.ranked[0].id) for p in predictions.values() if p.ranked and not p.correct)
    pairs = Counter()
    for (gold, guess), n in directed.items():
        pairs[tuple(sorted((gold, guess)))] += n
    ordered = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    out = []
    for a, b in (pair for pair, _ in ordered):
        if directed[(b, a)] > directed[(a, b)]:  # A → B is the more frequent direction
            a, b = b, a
        out.append(((a, b), directed[(a, b)], directed[(b, a)]))
    return out


def _confused_section(run: Run, entities: dict) -> Html:
    blocks = []
    case_model = _case_model(run)
    for model in run.models:
        predictions = run.predictions[model].get("candidates")
        if not predictions:
            continue
        pairs = confused_pairs(predictions)
        if pairs:
            rows = [[_label(entities, a), _label(entities, b), str(ab), str(ba), _category(entities, a)] for (a, b), ab, ba in pairs]
            content = _table(["entity A", "entity B", "A → B", "B → A", "category of A"], rows, numeric=(2, 3))
        else:
            content = el("p", "no wrong answer at rank 1", class_="note")
        summary = f"{run.display(model)}: {sum(not p.correct for p in predictions.values())} wrong of {len(predictions)}"
        blocks.append(el("details", el("summary", summary), content, open=model == case_model))
    return _section("confused", "Most confused entity pairs (test, rank 1)",
                    el("p", "A → B: queries of A whose top-ranked entity is B.", class_="note"), *blocks)


def _table(headers: list[str], rows: list[list], numeric=()) -> Html:
    head = el("thead", el("tr", [el("th", h, class_="num" if i in numeric else None) for i, h in enumerate(headers)]))
    return el("table", head, el("tbody", [el("tr", [el("td", c, class_="num" if i in numeric else None) for i, c in enumerate(r)])
                                          for r in rows]))


# ------------------------------------------------------------------------------------ case study
def _case_model(run: Run) -> str | None:
    models = [m for m in run.models if "candidates" in run.predictions[m]]
    for name in CASE_MODELS:
        if name in models:
            return name
    return models[-1] if models else None


def pick_cases(predictions: dict[str, Prediction], limit: int = MAX_CASES) -> list[Prediction]:
    """Every query when there are at most ``limit``; else up to half wrong and the rest right, by sample id."""
    ordered = sorted(predictions.values(), key=lambda p: p.sample_id)
    if len(ordered) <= limit:
        return ordered
    wrong = [p for p in ordered if not p.correct]
    right = [p for p in ordered if p.correct]
    take_wrong = min(len(wrong), max(limit // 2, limit - len(right)))
    chosen = {p.sample_id for p in wrong[:take_wrong] + right[: limit - take_wrong]}
    return [p for p in ordered if p.sample_id in chosen]


def _tags(model: str, prediction: Prediction, others: dict[str, Prediction | None]) -> list[str]:
    tags = ["correct" if prediction.correct else "wrong"]
    singles = [p for name, p in others.items() if p is not None and name not in ("lexical",)]
    if prediction.correct and any(not p.correct for p in singles):
        tags.append("fusion-fixed")
    if not prediction.correct and any(p.correct for p in singles):
        tags.append("fusion-broke")
    lexical = others.get("lexical")
    if not prediction.correct and lexical is not None and lexical.correct:
        tags.append("lexical-right")
    return tags


def _case_section(run: Run, entities: dict, samples: dict, dataset) -> Html:
    model = _case_model(run)
    if model is None:
        return _section("cases", "Case study", el("p", "no predictions in this run", class_="note"))
    predictions = run.predictions[model]["candidates"]
    cases = pick_cases(predictions)
    others_of = [m for m in run.models if m != model and "candidates" in run.predictions[m]]
    cards = []
    for p in cases:
        others = {m: run.predictions[m]["candidates"].get(p.sample_id) for m in others_of}
        cards.append(_case_card(run, model, p, others, entities, samples.get(p.sample_id), dataset))
    wrong = sum(not p.correct for p in predictions.values())
    buttons = [el("button", label, type="button", data_filter=key, aria_pressed="true" if key == "all" else "false") for key, label in FILTERS
               if key in ("all", "correct", "wrong") or model == "mcr" or key == "lexical-right"]
    filters = el("div", buttons, el("input", id="case-search", type="search", placeholder="filter by text or label", aria_label="filter cases"),
                 el("span", "", id="case-count", class_="count"), class_="filters")
    shown = f"all {len(predictions)}" if len(cases) == len(predictions) else f"{len(cases)} of {len(predictions)} (wrong ones first in the choice)"
    intro = el("p", f"{run.display(model)} on the test queries ({shown}; {wrong} wrong at rank 1). Each card: the image, the mention text, "
               f"the gold entity, and the model's top {TOP_CASE} candidates with each module's own score and the fused score it ranks by "
               "(the gold highlighted); below, whether the other models rank the gold first on the same query.", class_="note")
    return _section("cases", "Case study", intro, filters, el("div", cards, class_="cases"))


def _case_card(run: Run, model: str, p: Prediction, others: dict, entities: dict, sample, dataset) -> Html:
    tags = _tags(model, p, others)
    slots = sorted({slot for r in p.ranked for slot in r.scores}, key=lambda s: (list(SLOT_NAMES).index(s) if s in SLOT_NAMES else 9, s))
    head = el("thead", el("tr", el("th", "#", class_="num"), el("th", "candidate"), [el("th", SLOT_NAMES.get(s, s), class_="num") for s in slots],
                          el("th", "fused" if len(slots) > 1 else "score", class_="num")))
    shown = list(enumerate(p.ranked[:TOP_CASE], start=1))
    if p.gold_rank and TOP_CASE < p.gold_rank <= len(p.ranked):  # the gold further down, still among the listed ones
        shown.append((p.gold_rank, p.ranked[p.gold_rank - 1]))
    rows = []
    for rank, r in shown:
        if rank > TOP_CASE + 1 and len(rows) == TOP_CASE:
            rows.append(el("tr", el("td", "⋯", class_="num"), el("td", ""), [el("td", "") for _ in slots], el("td", ""), class_="gap"))
        rows.append(el("tr", el("td", str(rank), class_="num"), el("td", _label(entities, r.id)),
                       [el("td", f"{r.scores[s]:.3f}" if s in r.scores else "–", class_="num") for s in slots],
                       el("td", f"{r.score:.3f}", class_="num"), class_="gold" if r.id == p.gold else None))
    if p.correct:
        outcome = el("span", "correct", class_="badge ok")
    elif p.gold_rank is None:
        outcome = el("span", "wrong: the gold is not among the candidates", class_="badge warn")
    else:
        outcome = el("span", f"wrong: gold at rank {p.gold_rank}", class_="badge warn")
    gold = entities.get(p.gold)
    gold_line = el("p", el("b", "gold: "), gold.label if gold else p.gold,
                   el("span", " · " + " · ".join(x for x in (gold.category, gold.region) if x), class_="note") if gold else None, " ", outcome,
                   class_="gold")
    other_line = el("p", "other models: ", [el("span", f"{m} {'✓' if q is not None and q.correct else '✗'}", title=run.display(m),
                             class_="badge " + ("ok" if q is not None and q.correct else "muted")) for m, q in others.items()],
                    class_="others") if others else None
    text = sample.text if sample is not None else ""
    search = " ".join([text, *(_label(entities, r.id) for r in p.ranked[:TOP_CASE]), _label(entities, p.gold)]).lower()
    return el("article",
              el("div", _thumbnail(sample, dataset), class_="shot"),
              el("div", el("p", text or "(text not in this dataset)", class_="text"), gold_line,
                 el("table", head, el("tbody", rows)), other_line, el("div", p.sample_id, class_="sid")),
              class_="case " + ("right" if p.correct else "wrong"), data_tags=" ".join(tags), data_search=search)


def _thumbnail(sample, dataset) -> Html:
    """The sample's image as an embedded JPEG thumbnail, or a line saying why there is none."""
    from emmel.images import ImageProblem

    if sample is None:
        return esc("sample not in this dataset")
    try:
        data = render_thumbnail(dataset.image_path(sample), THUMB)
    except (ImageProblem, ValueError) as exc:
        return esc(f"image unavailable ({getattr(exc, 'reason', type(exc).__name__)})")
    return el("img", src="data:image/jpeg;base64," + base64.b64encode(data).decode("ascii"), alt=sample.text[:80])
