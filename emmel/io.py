"""Deterministic, atomic file I/O shared by every stage, and the one guard on output paths.

JSON is written with sorted keys, no ASCII escaping and ``\n`` line ends, so the same data
always gives the same bytes. Files are written to a temporary sibling and renamed into place.
Every folder or file a command writes where the user says goes through ``atomic_directory`` /
``claim_folder`` / ``write_output_file``, which refuse to replace anything emmel did not write
(docs/guarantees.md).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from emmel import TOOL
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
        raise EmmelError(f"invalid JSON: {json_error(exc)}", path=path, record=f"line {exc.lineno}") from None


def json_error(exc: json.JSONDecodeError, what: str = "the text") -> str:
    """A readable reason for a JSON error: says when the text is cut off (it ends before the value
    does, as after a killed writer) and always ends with the column, never with a dangling "at"."""
    msg = exc.msg[:1].lower() + exc.msg[1:]
    where = f"{msg} column {exc.colno}" if msg.endswith(" at") else f"{msg} at column {exc.colno}"
    if msg.startswith("unterminated string") or exc.pos >= len(exc.doc.rstrip()):
        return f"{what} is cut off ({where})"
    return where


ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GB18030", "gbk": "GBK", "gb2312": "GB2312",
                   "big5": "Big5"}


def encoding_label(name: str) -> str:
    """How reports and the dataset card name an encoding (here, below ``emmel.textfiles``, since
    ``iter_jsonl_lines`` names it in its problems and ``emmel.textfiles`` reads through ``open_regular``)."""
    return ENCODING_LABELS.get(name, name)


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
                obj = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                yield number, None, f"malformed_record: invalid JSON: {json_error(exc, 'the line')}"
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


# ---------------------------------------------------------------- guarded outputs
#
# The one rule for everything a command writes where the user says (docs/guarantees.md):
# an existing folder is replaced only with ``overwrite``, only if emmel wrote it (the MARKER file
# inside names the kind of output and the top-level entries emmel put there), only by an output
# of the same kind, never when it holds entries emmel did not write, and never when it is an input
# or an ancestor of one. Temporary folders carry the writer's pid and host in their name, so a run
# can tell an abandoned one (its writer is dead) from one another run is still filling.

MARKER = ".emmel-output"
_TAGGED = re.compile(r"(?P<pid>\d+)@(?P<host>.+)-[a-z0-9_]{8}$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "localhost"


def _tag() -> str:
    """``PID@HOST``: who owns a temporary folder."""
    return f"{os.getpid()}@{_host()}"


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of a folder emmel wrote (``{"kind", "entries", "tool"}``), or None."""
    path = Path(folder) / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(mark, dict) or not str(mark.get("tool", "")).startswith("emmel") or not isinstance(mark.get("kind"), str):
        return None
    entries = mark.get("entries")
    mark["entries"] = [e for e in entries if isinstance(e, str)] if isinstance(entries, list) else []
    return mark


def write_marker(folder: str | os.PathLike, kind: str, entries: Iterable[str] | None = None) -> None:
    """Mark ``folder`` as an emmel output of ``kind``; ``entries`` default to what it holds now."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir()} if entries is None else set(entries)
    write_json(folder / MARKER, {"entries": sorted(names - {MARKER}), "kind": kind, "tool": TOOL})


def check_output(final: str | os.PathLike, *, kind: str, overwrite: bool, inputs: Iterable = (), partial: bool = False) -> Path:
    """Refuse an output folder whose replacement could lose anything; returns its resolved path.

    Raises ``EmmelError`` (one line, saying why and what to do) when ``final`` is an input or an
    ancestor of one, is not a folder, was not written by emmel as a ``kind`` output, holds entries
    emmel did not write (``partial``: callers that replace only the marker's entries and keep the
    rest, such as ``emmel crawl``), or exists without ``overwrite`` (suggested only where it would
    work). An empty folder holds nothing to lose and is accepted. Commands call this before long work, so a bad ``--out``
    fails in a second; ``atomic_directory`` calls it again at commit time.
    """
    given = Path(final)
    final = given.resolve()
    for source in filter(None, inputs):
        src = Path(source).resolve()
        if final == src:
            raise EmmelError("refusing to write over the input itself; choose a new folder", path=given)
        if final in src.parents:
            raise EmmelError(f"refusing to replace a folder that holds the input {source}; choose another folder", path=given)
    if not final.exists():
        return final
    if not final.is_dir():
        raise EmmelError("the output exists and is not a folder; choose another path", path=given)
    try:
        entries = sorted(p.name for p in final.iterdir())
    except OSError as exc:
        raise EmmelError(f"cannot read the output folder ({exc.strerror}); choose another folder", path=given) from None
    if not entries:
        return final
    mark = read_marker(final)
    if mark is None:
        raise EmmelError(f"refusing to replace a folder emmel did not write (it has no {MARKER} marker); "
                         "choose a new folder, or delete it yourself if nothing in it matters", path=given)
    if mark["kind"] != kind:
        raise EmmelError(f"refusing to replace an emmel {mark['kind']} folder with a {kind}; choose another folder", path=given)
    foreign = [name for name in entries if name != MARKER and name not in mark["entries"]]
    if foreign and not partial:
        what = f"1 entry emmel did not write ({foreign[0]!r}); move it" if len(foreign) == 1 else \
            f"{len(foreign)} entries emmel did not write ({foreign[0]!r}, …); move them"
        raise EmmelError(f"refusing to replace it: it holds {what} out first or choose another folder", path=given)
    if not overwrite:
        raise EmmelError("output folder exists (use --overwrite to replace it)", path=given)
    return final


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def _size(folder: Path) -> str:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total / 1e3:.0f} kB"


def leftovers(final: str | os.PathLike) -> list[tuple[Path, str]]:
    """Temporary siblings of ``final`` left by emmel runs: ``(path, state)`` with state ``abandoned``
    (its writer, on this host, is dead), ``running`` (alive) or ``unknown`` (another host, or an
    emmel from before owner tags)."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    found = []
    for what in ("tmp", "old"):
        prefix = f".{final.name}.{what}-"
        for path in sorted(final.parent.glob(glob.escape(prefix) + "*")):
            if path.is_symlink() or not path.is_dir():
                continue  # never ours
            match = _TAGGED.match(path.name[len(prefix):])
            if match is None or match["host"] != _host():
                found.append((path, "unknown"))
            else:
                found.append((path, "running" if _pid_alive(int(match["pid"])) else "abandoned"))
    return found


