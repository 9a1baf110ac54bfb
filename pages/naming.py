"""File names of pages from ids in the data: the id itself when it is plain, else a hash."""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def safe_name(identifier: str) -> str:
    """A file name for an id: the id itself when it is plain (``E1f0c3a9d5e21``), else ``_`` + a hash,
    so no id from the data can name a path outside its folder or collide with a page of the site
    (``S1-p2`` would be page 2 of ``S1``)."""
    if _SAFE.fullmatch(identifier) and not re.search(r"-p\d+$", identifier) and not identifier.endswith(".html"):
        return identifier
    return "_" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:20]
