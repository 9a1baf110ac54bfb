"""Sample galleries (one per split), sample pages (image, text, provenance, split, leakage group,
candidates, predictions, suspect scores) and the near-duplicate groups."""

from __future__ import annotations

import json

from emmel.schema import SPLITS
from pages.html import el, external, kv_table
from pages.layout import section
from pages.naming import safe_name
from pages.paginate import pager, paginate
from pages.site_rejects import reject_card


def _value(key: str, value):
    if key in ("url", "image_url", "detail_url") and isinstance(value, str):
        return external(value)
    if isinstance(value, (dict, list)):
        return el("span", json.dumps(value, ensure_ascii=False, sort_keys=True), class_="mono")
    return str(value)


def _kv(rows) -> object:
    return kv_table(rows)


def _score(value: float):
    return el("span", f"{value:.3f}", class_="score")


def _column_class(i: int) -> str | None:
    return "num rank" if i == 0 else "num" if i >= 2 else None


def predictions_section(site, sample) -> object | None:
    preds = site.run.for_sample(sample.id) if site.run is not None else []
    if not preds:
        return None
    blocks = []
    for model, pred in preds:
        names = sorted({name for r in pred.ranked for name in r.scores})
        rows = []
        for k, r in enumerate(pred.ranked, start=1):
            rows.append(([k, site.entity_link(r.id, 1), _score(r.score)] + [_score(r.scores[n]) if n in r.scores else "–" for n in names],
                         r.id == pred.gold))
        rank = pred.gold_rank
        verdict = el("span", "correct" if rank == 1 else f"gold at rank {rank}" if rank else "gold not in the ranking",
                     class_="badge ok" if rank == 1 else "badge warn")
        head = el("thead", el("tr", [el("th", h, class_=_column_class(i)) for i, h in enumerate(["rank", "entity", "score", *names])]))
        body = el("tbody", [el("tr", [el("td", c, class_=_column_class(i)) for i, c in enumerate(cells)], class_="gold" if gold else None)
                            for cells, gold in rows])
        blocks.append(el("div", el("h3", model, " ", el("span", pred.protocol, class_="badge muted"), " ", verdict), el("table", head, body)))
    return section("Predictions", el("p", "Top entities per model, best first; the gold row is highlighted.", class_="note"), blocks, id="predictions")


