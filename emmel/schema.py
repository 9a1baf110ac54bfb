"""The records of the EMMEL format (see docs/FORMAT.md), as dataclasses with strict parsing.

``from_dict`` checks types and required fields and raises ``ValueError`` with a short reason;
callers add the file and line. ``to_dict`` gives the canonical JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

SPLITS = ("train", "dev", "test")
EVAL_SPLITS = ("dev", "test")
FORMAT_VERSION = 1


def _require(data: dict, name: str, kind: type | tuple, *, optional: bool = False, default: Any = None) -> Any:
    if name not in data or data[name] is None:
        if optional:
            return default
        raise ValueError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        raise ValueError(f"field {name!r} must be {'/'.join(k.__name__ for k in kinds)}, got {type(value).__name__}")
    return value


def _str_list(data: dict, name: str) -> list[str]:
    value = _require(data, name, list, optional=True, default=[])
    if not all(isinstance(item, str) for item in value):
        raise ValueError(f"field {name!r} must be a list of strings")
    return list(value)


# Fields added after format version 1 was first written: left out of the JSON while empty.
OPTIONAL_ENTITY_FIELDS = ("wikidata", "images")
OPTIONAL_SAMPLE_FIELDS = ("mention",)


def _row(record, optional: tuple[str, ...] = ()) -> dict:
    """The record's fields as a dict (nested values shared, not deep-copied as ``asdict`` would:
    rows are only serialised, and a 100k-entity KB is written twice); empty optional fields left out."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in optional or getattr(record, f.name)}


@dataclass
class Entity:
    id: str
    label: str
    aliases: list[str] = field(default_factory=list)
    category: str = ""
    region: str = ""
    description: str = ""
    source_urls: list[str] = field(default_factory=list)
    # Optional (imported benchmarks); omitted from the JSON when empty, so older files keep their bytes.
    wikidata: str = ""  # Wikidata id, e.g. "Q23"
    images: list[str] = field(default_factory=list)  # content-addressed paths in the dataset folder

    @classmethod
    def from_dict(cls, data: dict) -> Entity:
        return cls(
            id=_require(data, "id", str),
            label=_require(data, "label", str),
            aliases=_str_list(data, "aliases"),
            category=_require(data, "category", str, optional=True, default=""),
            region=_require(data, "region", str, optional=True, default=""),
            description=_require(data, "description", str, optional=True, default=""),
            source_urls=_str_list(data, "source_urls"),
            wikidata=_require(data, "wikidata", str, optional=True, default=""),
            images=_str_list(data, "images"),
        )

    def to_dict(self) -> dict:
        return _row(self, OPTIONAL_ENTITY_FIELDS)

    @property
    def display(self) -> str:
        """``label — category — region``: how a reviewer tells look-alike labels apart."""
        return " — ".join(part for part in (self.label, self.category, self.region) if part)


@dataclass
class Sample:
    id: str
    image: str
    text: str
    entity_id: str
    split: str
    image_sha256: str = ""
    width: int = 0
    height: int = 0
    phash: str = ""
    group: str = ""
    source: dict = field(default_factory=dict)
    license: str = ""
    augmented_from: str | None = None
    augmentation: dict | None = None
    mention: str = ""  # optional: the mention string inside ``text`` (imported benchmarks); omitted when empty

    @classmethod
    def from_dict(cls, data: dict) -> Sample:
        split = _require(data, "split", str)
        if split not in SPLITS:
            raise ValueError(f"field 'split' must be one of {', '.join(SPLITS)}, got {split!r}")
        return cls(
            id=_require(data, "id", str),
            image=_require(data, "image", str),
            text=_require(data, "text", str),
            entity_id=_require(data, "entity_id", str),
            split=split,
            image_sha256=_require(data, "image_sha256", str, optional=True, default=""),
            width=_require(data, "width", int, optional=True, default=0),
            height=_require(data, "height", int, optional=True, default=0),
            phash=_require(data, "phash", str, optional=True, default=""),
            group=_require(data, "group", str, optional=True, default=""),
            source=_require(data, "source", dict, optional=True, default={}),
            license=_require(data, "license", str, optional=True, default=""),
            augmented_from=_require(data, "augmented_from", str, optional=True),
            augmentation=_require(data, "augmentation", dict, optional=True),
            mention=_require(data, "mention", str, optional=True, default=""),
        )

    def to_dict(self) -> dict:
        return _row(self, OPTIONAL_SAMPLE_FIELDS)


@dataclass
class Reject:
    record: str  # "<file>:<line>" of the raw record
    reason: str
    detail: str = ""
    record_id: str | None = None
    source: str = ""
    duplicate_of: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> Reject:
        return cls(
            record=_require(data, "record", str),
            reason=_require(data, "reason", str),
            detail=_require(data, "detail", str, optional=True, default=""),
            record_id=_require(data, "record_id", str, optional=True),
            source=_require(data, "source", str, optional=True, default=""),
            duplicate_of=_require(data, "duplicate_of", str, optional=True),
        )

    def to_dict(self) -> dict:
        return _row(self)

