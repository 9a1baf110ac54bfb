"""Splitting long lists into small pages, and the pager that links them (``name.html``,
``name-p2.html``, …), so a 10k-sample dataset never makes a heavy page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pages.html import Html, el


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    count: int  # pages in all
    items: Sequence
    first: int  # index of items[0] in the whole list

    def file(self, stem: str) -> str:
        return page_file(stem, self.number)


def page_file(stem: str, number: int) -> str:
    return f"{stem}.html" if number == 1 else f"{stem}-p{number}.html"


def paginate(items: Sequence, per_page: int) -> list[Page]:
    """At least one page (an empty list gives one empty page)."""
    per_page = max(1, per_page)
    count = max(1, -(-len(items) // per_page))
    return [Page(n + 1, count, items[n * per_page:(n + 1) * per_page], n * per_page) for n in range(count)]


def pager(page: Page, stem: str, total: int) -> Html:
    """Previous / numbered / next links (the numbers around the current page, first and last)."""
    if page.count <= 1:
        return Html("")
    shown = sorted({1, page.count, *range(max(1, page.number - 3), min(page.count, page.number + 3) + 1)})
    parts, last = [], 0
    for n in shown:
        if n - last > 1:
            parts.append(el("span", "…", class_="gap"))
        parts.append(el("span", str(n), class_="current") if n == page.number else el("a", str(n), href=page_file(stem, n)))
        last = n
    prev = el("a", "‹ previous", href=page_file(stem, page.number - 1), rel="prev", class_="prev") if page.number > 1 else None
    nxt = el("a", "next ›", href=page_file(stem, page.number + 1), rel="next", class_="next") if page.number < page.count else None
    end = min(page.first + len(page.items), total)
    info = el("span", f"{page.first + 1}–{end} of {total}", class_="range")
    return el("nav", prev, parts, nxt, info, class_="pager")
