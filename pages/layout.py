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


def document(title: str, body, *, depth: int, site: str, nav: list[tuple[str, str]], active: str = "",
             scripts: tuple[str, ...] = (), search: bool = True, footer=None) -> str:
    """A whole page. ``depth`` is how many folders below the site root the page lives (links are relative,
    so the site works from any folder and over file://); ``nav`` holds (label, root-relative href)."""
    up = "../" * depth
    links = [el("a", label, href=up + target, class_="active" if label == active else None) for label, target in nav]
    search_box = el("form", el("input", type="search", name="q", placeholder="search labels and texts", aria_label="search"),
                    action=up + "search.html", method="get", class_="search") if search else None
    header = el("header", el("div", el("a", site, href=up + "index.html", class_="brand"), el("nav", links), search_box, class_="bar"))
    page = el(
        "html",
        el("head",
           el("meta", charset="utf-8"),
           el("meta", http_equiv="Content-Security-Policy", content=CSP),
           el("meta", name="viewport", content="width=device-width, initial-scale=1"),
           el("title", f"{title} · {site}" if title != site else site),
           el("link", rel="stylesheet", href=up + f"{ASSETS}/site.css")),
        el("body", header, el("main", body), el("footer", footer or Html("made by <b>emmel view</b>; a static site, no server needed")),
           [el("script", src=up + s) for s in scripts]),
        lang="zh-Hans",
    )
    return "<!DOCTYPE html>\n" + page + "\n"


def badge(text, kind: str = "") -> Html:
    return el("span", text, class_=f"badge {kind}".strip())


def section(title, *body, id: str | None = None) -> Html:
    return el("section", el("h2", title) if title else None, *body, id=id)


def note(text) -> Html:
    return el("p", esc(text), class_="note")
