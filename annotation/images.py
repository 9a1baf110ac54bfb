"""Image URLs of tasks, and the check that a URL coming back in an export names the right file.

Three modes: ``local-files`` (``/data/local-files/?d=<path relative to the Label Studio document
root>``, served by the server itself from a local-files storage), ``http`` (a prefix under which the
dataset folder is served) and ``inline`` (``data:`` URLs, for small sets). Every path from a dataset
or an export goes through ``emmel.io.safe_join`` or the equivalent checks here: nothing may leave the
dataset folder (``..``, absolute paths, backslashes, percent-encoded dots, credentials in URLs).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, quote, unquote, urlsplit

from emmel.images import ImageLimits, ImageProblem, check_image_file, read_image_file
from emmel.io import SafeJoiner
from emmel.schema import Sample

MODES = ("local-files", "http", "inline")
LOCAL_FILES_PATH = "/data/local-files/"
INLINE_LIMIT = 32 << 20  # bytes of images an inline export may embed
MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif", ".bmp": "image/bmp"}


class ImageError(ValueError):
    """An image path or URL that is unsafe or names the wrong file."""


@dataclass
class ImageURLs:
    """How task image URLs are made."""

    mode: str = "local-files"
    document_root: str | None = None  # local-files: LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT of the server
    prefix: str = ""  # http: URL the dataset folder is served under
    inline_limit: int = INLINE_LIMIT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ImageError(f"unknown image URL mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.mode == "http":
            parts = urlsplit(self.prefix)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
                raise ImageError(f"--image-prefix must be a plain http(s) URL, got {self.prefix!r}")
        if self.mode == "local-files" and not self.document_root:
            raise ImageError("local-files URLs need the Label Studio document root (--document-root or LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")


def dataset_under_root(dataset_root: Path, document_root: str | os.PathLike) -> str:
    """The dataset folder relative to the document root; it must lie strictly inside it."""
    root = Path(document_root).resolve()
    folder = Path(dataset_root).resolve()
    if folder == root:
        raise ImageError(f"the dataset folder {folder} is the document root itself; Label Studio serves local files only from a subfolder of {root}")
    if root not in folder.parents:
        raise ImageError(f"the dataset folder {folder} is not inside the Label Studio document root {root}")
    return folder.relative_to(root).as_posix()


class URLMaker:
    """Makes the URL of every sample's image under one ``ImageURLs`` setting."""

    def __init__(self, dataset_root: Path, options: ImageURLs):
        self.root = Path(dataset_root)
        self.options = options
        self.under_root = dataset_under_root(self.root, options.document_root) if options.mode == "local-files" else ""
        self.inline_bytes = 0
        self.files = ImageFiles(self.root)

    def __call__(self, sample: Sample) -> str:
        path = self.files(sample)
        mode = self.options.mode
        if mode == "local-files":
            return LOCAL_FILES_PATH + "?d=" + quote(f"{self.under_root}/{sample.image}", safe="/")
        if mode == "http":
            return self.options.prefix.rstrip("/") + "/" + quote(sample.image, safe="/")
        budget = self.options.inline_limit - self.inline_bytes  # never read more than may still be embedded
        try:
            data = read_image_file(path, ImageLimits(max_bytes=budget))
        except ImageProblem as exc:
            if exc.reason == "file_too_large":
                raise ImageError(f"inline images exceed {self.options.inline_limit >> 20} MiB; use local-files or http URLs for a set this large") from None
            raise ImageError(f"sample {sample.id}: image {sample.image!r}: {exc.detail}") from None
        self.inline_bytes += len(data)
        mime = MIME.get(path.suffix.lower(), "application/octet-stream")
        return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


class ImageFiles:
    """Finds the image file of a sample, refusing paths that leave the dataset folder
    (``emmel.io.SafeJoiner``: no absolute paths, no ``..``, symlinks kept inside, folders resolved once)."""

    def __init__(self, root: Path):
        self.join = SafeJoiner(root)
        self.root = self.join.root

    def __call__(self, sample: Sample) -> Path:
        rel = sample.image
        try:
            path = self.join(rel)
        except ValueError as exc:
            raise ImageError(f"sample {sample.id}: image {exc}") from None
        try:
            check_image_file(path, limits=None)  # the kind of file only: size matters where bytes are read
        except ImageProblem as exc:
            raise ImageError(f"sample {sample.id}: image {rel!r} " + ("is missing" if exc.detail == "not found" else exc.detail)) from None
        return path


def _sha256_of_image(root: Path, sample: Sample) -> str:
    try:
        return hashlib.sha256(read_image_file(sample_image_path(root, sample))).hexdigest()
    except ImageProblem as exc:
        raise ImageError(f"sample {sample.id}: image {sample.image!r}: {exc.detail}") from None


def sample_image_path(root: Path, sample: Sample) -> Path:
    """The image file of ``sample`` (see ``ImageFiles``)."""
    return ImageFiles(root)(sample)


def _check_relative(path: str) -> str:
    if not path or "\x00" in path or "\\" in path or "%" in path:
        raise ImageError(f"image path {path!r} is not a plain relative path")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ImageError(f"image path {path!r} is absolute")
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in parts) or "//" in path:
        raise ImageError(f"image path {path!r} leaves its folder")
    return path


def check_image_ref(url: object, sample: Sample, root: Path) -> None:
    """Raise ``ImageError`` unless ``url`` (from an export) safely names ``sample``'s own image.

    Accepts what ``URLMaker`` writes in any mode: a local-files URL whose path ends with the
    sample's image path, an http(s) URL whose path does, a plain relative path, or a data URL with
    the image's bytes.
    """
    if not isinstance(url, str) or not url:
        raise ImageError("task has no image URL")
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise ImageError("inline image is not base64")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise ImageError("inline image is not valid base64") from None
        expected = sample.image_sha256 or _sha256_of_image(root, sample)
        if hashlib.sha256(data).hexdigest() != expected:
            raise ImageError(f"inline image is not the image of sample {sample.id}")
        return
    parts = urlsplit(url)
    if parts.fragment or "@" in parts.netloc:
        raise ImageError(f"image URL {url!r} has a fragment or credentials")
    if parts.path == LOCAL_FILES_PATH and parts.scheme in ("", "http", "https"):
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
        if set(query) != {"d"} or len(query["d"]) != 1:
            raise ImageError(f"local-files URL {url!r} must carry exactly one 'd' parameter")
        path = _check_relative(query["d"][0])
    elif parts.scheme in ("http", "https"):
        if parts.query:
            raise ImageError(f"image URL {url!r} has a query")
        path = _check_relative(unquote(parts.path).lstrip("/"))
    elif not parts.scheme and not parts.netloc and not parts.query:
        path = _check_relative(url)
    else:
        raise ImageError(f"image URL {url!r} has an unsupported scheme")
    if path != sample.image and not path.endswith("/" + sample.image):
        raise ImageError(f"image URL {url!r} does not name the image of sample {sample.id} ({sample.image})")