def suspect_section(sample) -> object | None:
    """Model-flagged image/text mismatch scores, when the dataset carries them (an optional ``suspect`` field)."""
    suspect = getattr(sample, "suspect", None)
    if not suspect:
        return None
    if isinstance(suspect, dict):
        rows = [[k, _score(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _value(k, v)] for k, v in sorted(suspect.items())]
        content = _kv(rows)
    else:
        content = el("p", _value("suspect", suspect))
    why = el("p", "A model scored this image and text far below the entity's typical pairs.", class_="note")
    return section("Flagged as a possible mismatch", why, content)


def candidate_item(site, eid: str, gold: bool):
    """One candidate as a list item (label, category, region), made once per entity."""
    key = ("candidate", eid, gold)
    if key not in site.cache:
        e = site.entities.get(eid)
        where = " · ".join(x for x in ((e.category, e.region) if e else ()) if x)
        site.cache[key] = el("li", site.entity_link(eid, 1), el("span", where, class_="note") if where else None, class_="gold" if gold else None)
    return site.cache[key]


def candidates_section(site, sample) -> object | None:
    ids = site.candidates.get(sample.id)
    if not ids:
        return None
    items = [candidate_item(site, eid, eid == sample.entity_id) for eid in ids]
    position = ids.index(sample.entity_id) + 1 if sample.entity_id in ids else None
    note = f"In the stored (shuffled) order; the gold is #{position}, highlighted." if position else "The gold is not among them."
    return section(f"Candidates (λ = {len(ids)})", el("p", note, class_="note"), el("ol", items, class_="cands"), id="candidates")


def _provenance(sample) -> list:
    src = sample.source or {}
    rows = [[key, _value(key, src[key])] for key in sorted(src) if src[key] not in ("", None, [], {})]
    if sample.license:
        rows.append(["license", sample.license])
    return rows


def write_sample_page(site, s) -> None:
    e = site.entities.get(s.entity_id)
    full = site.full_image.get(s.id)
    thumb_ok = site.thumbs.ok(site.sample_thumb.get(s.id, ""))
    if full and thumb_ok:
        image = el("a", el("img", src="../" + full, alt=s.text[:60]), href="../" + full, title="open the full image")
    else:
        image = site.img(site.sample_thumb.get(s.id), 1, alt="image not available")
    group = site.by_group.get(s.group, []) if s.group else []
    facts = [
        ["entity", el("span", site.entity_link(s.entity_id, 1), " ",
                      el("span", " — ".join(x for x in (e.category, e.region) if x), class_="note") if e else None)],
        ["split", el("span", s.split, class_=f"badge {s.split}")],
        ["id", el("span", s.id, class_="mono")],
        ["image", el("span", f"{s.width}×{s.height} px · ", el("span", f"sha256 {s.image_sha256[:16]}… · pHash {s.phash}", class_="mono"),
                     " · ", el("a", "full image", href="../" + full) if full else "file missing")],
        ["leakage group", el("span", el("span", s.group, class_="mono"), f" ({len(group)} samples)" if len(group) > 1 else "")] if s.group else None,
    ]
    if s.augmented_from:
        facts.append(["augmented from", el("span", site.sample_link(s.augmented_from, 1), " ",
                                           el("span", json.dumps(s.augmentation or {}, ensure_ascii=False, sort_keys=True), class_="mono"))])
    body = [
        el("p", el("a", f"{s.split} samples", href=f"../{s.split}.html"), " › ", site.entity_link(s.entity_id, 1), class_="crumbs"),
        el("div", el("div", image, class_="image"),
           el("div", el("h1", s.text, class_="quote"), _kv(facts), el("h3", "Provenance"), _kv(_provenance(s))), class_="sample"),
        suspect_section(s),
        predictions_section(site, s),
        candidates_section(site, s),
    ]
    copies = site.augmented.get(s.id, [])
    if copies:
        body.append(section(f"Augmented copies ({len(copies)})", el("div", [site.sample_card(c, 1, show_entity=False) for c in copies], class_="grid")))
    others = [g for g in group if g.id != s.id]
    if others:
        body.append(section(f"Same leakage group ({len(others)} more)", el("p", "Near-duplicates kept together in one split.", class_="note"),
                            el("div", [site.sample_card(g, 1) for g in others], class_="grid")))
    dupes = site.rejects_of.get(s.id, [])
    if dupes:
        body.append(section(f"Rejected as duplicates of this sample ({len(dupes)})",
                            el("div", [reject_card(site, k, site.dataset.rejects[k], 1) for k in dupes], class_="grid")))
    site.write(f"sample/{safe_name(s.id)}.html", s.text[:40] or s.id, body, active="Samples")


def write_galleries(site) -> None:
    by_split = {split: sorted((s for s in site.originals if s.split == split),
                              key=lambda s: (site.entities[s.entity_id].label if s.entity_id in site.entities else "", s.id)) for split in SPLITS}
    for split, samples in by_split.items():
        tabs = el("div", [el("a", f"{name} ({len(by_split[name]):,})", href=f"{name}.html", class_="active" if name == split else None)
                          for name in SPLITS], class_="tabs")
        for page in paginate(samples, site.options.per_page):
            body = [el("h1", f"{split} samples"),
                    el("p", "Original samples, grouped by entity; augmented copies are on their originals' pages.", class_="sub"),
                    tabs, pager(page, split, len(samples)),
                    el("div", [site.sample_card(s, 0) for s in page.items], class_="grid") if samples else el("p", "No samples in this split.", class_="note"),
                    pager(page, split, len(samples))]
            site.write(page.file(split), f"{split} samples ({page.number}/{page.count})", body, active="Samples")


def write_duplicates(site) -> None:
    """Leakage groups with more than one kept sample or with rejected duplicates, largest first."""
    groups = []
    for gid, members in site.by_group.items():
        rejected = [k for m in members for k in site.rejects_of.get(m.id, [])]
        if len(members) > 1 or rejected:
            groups.append((gid, members, rejected))
    loose = [(None, [site.samples[sid]], ks) for sid, ks in site.rejects_of.items() if sid in site.samples and not site.samples[sid].group]
    groups = sorted(groups + loose, key=lambda g: (-(len(g[1]) + len(g[2])), g[0] or g[1][0].id))
    for page in paginate(groups, site.options.groups_per_page):
        blocks = []
        for gid, members, rejected in page.items:
            splits = sorted({m.split for m in members})
            title = [el("span", gid or members[0].id, class_="mono"), f" · {len(members)} kept", f" ({', '.join(splits)})",
                     f" · {len(rejected)} rejected" if rejected else ""]
            cards = [site.sample_card(m, 0) for m in sorted(members, key=lambda m: m.id)] + [reject_card(site, k, site.dataset.rejects[k], 0) for k in rejected]
            blocks.append(section(None, el("h3", title), el("div", cards, class_="grid"), id=None))
        body = [el("h1", "Near-duplicate groups"),
                el("p", f"{len(groups):,} groups: near-duplicate images and texts the build kept together in one split "
                        "(leakage groups), with the records it dropped as their duplicates.", class_="sub"),
                pager(page, "duplicates", len(groups)), blocks or el("p", "No near-duplicates.", class_="note"), pager(page, "duplicates", len(groups))]
        site.write(page.file("duplicates"), f"Near-duplicate groups ({page.number}/{page.count})", body, active="Duplicates")


def write(site) -> None:
    write_galleries(site)
    for s in site.samples.values():
        write_sample_page(site, s)
    write_duplicates(site)
