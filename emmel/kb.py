"""Knowledge-base construction: entities from source titles (and an optional seed list),
names merged through unambiguous aliases, ids derived from the label so they are stable.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from emmel.dedup import UnionFind
from emmel.errors import EmmelError
from emmel.io import stable_id
from emmel.schema import Entity
from emmel.textfiles import detect_encoding, encoding_label


@dataclass
class EntityMention:
    """What one record (or one seed row) says about its entity; names already normalised."""

    label: str
    aliases: list[str] = field(default_factory=list)
    category: str = ""
    region: str = ""
    description: str = ""
    url: str = ""


def entity_id(label: str) -> str:
    return stable_id("E", label)


def build_kb(mentions: list[EntityMention]) -> tuple[list[Entity], list[str]]:
    """Entities (sorted by id) and, for every mention, the id of its entity.

    Mentions with the same label are one entity. An alias merges two labels only when it is
    unambiguous: exactly one other label equals it and no third label claims it (so the alias
    剪纸 listed by both 剪纸(扬州剪纸) and 剪纸(蔚县剪纸) merges nothing).
    """
    labels = sorted({m.label for m in mentions})
    index = {label: i for i, label in enumerate(labels)}
    uf = UnionFind(len(labels))
    claims: dict[str, set[str]] = {}
    for m in mentions:
        for alias in m.aliases:
            if alias and alias != m.label:
                claims.setdefault(alias, set()).add(m.label)
    for alias, claimants in sorted(claims.items()):
        if alias in index and len(claimants) == 1:
            uf.union(index[alias], index[next(iter(claimants))])
    clusters: dict[int, list[EntityMention]] = {}
    for m in mentions:
        clusters.setdefault(uf.find(index[m.label]), []).append(m)
    by_label: dict[str, str] = {}
    entities = []
    for members in clusters.values():
        names = Counter(m.label for m in members)
        listed = {a for m in members for a in m.aliases}
        canonical = [name for name in names if name not in listed] or list(names)  # a name others call an alias is not the label
        label = min(canonical, key=lambda name: (-names[name], name))
        aliases = sorted(({m.label for m in members} | {a for m in members for a in m.aliases}) - {label, ""})
        entity = Entity(
            id=entity_id(label),
            label=label,
            aliases=aliases,
            category=_most_common(m.category for m in members),
            region=_most_common(m.region for m in members),
            description=max((m.description for m in members), key=lambda d: (len(d), d), default=""),
            source_urls=sorted({m.url for m in members if m.url}),
        )
        entities.append(entity)
        for m in members:
            by_label[m.label] = entity.id
    entities.sort(key=lambda e: e.id)
    ids = [e.id for e in entities]
    if len(set(ids)) != len(ids):  # sha256 prefix collision: astronomically unlikely, never silent
        raise EmmelError("entity id collision in the KB; please report this")
    return entities, [by_label[m.label] for m in mentions]


def _most_common(values) -> str:
    counts = Counter(v for v in values if v)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else ""


def read_kb_seed(path: str | Path, normalize) -> list[EntityMention]:
    """Extra entities from a CSV (``name``/``label``, ``category``, ``region``, ``detail_url``) or a
    JSONL of KB rows, e.g. the national list in ``data/ihchina_national_list.csv``."""
    path = Path(path)
    if not path.is_file():
        raise EmmelError("KB seed file not found", path=path)
    rows: list[tuple[int, dict]] = []
    encoding = detect_encoding(path)  # UTF-8 (BOM or not) or GB18030, like the records files
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_bytes().decode(encoding)
        except UnicodeDecodeError as exc:
            raise EmmelError(f"not {encoding_label(encoding)} text ({exc.reason} at byte {exc.start})", path=path) from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = [(reader.line_num, row) for row in reader]
    else:
        from emmel.io import read_jsonl

        rows = list(enumerate(read_jsonl(path, encoding=encoding), start=1))
    out = []
    for line, row in rows:
        name = row.get("label") or row.get("name") or row.get("title")
        if not isinstance(name, str) or not name.strip():
            raise EmmelError("KB seed row has no name/label", path=path, record=f"line {line}")
        aliases = row.get("aliases") or []
        if isinstance(aliases, str):
            aliases = [a for a in aliases.split(";") if a.strip()]
        out.append(
            EntityMention(
                label=normalize(name),
                aliases=[normalize(a) for a in aliases],
                category=normalize(row.get("category") or ""),
                region=normalize(row.get("region") or ""),
                description=normalize(row.get("description") or ""),
                url=(row.get("detail_url") or row.get("url") or "").strip(),
            )
        )
    return out
