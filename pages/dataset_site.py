"""`emmel view`: a dataset as a static site that opens from disk.

    load (dataset, knowledge graph, run, raw sources) -> thumbnails + full images -> pages
    (overview, entities, graph, samples, rejects, duplicates, results) -> search index -> site.json

Layout of the site folder (every link relative, so it works from any folder over file://)::

    index.html  entities.html  graph.html  train.html dev.html test.html  rejects.html
    duplicates.html  results.html  search.html          lists, paginated as name-p2.html, …
    entity/<id>.html  sample/<id>.html  graph/<node>.html  rejects/<reason>.html  results/<model>.html
    assets/  (site.css, site.js, search-index.js, plots/)
    thumbs/ab/<key>.jpg    small JPEG thumbnails, made once and reused by the next build
    images/ab/<sha256>.jpg the dataset's full images, hard-linked (copied across file systems)
    site.json              what was built from what (and the marker that allows --overwrite)

Rejected records have no image in the dataset; with ``sources`` (the raw source folders the
dataset was built from) their images are shown next to the kept sample they duplicate.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from emmel import TOOL
from emmel.dataset import Dataset, link_or_copy
from emmel.errors import EmmelError
from emmel.io import SafeJoiner, atomic_directory, read_json, sha256_file, write_json
from emmel.kg import TRIPLES_FILE, Literal, build_graph, read_triples
from emmel.labels import base_name
from emmel.progress import progress
from emmel.schema import SPLITS, Sample
from pages.html import Html, el, href, js_literal
from pages.layout import Frame, write_assets
from pages.naming import safe_name
from pages.output import KIND, check_site_output
from pages.predictions import Run, read_run
from pages.thumbs import Thumbnails

SITE_FILE = "site.json"  # what the site was made from (the output marker is emmel.io.MARKER)


@dataclass
class SiteOptions:
    per_page: int = 60  # thumbnails per gallery page
    rows_per_page: int = 100  # rows per table page
    groups_per_page: int = 20  # near-duplicate groups / reject pairs per page
    workers: int | None = None  # thumbnail processes (default: the CPUs, at most 8)


@dataclass
class SiteReport:
    out: Path
    pages: int
    files: int
    bytes: int  # the site's own files
    linked_bytes: int  # full images hard-linked from the dataset (no extra space)
    thumbnails: int
    placeholders: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


class GraphView:
    """The dataset's knowledge graph as lookups: labels, types, edges out of and into each node."""

    def __init__(self, triples):
        self.label: dict[str, str] = {}
        self.types: dict[str, set[str]] = defaultdict(set)
        self.out: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.into: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.aliases: dict[str, list[str]] = defaultdict(list)
        for t in triples:
            if isinstance(t.o, Literal):
                if t.p == "rdfs:label":
                    self.label[t.s] = t.o.value
                elif t.p == "skos:altLabel":
                    self.aliases[t.s].append(t.o.value)
            elif t.p == "rdf:type":
                self.types[t.s].add(t.o)
            else:
                self.out[t.s].append((t.p, t.o))
                self.into[t.o].append((t.p, t.s))

    def name(self, node: str) -> str:
        return self.label.get(node, node.partition(":")[2])

    def of_type(self, cls: str) -> list[str]:
        return sorted(n for n, types in self.types.items() if cls in types)

    def parent(self, place: str) -> str | None:
        return next((o for p, o in self.out.get(place, ()) if p == "property:part_of"), None)

    def chain(self, place: str) -> list[str]:
        """The place and the places above it, top first."""
        out = [place]
        while (up := self.parent(out[-1])) and up not in out:
            out.append(up)
        return out[::-1]

    def children(self, place: str) -> list[str]:
        return sorted(s for p, s in self.into.get(place, ()) if p == "property:part_of")

    def members(self, node: str) -> list[str]:
        """Entity nodes linked to ``node`` (for a place: to it or any place below it)."""
        found, todo, seen = set(), [node], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for p, s in self.into.get(current, ()):
                if p == "property:part_of":
                    todo.append(s)
                elif s.startswith("entity:"):
                    found.add(s)
        return sorted(found)


