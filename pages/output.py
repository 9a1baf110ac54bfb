"""The site's output folder: the project's one guarded rule (``emmel.io.check_output`` /
``atomic_directory``: replaced only with ``--overwrite``, only when emmel wrote it as a site, never
an input nor a folder holding one), plus one more: never inside an input (a site inside a dataset
would be stray files there, and inside a run folder it would be replaced with the run)."""

from __future__ import annotations

from pathlib import Path

from emmel.errors import EmmelError
from emmel.io import check_output

KIND = "site"  # the output kind in the folder's emmel.io.MARKER


def check_site_output(out: Path, *, overwrite: bool, inputs: list[Path]) -> Path | None:
    """Refuse a bad ``--out`` at once; returns the existing site it will replace (whose thumbnails can be reused) or None."""
    resolved = out.resolve()
    for folder in inputs:
        if folder.resolve() in resolved.parents:
            raise EmmelError(f"the site folder must be outside {folder}; choose another --out", path=out)
    final = check_output(out, kind=KIND, overwrite=overwrite, inputs=inputs)
    return final if final.is_dir() and any(final.iterdir()) else None