def sweep_leftovers(final: str | os.PathLike, say=None) -> None:
    """Remove the abandoned temporary folders of ``final`` (restoring a replaced folder a kill left
    aside) and say one line about each leftover that is not provably abandoned."""
    final = Path(final)
    say = say or (lambda line: print(line, file=sys.stderr))
    for path, state in leftovers(final):
        if state == "abandoned":
            if path.name.startswith(f".{final.name}.old-") and not final.exists():
                os.replace(path, final)  # killed between the two renames: the previous output comes back
                say(f"emmel: restored {final} from {path.name}, left aside by an interrupted run")
                continue
            size = _size(path)
            shutil.rmtree(path, ignore_errors=True)
            say(f"emmel: removed {path.name} ({size}), the temporary folder of an interrupted run")
        elif state == "running":
            say(f"emmel: warning: another emmel run is writing {final} now ({path.name}); the last to finish wins")
        else:
            say(f"emmel: note: {path} looks like the temporary folder of an interrupted emmel run (another host or an "
                f"older emmel); delete it if no emmel run is writing {final.name}")


def _replace(final: Path, new: Path | None) -> None:
    """Swap ``new`` into ``final`` (or just remove ``final`` when ``new`` is None); the old folder is
    renamed aside under an owner-tagged name first, so a kill leaves it recoverable."""
    if final.exists():
        old = final.parent / f".{final.name}.old-{_tag()}-{secrets.token_hex(4)}"
        os.replace(final, old)
        if new is not None:
            os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
    elif new is not None:
        os.replace(new, final)


@contextmanager
def atomic_directory(final: str | os.PathLike, *, kind: str, overwrite: bool = False, inputs: Iterable = ()) -> Iterator[Path]:
    """Build an output folder in a temporary sibling and rename it into place only on success.

    ``check_output`` decides whether ``final`` may be replaced (before and again at commit). The
    temporary folder is ``.NAME.tmp-PID@HOST-XXXXXXXX``: a killed run leaves at most that, which the
    next run for the same output removes (``sweep_leftovers``). The finished folder gets the
    ``MARKER`` listing what emmel wrote, so a later ``--overwrite`` knows it may replace it.
    """
    given, inputs = Path(final), list(inputs)
    final = check_output(given, kind=kind, overwrite=overwrite, inputs=inputs)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(final)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp-{_tag()}-"))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
        write_marker(tmp, kind)
        check_output(given, kind=kind, overwrite=overwrite, inputs=inputs)  # the folder may have changed meanwhile
        _replace(final, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def claim_folder(final: str | os.PathLike, *, kind: str, overwrite: bool, inputs: Iterable = (),
                 entries: Iterable[str] | None = None) -> Path:
    """For writers that work in place (``emmel demo``): the guarded ``final``, emptied and marked
    before any work, so even a killed run leaves a folder the next run may replace."""
    final = check_output(final, kind=kind, overwrite=overwrite, inputs=inputs)
    sweep_leftovers(final)
    _replace(final, None)
    final.mkdir(parents=True)
    write_marker(final, kind, entries if entries is not None else ())
    return final


def write_output_file(path: str | os.PathLike, data: bytes, *, overwrite: bool, is_ours: Callable[[bytes], bool],
                      what: str, inputs: Iterable = ()) -> Path:
    """Write a single output file the user named, atomically.

    An existing file is replaced only with ``overwrite`` and only if ``is_ours(its bytes)`` says it
    is a ``what`` emmel wrote (each writer recognises its own format); never an input.
    """
    final = check_output_file(path, overwrite=overwrite, is_ours=is_ours, what=what, inputs=inputs)
    atomic_write_bytes(final, data)
    return final


def check_output_file(path: str | os.PathLike, *, overwrite: bool, is_ours: Callable[[bytes], bool], what: str,
                      inputs: Iterable = ()) -> Path:
    """The checks of ``write_output_file`` alone (for commands that write the file after long work)."""
    given = Path(path)
    final = given.resolve()
    for source in inputs:
        if source is not None and final == Path(source).resolve():
            raise EmmelError("refusing to write over the input itself; choose a new file", path=given)
    if final.is_dir():
        raise EmmelError("the output is a folder; give a file name", path=given)
    if final.exists():
        if not overwrite:
            raise EmmelError("output file exists (use --overwrite to replace it)", path=given)
        try:
            ours = is_ours(final.read_bytes())
        except OSError as exc:
            raise EmmelError(f"cannot read the existing file ({exc.strerror})", path=given) from None
        if not ours:
            raise EmmelError(f"refusing to replace a file that is not a {what} emmel wrote; choose another name", path=given)
    return final