class Site:
    """Everything the page writers need: the dataset, lookups, thumbnails, and ``write``."""

    def __init__(self, dataset: Dataset, folder: Path, graph: GraphView, run: Run | None, options: SiteOptions,
                 previous: Path | None):
        self.dataset = dataset
        self.folder = folder
        self.graph = graph
        self.run = run
        self.options = options
        self.name = str(dataset.meta.get("name") or Path(dataset.root).name)
        self.entities = dataset.entities
        self.samples: dict[str, Sample] = {s.id: s for s in dataset.all_samples()}
        self.originals = [s for s in dataset.all_samples() if s.augmented_from is None]
        self.by_entity: dict[str, list[Sample]] = defaultdict(list)
        self.augmented: dict[str, list[Sample]] = defaultdict(list)
        self.by_group: dict[str, list[Sample]] = defaultdict(list)
        for s in self.originals:
            self.by_entity[s.entity_id].append(s)
            if s.group:
                self.by_group[s.group].append(s)
        for s in dataset.all_samples():
            if s.augmented_from is not None:
                self.augmented[s.augmented_from].append(s)
        self.candidates: dict[str, list[str]] = {sid: ids for split in dataset.candidates.values() for sid, ids in split.items()}
        gold = {s.id: s.entity_id for s in self.originals}
        self.distractor_count = Counter(eid for sid, ids in self.candidates.items() for eid in ids if eid != gold.get(sid))
        self.rejects_of: dict[str, list[int]] = defaultdict(list)  # kept sample id -> indices of rejects pointing at it
        for k, r in enumerate(dataset.rejects):
            if r.duplicate_of:
                self.rejects_of[r.duplicate_of].append(k)
        self.by_base: dict[str, list[str]] = defaultdict(list)
        for e in dataset.kb:
            self.by_base[base_name(e.label)].append(e.id)
        self.thumbs = Thumbnails(folder, previous=previous)
        self.sample_thumb: dict[str, str] = {}
        self.reject_thumb: dict[int, str] = {}
        self.full_image: dict[str, str] = {}  # sample id -> site path of the full image
        self.pages = 0
        self.warnings: list[str] = []
        self._entity_href: dict[str, str] = {}
        self.nav = [("Overview", "index.html"), ("Entities", "entities.html"), ("Graph", "graph.html"),
                    ("Samples", "train.html"), ("Rejects", "rejects.html"), ("Duplicates", "duplicates.html")]
        if run is not None:
            self.nav.append(("Results", "results.html"))
        self.nav.append(("Search", "search.html"))
        self.frame = Frame(self.name, self.nav)
        self._links: dict[tuple[str, int], Html] = {}
        self._cards: dict[tuple[str, int, bool], Html] = {}
        self.cache: dict = {}  # page pieces made once and used on many pages

    # ----------------------------------------------------------------- output
    def write(self, rel: str, title: str, body, *, active: str = "", scripts: tuple[str, ...] = ()) -> None:
        text = self.frame.page(title, body, depth=rel.count("/"), active=active, scripts=scripts)
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.pages += 1

    # ------------------------------------------------------------------ links
    @staticmethod
    def up(depth: int) -> str:
        return "../" * depth

    def entity_href(self, eid: str, depth: int) -> str:
        if eid not in self._entity_href:
            self._entity_href[eid] = href("entity", safe_name(eid) + ".html")
        return self.up(depth) + self._entity_href[eid]

    def sample_href(self, sid: str, depth: int) -> str:
        return self.up(depth) + href("sample", safe_name(sid) + ".html")

    def node_href(self, node: str, depth: int) -> str:
        if node.startswith("entity:"):
            return self.entity_href(node.partition(":")[2], depth)
        return self.up(depth) + href("graph", safe_name(node) + ".html")

    def entity_link(self, eid: str, depth: int, text=None) -> Html:
        if text is None and (eid, depth) in self._links:
            return self._links[(eid, depth)]
        entity = self.entities.get(eid)
        if entity is None:
            return el("span", text or eid, class_="mono", title="not in this dataset's KB")
        link = el("a", text if text is not None else entity.label, href=self.entity_href(eid, depth))
        if text is None:
            self._links[(eid, depth)] = link
        return link

    def sample_link(self, sid: str, depth: int, text=None) -> Html:
        if sid not in self.samples:
            return el("span", text or sid, class_="mono")
        return el("a", text if text is not None else sid, href=self.sample_href(sid, depth))

    def thumb_src(self, key: str | None, depth: int) -> str:
        if key is None:
            return self.up(depth) + "assets/missing.svg"
        return self.up(depth) + self.thumbs.src(key)

    def img(self, key: str | None, depth: int, alt: str = "", class_: str | None = None) -> Html:
        return el("img", src=self.thumb_src(key, depth), alt=alt, loading="lazy", class_=class_)

    def sample_card(self, s: Sample, depth: int, *, show_entity: bool = True) -> Html:
        """A thumbnail card (made once per sample, depth and variant: the same card shows in many lists)."""
        key = (s.id, depth, show_entity)
        if key not in self._cards:
            self._cards[key] = self._sample_card(s, depth, show_entity)
        return self._cards[key]

    def _sample_card(self, s: Sample, depth: int, show_entity: bool) -> Html:
        entity = self.entities.get(s.entity_id)
        badges = [el("span", s.split, class_=f"badge {s.split}")]
        if self.augmented.get(s.id):
            badges.append(el("span", f"+{len(self.augmented[s.id])} augmented", class_="badge muted"))
        if s.augmented_from:
            badges.append(el("span", (s.augmentation or {}).get("op", "augmented"), class_="badge muted"))
        if getattr(s, "suspect", None):
            badges.append(el("span", "suspect", class_="badge warn"))
        return el(
            "div",
            el("a", self.img(self.sample_thumb.get(s.id), depth, alt=s.text[:40]), href=self.sample_href(s.id, depth), class_="thumb"),
            el("div",
               el("div", el("a", s.text, href=self.sample_href(s.id, depth)), class_="text", title=s.text),
               el("div", self.entity_link(s.entity_id, depth), class_="meta") if show_entity and entity else None,
               el("div", badges, class_="tags"), class_="body"),
            class_="card" + (" suspect" if getattr(s, "suspect", None) else ""),
        )


