"""Entity pages (label, aliases, relations from the knowledge graph, sample thumbnails), the
entity list, and the graph browser: categories, ethnic groups and the place tree, each node
with the entities linked to it."""

from __future__ import annotations

from emmel.kg import entity_node
from emmel.labels import base_name
from pages.html import el, external, kv_table, table
from pages.layout import section
from pages.naming import safe_name
from pages.paginate import pager, paginate

RELATION_TITLES = {"property:category": "category", "property:ethnic_group": "ethnic group", "property:located_in": "located in",
                   "property:variant_of": "variant of", "property:part_of": "part of"}


def _node_link(site, node: str, depth: int):
    return el("a", site.graph.name(node), href=site.node_href(node, depth))


def _place_chain(site, place: str, depth: int):
    chain = site.graph.chain(place)
    out = []
    for k, n in enumerate(chain):
        if k:
            out.append(" › ")
        out.append(_node_link(site, n, depth))
    return el("span", out)


def relations(site, eid: str, depth: int):
    """Rows of the entity's facts: its KG edges, the reverse variant_of, look-alike labels."""
    g = site.graph
    n = entity_node(eid)
    rows = []
    for p, o in sorted(g.out.get(n, ())):
        value = _place_chain(site, o, depth) if p == "property:located_in" else _node_link(site, o, depth)
        rows.append([RELATION_TITLES.get(p, p), value])
    variants = sorted(s for p, s in g.into.get(n, ()) if p == "property:variant_of")
    if variants:
        rows.append(["variants", el("span", [[_node_link(site, v, depth), " "] for v in variants])])
    linked = {o for p, o in g.out.get(n, ()) if p == "property:variant_of"} | set(variants)
    alike = [e for e in site.by_base.get(base_name(site.entities[eid].label), ()) if e != eid and entity_node(e) not in linked]
    if alike:
        rows.append(["same base name", el("span", [[site.entity_link(e, depth), " "] for e in sorted(alike, key=lambda e: site.entities[e].label)])])
    return rows


def entity_row(site, eid: str, depth: int) -> list:
    e = site.entities[eid]
    samples = site.by_entity.get(eid, [])
    groups = [site.graph.name(o) for p, o in site.graph.out.get(entity_node(eid), ()) if p == "property:ethnic_group"]
    first = samples[0] if samples else None
    thumb = site.img(site.sample_thumb.get(first.id), depth, class_="mini") if first else ""
    per_split = " / ".join(str(sum(1 for s in samples if s.split == split)) for split in ("train", "dev", "test"))
    return [thumb, site.entity_link(eid, depth), e.category, e.region, " ".join(groups), len(samples), per_split]


def write_entity_list(site) -> None:
    order = sorted(site.entities, key=lambda eid: (-len(site.by_entity.get(eid, ())), site.entities[eid].label, eid))
    linked = sum(1 for eid in order if site.by_entity.get(eid))
    for page in paginate(order, site.options.rows_per_page):
        body = [el("h1", "Entities"),
                el("p", f"{len(order):,} entities in the KB, {linked:,} with samples; most samples first.", class_="sub"),
                pager(page, "entities", len(order)),
                section(None, table(["", "label", "category", "region", "ethnic group", "samples", "train / dev / test"],
                                           [entity_row(site, eid, 0) for eid in page.items], numeric=(5,))),
                pager(page, "entities", len(order))]
        site.write(page.file("entities"), f"Entities ({page.number}/{page.count})", body, active="Entities")


def write_entity_pages(site) -> None:
    per_page = site.options.per_page
    for eid, e in site.entities.items():
        stem = safe_name(eid)
        samples = sorted(site.by_entity.get(eid, []), key=lambda s: (["train", "dev", "test"].index(s.split), s.id))
        facts = [["id", el("span", eid, class_="mono")]]
        if e.aliases:
            facts.append(["aliases", " · ".join(e.aliases)])
        if e.region:
            facts.append(["region (as written)", e.region])
        facts += relations(site, eid, 1)
        facts.append(["candidate of", f"{site.distractor_count.get(eid, 0):,} dev/test samples as a negative"])
        if e.source_urls:
            facts.append(["sources", el("span", [[external(u), el("br")] for u in e.source_urls])])
        augmented = sum(len(site.augmented.get(s.id, ())) for s in samples)
        for page in paginate(samples, per_page):
            body = [el("p", el("a", "Entities", href="../entities.html"), " › ", e.category or "entity", class_="crumbs"),
                    el("h1", e.label),
                    el("p", e.description, class_="sub") if e.description else None,
                    section("Facts", kv_table(facts)) if page.number == 1 else None,
                    section(f"Samples ({len(samples)}" + (f", plus {augmented} augmented copies" if augmented else "") + ")",
                            pager(page, stem, len(samples)),
                            el("div", [site.sample_card(s, 1, show_entity=False) for s in page.items], class_="grid") if samples
                            else el("p", "No samples: this entity is a candidate only (e.g. from the national list).", class_="note"),
                            pager(page, stem, len(samples)))]
            site.write(f"entity/{page.file(stem)}", e.label, body, active="Entities")


