"""The output folder of a page generator: written whole into a temporary sibling and swapped in at
the end (``emmel.io.atomic_directory``); an existing folder is replaced only when it carries the
marker this package writes (``site.json``), so ``--overwrite`` can never delete a user's folder,
and never a folder the pages are made from."""

from __future__ import annotations

import json
from pathlib import Path

from emmel.errors import EmmelError

MARKER = "site.json"
GENERATOR = "emmel view"


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def check_output(out: Path, *, overwrite: bool, inputs: list[Path]) -> Path | None:
    """Refuse an output that would clobber the inputs or a folder emmel did not write; returns the
    existing site (whose thumbnails can be reused) or None."""
    resolved = out.resolve()
    for folder in inputs:
        src = folder.resolve()
        if _inside(resolved, src) or _inside(src, resolved):
            raise EmmelError(f"the site folder must be outside {folder} (and not contain it); choose another --out", path=out)
    if not out.exists() and not out.is_symlink():
        return None
    if not overwrite:
        raise EmmelError("output folder exists (use --overwrite to replace a site emmel view wrote)", path=out)
    if out.is_symlink() or not out.is_dir():
        raise EmmelError("not a folder; refusing to replace it", path=out)
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    if not isinstance(marker, dict) or marker.get("generator") != GENERATOR:
        raise EmmelError(f"not a site written by {GENERATOR} (no {MARKER}); refusing to replace it", path=out)
    return out