# -------------------------------------------------------------------------------- building


def _load_graph(dataset: Dataset) -> GraphView:
    path = Path(dataset.root) / TRIPLES_FILE
    triples = read_triples(path) if path.exists() else build_graph(dataset.kb).triples  # datasets older than the graph
    return GraphView(triples)


def _resolve_sources(dataset: Dataset, sources: list[Path], warnings: list[str]) -> dict[str, Path | None]:
    """Raw image of every reject the given sources hold (by the reject's ``record`` reference)."""
    from emmel.sources.raw import iter_source, records_file

    described = {s.get("name"): s for s in dataset.meta.get("sources", []) if isinstance(s, dict)}
    found: dict[str, Path | None] = {}
    for source in sources:
        source = Path(source)
        if not source.exists():
            raise EmmelError("raw source not found", path=source)
        records = records_file(source)
        name = source.name if source.is_dir() else source.stem
        expected = described.get(name, {}).get("records_sha256")
        if expected and records.is_file() and sha256_file(records) != expected:
            warnings.append(f"warning: {source}: not the version this dataset was built from (records sha256 differs); its rejected images are not shown")
            continue
        for item in iter_source(source):
            found[item.ref] = item.image_path  # None when the record itself was unreadable
    return found


def _prepare_images(site: Site, raw_images: dict[str, Path | None]) -> None:
    """Queue every thumbnail, hard-link the full images, then make the thumbnails (in parallel)."""
    join = SafeJoiner(site.dataset.root)
    linked: set[str] = set()
    for s in progress(list(site.samples.values()), desc="link images"):
        try:
            src = join(s.image)
        except ValueError as exc:
            site.warnings.append(f"warning: sample {s.id}: unsafe image path ({exc}); a placeholder is shown")
            site.sample_thumb[s.id] = site.thumbs.add(None, "unsafe", s.id)
            continue
        if not src.is_file():
            site.sample_thumb[s.id] = site.thumbs.add(None, "missing", s.image)
            continue
        site.sample_thumb[s.id] = site.thumbs.add(src, "dataset", s.image, s.image_sha256)
        parts = src.relative_to(join.root).parts
        rel = "/".join(parts if parts[0] == "images" else ("images", *parts))
        if rel not in linked:
            link_or_copy(src, site.folder / rel)
            linked.add(rel)
        site.full_image[s.id] = rel
    for k, r in enumerate(site.dataset.rejects):
        if r.record in raw_images:
            path = raw_images[r.record]
            site.reject_thumb[k] = site.thumbs.add(path, "raw", r.source, r.record, _file_digest(path))
    site.thumbs.make(site.options.workers)
    missing = [sid for sid, key in site.sample_thumb.items() if not site.thumbs.ok(key)]
    if missing:
        first = site.samples[missing[0]]
        site.warnings.append(f"warning: {len(missing)} sample image(s) missing or unreadable, shown as placeholders "
                             f"(first: sample {first.id}, {first.image!r}: {site.thumbs.problems[site.sample_thumb[first.id]]})")


def _file_digest(path: Path | None) -> str:
    try:
        return sha256_file(path) if path is not None else "none"
    except OSError:
        return "unreadable"


