"""Reading a benchmark's files defensively: one-line errors for whole files, problems for single records.

A file that cannot be read at all (missing, not UTF-8, not JSON) stops the import with an
``EmmelError`` naming it: its records cannot be counted, so no honest accounting is possible.
Within a readable file, a bad record only becomes a reject (see ``importers.base``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from emmel.errors import EmmelError
from emmel.io import relative_parts, safe_join, sha256_bytes


class JsonFile:
    """A parsed JSON file plus what strict readers would miss: keys repeated inside one object."""

    def __init__(self, path: Path, data: Any, repeated: list[str], sha256: str):
        self.path, self.data, self.repeated, self.sha256 = path, data, repeated, sha256

    @classmethod
    def read(cls, path: str | os.PathLike, *, first_line: bool = False) -> JsonFile:
        """Parse ``path``; ``first_line`` also accepts a valid first line followed by anything (MIMIC reads one line)."""
        path = Path(path)
        raw = read_bytes(path)
        text = decode(raw, path)
        repeated: list[str] = []

        def pairs(items):
            seen = {}
            for key, value in items:
                if key in seen:
                    repeated.append(key)
                    continue  # the first occurrence wins; json.load would silently keep the last
                seen[key] = value
            return seen

        try:
            data = json.loads(text, object_pairs_hook=pairs)
        except json.JSONDecodeError as exc:
            line = text.split("\n", 1)[0]
            if first_line and exc.msg == "Extra data":
                repeated.clear()
                data = json.loads(line, object_pairs_hook=pairs)
            else:
                raise EmmelError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", path=path) from None
        return cls(path, data, repeated, sha256_bytes(raw))


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EmmelError("file not found", path=path) from None
    except IsADirectoryError:
        raise EmmelError("expected a file, found a folder", path=path) from None
    except OSError as exc:
        raise EmmelError(f"cannot read: {exc.strerror}", path=path) from None


def decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EmmelError(f"not UTF-8 ({exc.reason} at byte {exc.start})", path=path) from None


def text_lines(path: Path) -> list[tuple[int, str | None, bytes]]:
    """``(line number, text or None when that line is not UTF-8, raw bytes)`` of every non-blank line."""
    out = []
    for number, raw in enumerate(read_bytes(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((number, raw.decode("utf-8-sig" if number == 1 else "utf-8").strip(), raw))
        except UnicodeDecodeError:
            out.append((number, None, raw))
    return out


class ImageFolder:
    """A folder of images looked up by file name or by stem, never by a path built from record data."""

    def __init__(self, path: Path):
        self.path = path
        self._by_stem: dict[str, list[str]] | None = None

    def __bool__(self) -> bool:
        return self.path.is_dir()

    def by_stem(self, stem: str) -> Path | None:
        """The file whose name without extension is ``stem`` (the alphabetically first if several).

        ``ValueError`` if that file is a link leading out of the folder.
        """
        if self._by_stem is None:
            self._by_stem = {}
            if self.path.is_dir():
                for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
                    if entry.is_file():
                        self._by_stem.setdefault(entry.name.rsplit(".", 1)[0], []).append(entry.name)
        names = self._by_stem.get(stem)
        return safe_join(self.path, names[0]) if names else None

    def join(self, relative: str) -> Path:
        """``relative`` under this folder; ``ValueError`` if it is absolute, has ``..`` or leaves it via a link."""
        parts = relative_parts(relative)
        if len(parts) == 1:  # a plain file name (the common case): only a link can lead out
            path = self.path / parts[0]
            return safe_join(self.path, relative) if path.is_symlink() else path
        return safe_join(self.path, relative)


def first_folder(root: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``root/name`` that is a folder."""
    return next((root / name for name in names if (root / name).is_dir()), None)