def _tree(site, node: str, counts: dict[str, int], depth: int, levels: int = 2):
    """A place and, ``levels`` deep, the places below it (counties are listed on their prefecture's page)."""
    children = [c for c in site.graph.children(node) if counts.get(c)] if levels > 1 else []
    label = el("span", _node_link(site, node, depth), el("span", str(counts.get(node, 0)), class_="count"))
    if not children:
        return el("li", label)
    return el("li", el("details", el("summary", label), el("ul", [_tree(site, c, counts, depth, levels - 1) for c in children])))


def write_graph(site) -> None:
    g = site.graph
    counts = {}
    for cls in ("class:Category", "class:EthnicGroup", "class:Province", "class:Prefecture", "class:County", "class:City"):
        for node in g.of_type(cls):
            counts[node] = len(g.members(node))

    def listing(cls):
        nodes = sorted((n for n in g.of_type(cls) if counts.get(n)), key=lambda n: (-counts[n], g.name(n)))
        if not nodes:
            return el("p", "none", class_="note")
        return el("div", [el("a", g.name(n), el("span", str(counts[n]), class_="count"), href=site.node_href(n, 0)) for n in nodes], class_="chips")

    provinces = sorted((n for n in g.of_type("class:Province") if counts.get(n)), key=lambda n: (-counts[n], g.name(n)))
    roots = provinces + sorted(n for cls in ("class:Prefecture", "class:County", "class:City") for n in g.of_type(cls)
                               if counts.get(n) and g.parent(n) is None)
    body = [el("h1", "Knowledge graph"),
            el("p", "The KB's entities linked to the national list's categories, ethnic groups and places "
                    "(kg/triples.jsonl and kg/kg.ttl in the dataset). Numbers count entities.", class_="sub"),
            section("Categories", listing("class:Category")), section("Ethnic groups", listing("class:EthnicGroup")),
            section("Places (province › prefecture; counties on each prefecture's page)", el("ul", [_tree(site, n, counts, 0) for n in roots], class_="tree"))]
    site.write("graph.html", "Knowledge graph", body, active="Graph")
    for node, n in counts.items():
        if not n:
            continue
        members = [m.partition(":")[2] for m in g.members(node) if m.partition(":")[2] in site.entities]
        members.sort(key=lambda eid: (-len(site.by_entity.get(eid, ())), site.entities[eid].label))
        stem = safe_name(node)
        kind = next(iter(sorted(g.types.get(node, {"node"})))).partition(":")[2]
        crumbs = _place_chain(site, node, 1) if kind in ("Province", "Prefecture", "County", "City") else _node_link(site, node, 1)
        children = [c for c in g.children(node) if counts.get(c)]
        for page in paginate(members, site.options.rows_per_page):
            body = [el("p", el("a", "Graph", href="../graph.html"), " › ", crumbs, class_="crumbs"),
                    el("h1", g.name(node)), el("p", f"{kind} · {len(members):,} entities", class_="sub"),
                    section("Places below", el("div", [[_node_link(site, c, 1), el("span", str(counts[c]), class_="count"), " "]
                                                       for c in children], class_="tags"))
                    if children and page.number == 1 else None,
                    pager(page, stem, len(members)),
                    section(None, table(["", "label", "category", "region", "ethnic group", "samples", "train / dev / test"],
                                               [entity_row(site, eid, 1) for eid in page.items], numeric=(5,))),
                    pager(page, stem, len(members))]
            site.write(f"graph/{page.file(stem)}", g.name(node), body, active="Graph")


def write(site) -> None:
    write_entity_list(site)
    write_entity_pages(site)
    write_graph(site)