def _copy_plots(site: Site) -> list[str]:
    out = []
    plots = Path(site.dataset.root) / "plots"
    for path in sorted(plots.glob("*.png")) if plots.is_dir() else []:
        target = site.folder / "assets" / "plots" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        out.append(f"assets/plots/{path.name}")
    return out


def write_search(site: Site) -> None:
    """``search.html`` and ``assets/search-index.js``: per entity [page name, label, aliases, category,
    samples]; per original sample [page name, text, entity position, split, thumbnail key or ""]."""
    order = sorted(site.entities)
    position = {eid: k for k, eid in enumerate(order)}
    entities = [[safe_name(eid), site.entities[eid].label, " / ".join(site.entities[eid].aliases), site.entities[eid].category,
                 len(site.by_entity.get(eid, ()))] for eid in order]
    samples = []
    for s in sorted(site.originals, key=lambda s: s.id):
        key = site.sample_thumb.get(s.id)
        samples.append([safe_name(s.id), s.text, position.get(s.entity_id, -1), SPLITS.index(s.split), key if key and site.thumbs.ok(key) else ""])
    (site.folder / "assets" / "search-index.js").write_text(
        "window.EMMEL_INDEX=" + js_literal({"entities": entities, "samples": samples}) + ";\n", encoding="utf-8")
    body = [
        el("h1", "Search"),
        el("p", "Entities by label or alias, samples by description; runs in the page, offline.", class_="sub"),
        el("div", el("input", id="q", type="search", placeholder="春节, 苗族, 刺绣 …", autofocus=True, aria_label="search"), class_="search-page"),
        el("div", id="search-results"),
    ]
    site.write("search.html", "Search", body, active="Search", scripts=("assets/search-index.js", "assets/site.js"))


def build_site(dataset_dir: str | os.PathLike, out: str | os.PathLike, *, results: str | os.PathLike | None = None,
               sources: list | tuple = (), overwrite: bool = False, options: SiteOptions | None = None) -> SiteReport:
    """Write the static site of a dataset (and of a benchmark run of it) to ``out``; see the module docstring."""
    from pages import (
        site_entities,
        site_overview,
        site_rejects,
        site_results,
        site_samples,
    )

    started = time.perf_counter()
    options = options or SiteOptions()
    dataset_dir, out = Path(dataset_dir), Path(out)
    dataset = Dataset.load(dataset_dir)
    inputs = [dataset_dir] + ([Path(results)] if results else []) + [Path(s) for s in sources]
    previous = check_site_output(out, overwrite=overwrite, inputs=inputs)
    warnings: list[str] = []
    run = read_run(results, {s.id for s in dataset.all_samples()}) if results else None
    if run is not None:
        warnings += run.warnings
        kb_sha = (run.results.get("dataset") or {}).get("kb_sha256") if isinstance(run.results.get("dataset"), dict) else None
        listed = read_json(dataset_dir / "manifest.json").get("files", {}).get("kb.jsonl")
        if kb_sha and listed and kb_sha != listed:
            warnings.append(f"warning: {results}: the run was made on another KB (kb.jsonl sha256 differs); predictions are shown as they are")
    raw_images = _resolve_sources(dataset, list(sources), warnings)
    graph = _load_graph(dataset)
    with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=inputs) as tmp:
        site = Site(dataset, tmp, graph, run, options, previous)
        site.warnings += warnings
        write_assets(tmp)
        _prepare_images(site, raw_images)
        plots = _copy_plots(site)
        site_overview.write(site, plots)
        site_entities.write(site)
        site_samples.write(site)
        site_rejects.write(site)
        if run is not None:
            site_results.write(site)
        write_search(site)
        counts = dataset.counts()
        write_json(tmp / SITE_FILE, {"generator": "emmel view", "tool": TOOL, "dataset": site.name, "pages": site.pages,
                                  "samples": len(site.samples), "entities": len(dataset.kb), "rejected": counts["rejected"],
                                  "results": bool(run), "models": sorted(run.models) if run else []})
        files = [(p.relative_to(tmp).parts[0], p.stat().st_size) for p in tmp.rglob("*") if p.is_file()]
        report = SiteReport(out=out, pages=site.pages, files=len(files), bytes=sum(n for top, n in files if top != "images"),
                            linked_bytes=sum(n for top, n in files if top == "images"), thumbnails=len(site.thumbs.jobs),
                            placeholders=len(site.thumbs.problems), seconds=0.0, warnings=site.warnings)
    for line in report.warnings[:20]:
        print(line, file=sys.stderr)
    report.seconds = time.perf_counter() - started
    return report

