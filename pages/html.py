"""HTML building with escaping by default: ``el("a", text, href=url)`` escapes ``text`` and every
attribute value; only ``Html`` (markup this module built) passes through unescaped. Pages are
assembled from these pieces, never from format strings around untrusted text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from urllib.parse import quote

VOID = frozenset({"area", "br", "col", "hr", "img", "input", "link", "meta", "source", "wbr"})


class Html(str):
    """Markup that is already safe to insert."""

    __slots__ = ()


_escape = html.escape


def esc(value) -> Html:
    """Text as HTML (quotes included, so it is safe in attribute values too)."""
    kind = type(value)
    if kind is Html:
        return value
    if kind is str:
        return Html(_escape(value))
    return Html(_escape("" if value is None else str(value)))


def _collect(items, out: list) -> None:
    for item in items:
        kind = type(item)
        if kind is Html:
            out.append(item)
        elif kind is str:
            out.append(_escape(item))
        elif item is None or item is False:
            continue
        elif kind in (list, tuple) or (hasattr(item, "__iter__") and not isinstance(item, (str, bytes, dict))):
            _collect(item, out)
        else:
            out.append(_escape(str(item)))


_ATTR_NAMES: dict[str, str] = {}


def _attr_name(name: str) -> str:
    if name not in _ATTR_NAMES:
        _ATTR_NAMES[name] = name.rstrip("_").replace("_", "-")
    return _ATTR_NAMES[name]


def el(tag: str, *children, **attrs) -> Html:
    """``<tag attrs>children</tag>``; ``class_`` for ``class``, ``data_x`` for ``data-x``; ``None``/``False`` attributes are left out."""
    opening = "<" + tag
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        opening += " " + _attr_name(name) if value is True else f' {_attr_name(name)}="{esc(value)}"'
    if tag in VOID:
        return Html(opening + ">")
    out: list = []
    _collect(children, out)
    return Html(opening + ">" + "".join(out) + f"</{tag}>")


def href(*parts: str) -> str:
    """A relative URL from path parts (percent-encoded; ``/`` joins the parts)."""
    return "/".join(quote(p, safe="/-._~") for p in parts if p)


def external(url: str, text=None) -> Html:
    """A link to an outside page, only for http(s) URLs (a ``javascript:`` URL stays text)."""
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")) and not any(c in url for c in '\x00\n\r"<> '):
        return el("a", text if text is not None else url, href=url, rel="noopener noreferrer nofollow", target="_blank")
    return esc(text if text is not None else url)


def js_literal(obj) -> str:
    """JSON that is also safe inside a script file or block: ``<``, ``>``, ``&`` and line separators escaped."""
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        data = data.replace(ch, code)
    return data


def table(headers: list, rows: list[list], *, class_: str | None = None, numeric: Iterable[int] = ()) -> Html:
    """A table; ``numeric`` column indices are right-aligned."""
    numeric = set(numeric)
    head = el("thead", el("tr", [el("th", h, class_="num" if i in numeric else None) for i, h in enumerate(headers)])) if any(headers) else None
    body = el("tbody", [el("tr", [el("td", c, class_="num" if i in numeric else None) for i, c in enumerate(row)]) for row in rows])
    return el("table", head, body, class_=class_)


def kv_table(rows) -> Html:
    """A two-column key/value table (keys as row headers); ``None`` rows are left out."""
    return el("table", el("tbody", [el("tr", el("th", key, scope="row"), el("td", value)) for key, value in (r for r in rows if r is not None)]), class_="kv")
