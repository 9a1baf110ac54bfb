"""Thumbnails, made once per image and reused: small JPEGs named by a key of the image (so a
rebuilt site can take them over from the previous one), decoded in parallel when there are many.
A missing or undecodable image gets a placeholder instead of stopping the site."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from emmel.dataset import link_or_copy
from emmel.images import ImageProblem, open_image
from emmel.parallel import map_ordered

SIZE = 192  # longest side, pixels
QUALITY = 78
VERSION = "3"  # bump when the thumbnail recipe changes, so old ones are not reused
PLACEHOLDERS = {"missing": "assets/missing.svg", "unreadable": "assets/unreadable.svg"}
PARALLEL_FROM = 300  # fewer images are faster in-process than with a pool's start-up


def thumb_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join((VERSION, str(SIZE), *parts)).encode("utf-8")).hexdigest()[:20]


def thumb_path(key: str) -> str:
    return f"thumbs/{key[:2]}/{key}.jpg"


def render_thumbnail(source, size: int = SIZE) -> bytes:
    """JPEG bytes of a thumbnail of an image file (or bytes), opened the one way emmel opens images
    (``emmel.images.open_image``: regular files only, size limits, EXIF orientation, any pixel mode);
    raises ``ImageProblem`` for anything it cannot show."""
    from PIL import Image

    image = open_image(source, reduce_to=size)
    image.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=QUALITY, optimize=False, progressive=False)
    return out.getvalue()


def _make(job: tuple[str, str, str]) -> str:
    """One thumbnail job (top-level so process pools can pickle it): ``ok``, ``missing`` or ``unreadable: …``."""
    src, dest, reuse = job
    target = Path(dest)
    if reuse and os.path.isfile(reuse):
        link_or_copy(reuse, target)
        return "ok"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.write_bytes(render_thumbnail(src))
        return "ok"
    except ImageProblem as exc:
        return "missing" if exc.reason == "missing_image" else f"unreadable: {exc.reason}: {exc.detail[:120]}"


@dataclass
class Thumbnails:
    """Collect images (``add``), make every thumbnail at once (``make``), then ask for each one's path."""

    site: Path  # the (temporary) site folder
    previous: Path | None = None  # a site this one replaces: its thumbnails are reused
    jobs: dict[str, str | None] = field(default_factory=dict)  # key -> source path (None: known missing)
    problems: dict[str, str] = field(default_factory=dict)  # key -> missing / unreadable: detail

    def add(self, source: Path | None, *key_parts: str) -> str:
        key = thumb_key(*key_parts)
        self.jobs.setdefault(key, str(source) if source is not None else None)
        return key

    def make(self, workers: int | None = None) -> None:
        keys = [k for k, src in self.jobs.items() if src is not None]
        for k, src in self.jobs.items():
            if src is None:
                self.problems[k] = "missing"
        jobs = [(self.jobs[k], str(self.site / thumb_path(k)),
                 str(self.previous / thumb_path(k)) if self.previous else "") for k in keys]
        workers = workers or min(8, os.cpu_count() or 1)
        engine = "processes" if len(jobs) >= PARALLEL_FROM and workers > 1 else "local"
        for key, status in zip(keys, map_ordered(_make, jobs, engine=engine, workers=workers, desc="thumbnails")):
            if status != "ok":
                self.problems[key] = status

    def src(self, key: str) -> str:
        """Site-relative path of the thumbnail, or of the placeholder that stands in for it."""
        problem = self.problems.get(key)
        if problem is None:
            return thumb_path(key)
        return PLACEHOLDERS["missing" if problem == "missing" else "unreadable"]

    def ok(self, key: str) -> bool:
        return key not in self.problems
