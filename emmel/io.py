"""Deterministic, atomic file I/O shared by every stage.

JSON is written with sorted keys, no ASCII escaping and ``\n`` line ends, so the same data
always gives the same bytes. Files are written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable, Iterator

from emmel.errors import EmmelError


def dumps(obj: Any) -> str:
    """Canonical one-line JSON."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class NotRegularFileError(OSError):
    """A path that names a FIFO, device, socket or folder where a regular file was expected."""


def file_kind(mode: int) -> str:
    """``"FIFO"``, ``"character device"``, … for messages; ``"file"`` for a regular file."""
    for test, kind in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return "special file"


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFileError(f"is a {file_kind(mode)}, not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for reading bytes only if it is a regular file (symlinks followed).

    Opened non-blocking and checked on the descriptor, so a FIFO (even one swapped in after a
    check) raises ``NotRegularFileError`` at once instead of blocking, and ``/dev/zero`` or a folder
    never streams forever; a missing file raises ``FileNotFoundError``.
    """
    _require_regular(os.stat(path).st_mode)  # a socket cannot even be opened: say what it is
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _require_regular(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def stable_id(prefix: str, *parts: str, length: int = 12) -> str:
    """An id that depends only on its parts, e.g. ``stable_id("E", label)``."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return prefix + digest[:length]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    lines = [dumps(row) for row in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmmelError("file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise EmmelError(f"not UTF-8 ({exc.reason} at byte {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise EmmelError(f"invalid JSON: {exc.msg}", path=path, record=f"line {exc.lineno}") from None


def iter_jsonl_lines(path: str | os.PathLike, *, encoding: str = "utf-8") -> Iterator[tuple[int, Any | None, str | None]]:
    """Yield ``(line_number, object, problem)`` for every non-blank line.

    A line that is not in ``encoding`` (an ASCII-compatible codec, see ``emmel.textfiles``) or not a
    JSON object yields ``(n, None, "reason: detail")`` instead of raising, so callers can reject one
    record and keep the rest.
    """
    path = Path(path)
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        raise EmmelError("file not found", path=path) from None
    except NotRegularFileError as exc:
        raise EmmelError(str(exc), path=path) from None
    from emmel.textfiles import encoding_label  # (emmel.textfiles reads through open_regular above)

    shown = encoding_label(encoding)
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                yield number, None, f"bad_encoding: not {shown} ({exc.reason} at byte {exc.start})"
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"malformed_record: invalid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield number, None, "malformed_record: a line must hold a JSON object"
                continue
            yield number, obj, None


def read_jsonl(path: str | os.PathLike, *, encoding: str = "utf-8") -> list[dict]:
    """Read a JSONL file this tool wrote (or a user's, in ``encoding``); any bad line is an error naming the file and line."""
    rows = []
    for number, obj, problem in iter_jsonl_lines(path, encoding=encoding):
        if problem:
            raise EmmelError(problem.split(": ", 1)[1], path=path, record=f"line {number}")
        rows.append(obj)
    return rows


def relative_parts(relative: str) -> tuple[str, ...]:
    """The parts of a relative path from untrusted data; ``ValueError`` for empty, absolute or ``..`` paths.

    The lexical half of ``safe_join``, for callers that resolve folders themselves (and cache them).
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative or relative.startswith(("/", "\\")) or (
        len(relative) > 1 and relative[1] == ":"
    ):
        raise ValueError(f"path {relative!r} is absolute or empty")
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if ".." in parts:
        raise ValueError(f"path {relative!r} leaves its folder")
    return parts


def safe_join(root: str | os.PathLike, relative: str) -> Path:
    """Join a relative path from untrusted data under ``root``; refuse anything that escapes it."""
    parts = relative_parts(relative)
    root = Path(root).resolve()
    target = (root / Path(*parts)).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"path {relative!r} leaves its folder")
    return target


class SafeJoiner:
    """``safe_join`` for many paths under one root (10,000 images share a few hundred folders):
    the same lexical check and symlink containment, with each folder resolved once."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self._folders: dict[tuple[str, ...], Path] = {}

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def __call__(self, relative: str) -> Path:
        parts = relative_parts(relative)
        folder = self._folders.get(parts[:-1])
        if folder is None:
            folder = self.root.joinpath(*parts[:-1]).resolve()
            if not self._inside(folder):
                raise ValueError(f"path {relative!r} leaves its folder")
            self._folders[parts[:-1]] = folder
        path = folder / parts[-1]
        if path.is_symlink() and not self._inside(path.resolve()):
            raise ValueError(f"path {relative!r} leaves its folder")
        return path


@contextmanager
def atomic_directory(final: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling and rename it into place only on success.

    A killed process leaves at most a ``.name.tmp-*`` folder, never a half-written ``name``.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise EmmelError("output folder exists (use --overwrite to replace it)", path=final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
