"""The raw-source format (docs/FORMAT.md §1): a folder with ``records.jsonl`` and images,
or a generic JSONL/CSV file of image-title-description records.

Reading never raises on a bad record: each yields a ``RawItem`` with ``problem`` set, so the
build can reject that one record (with file and line) and keep the rest.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emmel import TOOL
from emmel.errors import EmmelError
from emmel.io import dumps, iter_jsonl_lines, open_regular, safe_join, write_json
from emmel.textfiles import detect_encoding, encoding_label

RECORDS_FILE = "records.jsonl"
SOURCE_FILE = "source.json"
REQUIRED = ("record_id", "title", "text", "image")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv")
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape kept undecoded


@dataclass
class RawRecord:
    record_id: str
    title: str
    text: str
    image: str
    category: str = ""
    region: str = ""
    aliases: list[str] = field(default_factory=list)
    entity_description: str = ""
    source: dict = field(default_factory=dict)
    license: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RawRecord:
        # text may be empty (the build rejects it as empty_text); the others must be non-empty
        missing = [name for name in REQUIRED if data.get(name) is None or (name != "text" and data.get(name) == "")]
        if missing:
            hint = " (every record needs a stable id; `emmel build --line-ids` numbers records by line instead)" if missing[0] == "record_id" else ""
            raise ValueError(f"missing field {missing[0]!r}{hint}")
        values = {}
        for name in ("record_id", "title", "text", "image", "category", "region", "entity_description", "license"):
            value = data.get(name, "")
            if value is None:
                value = ""
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name == "record_id":
                value = str(value)
            if not isinstance(value, str):
                raise ValueError(f"field {name!r} must be a string, got {type(value).__name__}")
            values[name] = value
        aliases = data.get("aliases") or []
        if isinstance(aliases, str):
            aliases = [a for a in aliases.replace("；", ";").split(";") if a.strip()]
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ValueError("field 'aliases' must be a list of strings")
        source = data.get("source") or {}
        if not isinstance(source, dict):
            raise ValueError("field 'source' must be an object")
        return cls(aliases=list(aliases), source=dict(source), **values)


@dataclass
class RawItem:
    """One input record as the build sees it: parsed, or with the reason it could not be."""

    source_name: str  # short name of the source (folder or file stem), part of sample ids
    location: str  # "<file>:<line>" for messages and rejects
    record: RawRecord | None
    image_path: Path | None
    problem: str | None = None  # "reason: detail"
    record_id: str | None = None
    ref: str = ""  # "<source name>/<file>:<line>": like location, but independent of where the source lives


class RawSourceWriter:
    """Append records to a raw source folder; used by crawlers, OCR and importers.

    It writes ``records.jsonl`` in place, so give it the temporary folder of
    ``emmel.io.atomic_directory`` (the guarded way to write an output the user names), as ``emmel ocr`` does:

    >>> with atomic_directory("raw/", kind="ocr", overwrite=False) as tmp, RawSourceWriter(tmp, kind="book") as out:  # doctest: +SKIP
    ...     out.write(RawRecord(record_id="p3-f1", title="撮罗子", text="鄂温克族的撮罗子", image="images/p3-f1.png"))
    """

    def __init__(self, folder: str | os.PathLike, *, kind: str, append: bool = False, **meta):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.meta = {"kind": kind, "tool": TOOL, **meta}
        self._handle = open(self.folder / RECORDS_FILE, "a" if append else "w", encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, record: RawRecord | dict) -> None:
        data = record.to_dict() if isinstance(record, RawRecord) else dict(record)
        RawRecord.from_dict(data)  # refuse to write what build could not read
        self._handle.write(dumps(data) + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            write_json(self.folder / SOURCE_FILE, self.meta)

    def __enter__(self) -> RawSourceWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _parse(data: dict, *, source_name: str, location: str, root: Path) -> RawItem:
    record_id = data.get("record_id")
    record_id = str(record_id) if record_id not in (None, "") else None
    try:
        record = RawRecord.from_dict(data)
    except ValueError as exc:
        reason = "missing_field" if str(exc).startswith("missing field") else "malformed_record"
        return RawItem(source_name, location, None, None, f"{reason}: {exc}", record_id)
    try:
        image_path = safe_join(root, record.image)
    except ValueError as exc:
        return RawItem(source_name, location, record, None, f"unsafe_path: {exc}", record.record_id)
    return RawItem(source_name, location, record, image_path, None, record.record_id)


def _apply_mapping(row: dict, mapping: dict[str, str]) -> dict:
    if not mapping:
        return row
    out = dict(row)
    for ours, theirs in mapping.items():
        if theirs in row:
            out[ours] = row[theirs]
    return out


def _iter_csv(path: Path, encoding: str) -> Iterator[tuple[int, dict | None, str | None]]:
    with open_regular(path) as handle:
        text = handle.read().decode(encoding, errors="surrogateescape")  # undecodable bytes: rejected per row below
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise EmmelError("CSV file has no header row", path=path)
    if any(_UNDECODED.search(name or "") for name in reader.fieldnames):
        raise EmmelError(f"the CSV header row is not {encoding_label(encoding)} text (pass --encoding)", path=path)
    for row in reader:
        if None in row:  # more cells than header columns
            yield reader.line_num, None, "malformed_record: more cells than header columns"
            continue
        if any(_UNDECODED.search(value) for value in row.values() if value):
            yield reader.line_num, None, f"bad_encoding: not {encoding_label(encoding)} (undecodable bytes in this row)"
            continue
        yield reader.line_num, {k: v for k, v in row.items()}, None


def records_file(path: str | os.PathLike) -> Path:
    """The file holding the records of a source: ``records.jsonl`` of a folder, or the JSONL/CSV file itself."""
    path = Path(path)
    if path.is_dir():
        if not (path / RECORDS_FILE).exists():
            raise EmmelError(f"not a raw source folder (no {RECORDS_FILE}; see docs/FORMAT.md)", path=path)
        return path / RECORDS_FILE
    if not path.exists():
        raise EmmelError("source not found", path=path)
    if path.suffix.lower() not in (*JSONL_SUFFIXES, *CSV_SUFFIXES):
        raise EmmelError("unknown source type (expected a folder, .jsonl or .csv)", path=path)
    return path


def iter_source(path: str | os.PathLike, *, mapping: dict[str, str] | None = None, encoding: str | None = None,
                line_ids: bool = False) -> Iterator[RawItem]:
    """Yield every record of a raw source folder or a generic JSONL/CSV file, in file order.

    ``encoding``: a codec name, or None to detect it (``emmel.textfiles.detect_encoding``).
    A record without ``record_id`` is a ``missing_field`` reject, unless ``line_ids`` (``emmel build
    --line-ids``) numbers such records by their line (``line17``): ids that change when lines move.
    """
    path = Path(path)
    mapping = mapping or {}
    records = records_file(path)
    encoding = detect_encoding(records, encoding)
    if path.is_dir():
        root, name, shown, short = path, path.name, records, f"{path.name}/{RECORDS_FILE}"
    else:
        root, name, shown, short = path.parent, path.stem, path, path.name
    rows = _iter_csv(records, encoding) if records.suffix.lower() in CSV_SUFFIXES else iter_jsonl_lines(records, encoding=encoding)
    for line, data, problem in rows:
        location = f"{shown}:{line}"
        if problem:
            yield RawItem(name, location, None, None, problem, ref=f"{short}:{line}")
            continue
        data = _apply_mapping(data, mapping)
        if line_ids and data.get("record_id") in (None, ""):
            data = {**data, "record_id": f"line{line}"}
        item = _parse(data, source_name=name, location=location, root=root)
        item.ref = f"{short}:{line}"
        yield item


def read_raw_records(path: str | os.PathLike) -> list[RawRecord]:
    """All valid records of a source (for tools and tests); bad ones raise with file and line."""
    out = []
    for item in iter_source(path):
        if item.problem:
            raise EmmelError(item.problem, path=item.location)
        out.append(item.record)
    return out
