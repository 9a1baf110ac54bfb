"""The rejects gallery: one page per reason, each rejected record with its detail and, for a
duplicate, the kept sample it points at side by side (its own image too when the raw sources
were given)."""

from __future__ import annotations

from collections import defaultdict

from emmel.schema import Reject
from pages.html import el, href, table
from pages.layout import section
from pages.naming import safe_name
from pages.paginate import pager, paginate

# What each reason means, for readers of the site (the codes are documented in docs/FORMAT.md).
REASONS = {
    "malformed_record": "the line is not a valid record",
    "bad_encoding": "the line is not UTF-8",
    "missing_field": "a required field is missing or empty",
    "unsafe_path": "the image path leaves the source folder",
    "missing_image": "the image file is not there",
    "empty_file": "the image file is empty",
    "not_an_image": "the file is not a readable image",
    "truncated_image": "the image cannot be decoded completely",
    "decompression_bomb": "the image has too many pixels",
    "low_resolution": "the image is too small",
    "extreme_aspect_ratio": "the image is too long and thin",
    "empty_text": "the description is empty",
    "text_too_short": "the description is too short",
    "text_too_long": "the description is too long",
    "duplicate_image": "byte-identical to a kept image",
    "near_duplicate_image": "a near copy of a kept image of the same entity",
    "near_duplicate_text": "its description nearly repeats a kept one",
    "image_entity_conflict": "the same photo is linked to another entity",
    "annotator_rejected": "rejected by a reviewer",
    "annotator_nil": "a reviewer found no matching entity",
    "suspect_mismatch": "its image and text do not match (model-flagged)",
}


def reason_href(reason: str, depth: int) -> str:
    return "../" * depth + href("rejects", safe_name(reason) + ".html")


def reject_card(site, k: int, r: Reject, depth: int) -> object:
    """The rejected record as a card: its raw image when known, else a placeholder."""
    key = site.reject_thumb.get(k)
    caption = el("div",
                 el("div", el("span", r.reason, class_="badge reason")),
                 el("div", r.detail, class_="text", title=r.detail),
                 el("div", r.record, class_="meta mono", title=r.record),
                 class_="body")
    return el("div", el("span", site.img(key, depth, alt=f"rejected {r.record}") if key else
                        el("img", src=site.up(depth) + "assets/missing.svg", alt="image not available (raw sources not given)"), class_="thumb"),
              caption, class_="card rejected")


def _pair(site, k: int, r: Reject, depth: int) -> object:
    kept = site.samples.get(r.duplicate_of or "")
    right = site.sample_card(kept, depth) if kept else el("div", el("div", "kept sample ", el("span", r.duplicate_of, class_="mono"),
                                                                     " is not in the dataset", class_="body"), class_="card")
    return el("div", el("h3", "rejected ", el("span", r.record_id or r.record, class_="mono"), " → kept ",
                        site.sample_link(r.duplicate_of, depth) if kept else el("span", r.duplicate_of, class_="mono")),
              el("div", reject_card(site, k, r, depth), right, class_="pair"), class_="pair-box")


def write(site) -> None:
    by_reason: dict[str, list[int]] = defaultdict(list)
    for k, r in enumerate(site.dataset.rejects):
        by_reason[r.reason].append(k)
    total = len(site.dataset.rejects)
    rows = [[el("a", reason, href=reason_href(reason, 0)), REASONS.get(reason, ""), len(ks)]
            for reason, ks in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    counts = site.dataset.counts()
    sources_note = ("Rejected images are shown from the raw sources." if site.reject_thumb else
                    "Rejected records keep no image in the dataset; pass the raw sources (emmel view … --sources DIR…) to see them.")
    body = [el("h1", "Rejects"),
            el("p", f"{total:,} of {counts['input_records']:,} input records were dropped, each with its reason. "
               "A duplicate is shown beside the kept sample it points at. ", sources_note, class_="sub"),
            section("By reason", table(["reason", "what it means", "records"], rows, numeric=(2,)) if rows
                    else el("p", "Nothing was rejected.", class_="note"))]
    site.write("rejects.html", "Rejects", body, active="Rejects")
    for reason, ks in sorted(by_reason.items()):
        stem = reason_href(reason, 0)[len("rejects/"):-len(".html")]
        dupes = any(site.dataset.rejects[k].duplicate_of for k in ks)
        per_page = site.options.groups_per_page if dupes else site.options.per_page
        for page in paginate(ks, per_page):
            rejects = [(k, site.dataset.rejects[k]) for k in page.items]
            if dupes:
                cards = [_pair(site, k, r, 1) if r.duplicate_of else el("div", reject_card(site, k, r, 1), class_="pair-box") for k, r in rejects]
            else:
                cards = [reject_card(site, k, r, 1) for k, r in rejects]
            body = [el("p", el("a", "Rejects", href="../rejects.html"), " › ", reason, class_="crumbs"),
                    el("h1", reason), el("p", f"{len(ks):,} records: {REASONS.get(reason, 'see docs/FORMAT.md')}.", class_="sub"),
                    pager(page, stem, len(ks)),
                    el("div", cards, class_="pair-list" if dupes else "grid"),
                    pager(page, stem, len(ks))]
            site.write(f"rejects/{page.file(stem)}", f"{reason} ({page.number}/{page.count})", body, active="Rejects")
