"""The frame every page shares: head (CSS, a strict content security policy), navigation with a
search box, footer; and the static assets (CSS, JS) written once per site."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pages.html import Html, el, esc

ASSETS = "assets"
STATIC_FILES = ("site.css", "site.js", "missing.svg", "unreadable.svg")
# Scripts and styles only from files of the site itself: no inline script can run, no network is used.
CSP = ("default-src 'none'; img-src 'self' file: data:; style-src 'self' file:; style-src-attr 'unsafe-inline'; script-src 'self' file:; "
       "base-uri 'none'; form-action 'self' file:")


def static_text(name: str) -> str:
    return resources.files("pages").joinpath("static", name).read_text(encoding="utf-8")


def write_assets(folder: Path) -> None:
    target = folder / ASSETS
    target.mkdir(parents=True, exist_ok=True)
    for name in STATIC_FILES:
        (target / name).write_text(static_text(name), encoding="utf-8")


class Frame:
    """The frame every page of one site shares (head, navigation with a search box, footer), made once
    per folder depth and active tab, so thousands of pages cost one string join each.

    ``nav`` holds (label, root-relative href); pages are ``depth`` folders below the site root and
    every link is relative, so the site works from any folder and over file://."""

    def __init__(self, site: str, nav: list[tuple[str, str]], *, search: bool = True, footer=None):
        self.site, self.nav, self.search = site, nav, search
        self.footer = footer or Html("made by <b>emmel view</b>; a static site, no server needed")
        self._parts: dict[tuple[int, str], tuple[str, str, str]] = {}

    def _frame(self, depth: int, active: str) -> tuple[str, str, str]:
        key = (depth, active)
        if key not in self._parts:
            up = "../" * depth
            links = [el("a", label, href=up + target, class_="active" if label == active else None) for label, target in self.nav]
            search_box = el("form", el("input", type="search", name="q", placeholder="search labels and texts", aria_label="search"),
                            action=up + "search.html", method="get", class_="search") if self.search else None
            header = el("header", el("div", el("a", self.site, href=up + "index.html", class_="brand"), el("nav", links), search_box, class_="bar"))
            head_open = ('<!DOCTYPE html>\n<html lang="zh-Hans"><head>' + el("meta", charset="utf-8")
                         + el("meta", http_equiv="Content-Security-Policy", content=CSP)
                         + el("meta", name="viewport", content="width=device-width, initial-scale=1") + "<title>")
            head_close = "</title>" + el("link", rel="stylesheet", href=up + f"{ASSETS}/site.css") + "</head><body>" + header + "<main>"
            tail = "</main>" + el("footer", self.footer)
            self._parts[key] = (head_open, head_close, tail)
        return self._parts[key]

    def page(self, title: str, body, *, depth: int, active: str = "", scripts: tuple[str, ...] = ()) -> str:
        head_open, head_close, tail = self._frame(depth, active)
        up = "../" * depth
        full_title = f"{title} · {self.site}" if title != self.site else self.site
        return (head_open + esc(full_title) + head_close + el("div", body, class_="page") + tail
                + "".join(el("script", src=up + s) for s in scripts) + "</body></html>\n")


def document(title: str, body, *, depth: int, site: str, nav: list[tuple[str, str]], active: str = "",
             scripts: tuple[str, ...] = (), search: bool = True, footer=None) -> str:
    """One whole page (see ``Frame``; use a Frame when writing many pages of one site)."""
    return Frame(site, nav, search=search, footer=footer).page(title, body, depth=depth, active=active, scripts=scripts)


def section(title, *body, id: str | None = None) -> Html:
    """A white panel with an optional heading."""
    return el("section", el("h2", title) if title else None, *body, id=id)
