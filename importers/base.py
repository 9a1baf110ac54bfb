"""The import loop every format shares: KB, mentions, candidates, accounting, one atomic write.

A format module only *reads*: ``read_kb`` yields ``KBEntry`` records and ``read_mentions`` yields
``Mention`` records, each mention with its split (the benchmark's own), the key of its gold entity
(``None`` for a NIL answer), its image file and, where the benchmark ships candidate lists, its list.
Everything else happens here, once, for every format:

    check paths -> KB (entity images linked content-addressed) -> mentions (every one kept or
    rejected with a reason) -> candidates (imported lists as shipped, or emmel's λ generator)
    -> Dataset.write_into (JSONL, Parquet, card, manifest) inside an atomic output folder

Images are hard-linked from the benchmark (``images/ab/<sha256>.<ext>``), copied only where the
file system refuses links, so importing gigabytes of images does not double the disk.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from emmel.candidates import CandidateIndex, select_candidates
from emmel.config import CleanConfig
from emmel.dataset import KIND, Dataset, link_or_copy
from emmel.errors import EmmelError
from emmel.images import EXTENSIONS, ImageLimits, ImageProblem, format_hash, inspect_image, read_image_file
from emmel.io import atomic_directory, check_output, sha256_bytes, sha256_file, stable_id
from emmel.progress import progress
from emmel.schema import EVAL_SPLITS, SPLITS, Entity, Reject, Sample
from importers.files import JsonFile, text_lines

# Imported images are the benchmark's own: decode them, but do not apply emmel build's size rules.
LENIENT = CleanConfig(min_side=1, max_aspect=math.inf, min_text_len=0, max_text_len=10**9)
LIMITS = ImageLimits.of(LENIENT)
CANDIDATE_MODES = ("auto", "imported", "generated")


@dataclass
class ImportConfig:
    """Settings of one import (the CLI flags of ``emmel import``, with the same defaults)."""

    name: str = ""  # dataset name in the card; default: the importer's name for the source
    seed: int = 13  # seeds emmel's candidate generator and any carved split
    lam: int = 100  # λ of emmel's own candidate generator
    candidates: str = "auto"  # auto: the benchmark's lists where it ships them, else generated
    prefix: str = ""  # split-file prefix (mimic); found by itself when empty
    dev_fraction: float = 0.1  # share of train carved into dev where a benchmark has no dev split (ghmfc)
    images: str = ""  # folder of mention images, where the expected one is elsewhere
    candidates_file: str = ""  # TSV "<mention record id><TAB><entity key><TAB>…": lists to import for any format
    plots: bool = True


@dataclass
class KBEntry:
    """One entity as the benchmark describes it; ``key`` is its own id (a QID, a page title, a tag)."""

    record: str  # "<file>:<n>", for messages
    key: str
    label: str
    description: str = ""
    wikidata: str = ""
    category: str = ""
    aliases: list[str] = field(default_factory=list)
    image_files: list[Path | str] = field(default_factory=list)  # a str is a name that failed the path check
    problem: tuple[str, str] | None = None  # (reason, detail): the record is unusable


@dataclass
class Mention:
    """One mention record; ``problem`` set means it is rejected as it stands."""

    record: str  # "<file>:<n>" (n = 1-based position in the file), the reject's ``record``
    record_id: str  # the benchmark's id of the record, stable across releases where it has one
    split: str
    text: str = ""
    mention: str = ""
    answer: str | None = None  # gold entity key; None = NIL
    image: Path | None = None  # resolved image file (None: the record names no usable image)
    image_note: str = ""  # why ``image`` is None, for the reject detail
    candidates: list[str] | None = None  # the benchmark's candidate keys for this mention, if it ships lists
    source: dict = field(default_factory=dict)  # extra provenance (image URL, topic, …)
    problem: tuple[str, str] | None = None


@dataclass
class ImportReport:
    out: Path
    counts: dict
    kb: dict
    candidates: dict
    splits: dict
    seconds: float
    linked: int = 0
    copied: int = 0
    warnings: list[str] = field(default_factory=list)


class Importer:
    """Base class: subclasses set the class attributes and implement the ``read_*`` stages."""

    format: ClassVar[str] = ""
    title: ClassVar[str] = ""  # one line for --help
    license: ClassVar[str] = ""
    candidate_file: ClassVar[str] = ""  # the file a format's candidate lists come from ("" = none)
    language: ClassVar[tuple[str, ...]] = ("en",)  # ISO 639-1 codes for the card's front matter

    def __init__(self, source: str | Path, config: ImportConfig | None = None):
        self.source = Path(source)
        self.config = config or ImportConfig()
        self.files: dict[str, str] = {}  # sha256 of every metadata file read, for the manifest
        self.notes: list[str] = []  # lines for the card and the report
        self.split_policy: dict = {"official_splits": True}

    # ------------------------------------------------------------------ stages to implement
    def read_kb(self) -> Iterable[KBEntry]:
        raise NotImplementedError

    def read_mentions(self) -> Iterable[Mention]:
        raise NotImplementedError

    def dataset_name(self) -> str:
        return self.source.name

    def description(self) -> str:
        return f"A multimodal entity linking benchmark imported by `emmel import {self.format}`."

    # ------------------------------------------------------------------ shared helpers
    def json(self, path: Path, **kwargs):
        """Read a metadata file and remember its sha256 for the manifest."""
        parsed = JsonFile.read(path, **kwargs)
        self.files[self._rel(path)] = parsed.sha256
        return parsed

    def remember(self, path: Path) -> None:
        self.files[self._rel(path)] = sha256_file(path)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.source).as_posix()
        except ValueError:
            return str(path)

    # ------------------------------------------------------------------ the loop
    def run(self, out: str | Path, *, overwrite: bool = False) -> ImportReport:
        started = time.perf_counter()
        out = Path(out)
        self._check_paths(out)
        check_output(out, kind=KIND, overwrite=overwrite, inputs=[self.source])  # before the long work, not only at the end
        if self.config.candidates not in CANDIDATE_MODES:
            raise EmmelError(f"--candidates must be one of {', '.join(CANDIDATE_MODES)}, got {self.config.candidates!r}")
        external = self._candidate_table()
        if self.config.candidates == "imported" and not (self.candidate_file or external is not None):
            raise EmmelError(f"the {self.format} format ships no candidate lists; use --candidates generated or --candidates-file")
        writer = _Writer()
        with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=[self.source]) as tmp:
            writer.root = tmp
            kb, keys, kb_stats = self._kb(writer)
            samples, rejects, lists, total = self._mentions(writer, keys, external)
            candidates, cand_meta = self._candidates(kb, keys, samples, lists)
            meta = self._meta(kb_stats, cand_meta, total)
            dataset = Dataset(root=tmp, kb=kb, samples=samples, candidates=candidates, rejects=rejects, meta=meta)
            dataset.write_into(tmp, plots=self.config.plots, digests=writer.digests)
            counts = dataset.counts()
        if counts["input_records"] != counts["kept"] + counts["rejected"]:
            raise EmmelError(f"internal accounting error: {counts}; please report this")
        return ImportReport(out=out, counts=counts, kb=kb_stats, candidates=cand_meta, splits=self.split_policy,
                            seconds=time.perf_counter() - started, linked=writer.linked, copied=writer.copied,
                            warnings=writer.warnings)

    def _check_paths(self, out: Path) -> None:
        if not self.source.is_dir():
            raise EmmelError("benchmark folder not found", path=self.source)
        source, target = self.source.resolve(), out.resolve()
        if target == source or target in source.parents or source in target.parents:
            raise EmmelError("--out must lie outside the benchmark folder (it is the source, holds it, or is inside it)", path=out)

    def _candidate_table(self) -> dict[str, list[str]] | None:
        """``--candidates-file``: one mention a line, ``<record id><TAB><entity key><TAB>…`` (the record ids of rejects.jsonl)."""
        if not self.config.candidates_file:
            return None
        if self.config.candidates == "generated":
            raise EmmelError("--candidates-file and --candidates generated contradict each other")
        path = Path(self.config.candidates_file)
        table: dict[str, list[str]] = {}
        for number, line, _ in text_lines(path):
            if line is None:
                raise EmmelError("not UTF-8", path=path, record=f"line {number}")
            record_id, *keys = line.split("\t")
            if record_id in table:
                raise EmmelError(f"mention {record_id!r} has a second line", path=path, record=f"line {number}")
            table[record_id] = [key.strip() for key in keys if key.strip()]
        self.candidate_file = path.name
        self.remember(path)
        return table

    def _kb(self, writer: _Writer) -> tuple[list[Entity], dict[str, str], dict]:
        entities: list[Entity] = []
        keys: dict[str, str] = {}  # benchmark key -> entity id
        rejected = Counter()
        examples: list[dict] = []
        images = Counter()
        records = 0
        for entry in progress(self.read_kb(), desc="KB"):
            records += 1
            problem = entry.problem
            if problem is None and not entry.key:
                problem = ("missing_field", "no entity id")
            if problem is None and entry.key in keys:
                problem = ("duplicate_entity", f"id {entry.key!r} already defined earlier (the first is kept)")
            if problem is not None:
                rejected[problem[0]] += 1
                if len(examples) < 20:
                    examples.append({"record": entry.record, "reason": problem[0], "detail": problem[1]})
                writer.warn(f"{entry.record}: {problem[0]}: {problem[1]} (entity skipped)")
                continue
            stored = []
            for file in entry.image_files:
                outcome = writer.store(file, lenient_decode=False)
                images[outcome if isinstance(outcome, str) else "imported"] += 1
                if not isinstance(outcome, str) and outcome[0] not in stored:
                    stored.append(outcome[0])
            entity_id = stable_id("E", entry.key)
            keys[entry.key] = entity_id
            entities.append(Entity(id=entity_id, label=entry.label, aliases=sorted(set(entry.aliases)), category=entry.category,
                                   description=entry.description, wikidata=entry.wikidata, images=stored))
        if not entities:
            raise EmmelError("the benchmark's KB holds no usable entity", path=self.source)
        stats = {"records": records, "entities": len(entities), "rejected_by_reason": dict(sorted(rejected.items())),
                 "reject_examples": examples, "images": dict(sorted(images.items())),
                 "entities_with_images": sum(1 for e in entities if e.images)}
        return entities, keys, stats

    def _mentions(self, writer: _Writer, keys: dict[str, str], external: dict | None):
        samples: dict[str, list[Sample]] = {split: [] for split in SPLITS}
        rejects: list[Reject] = []
        lists: dict[str, list[str] | None] = {}
        seen: set[tuple[str, str]] = set()
        total = 0
        for m in progress(self.read_mentions(), desc="mentions"):
            total += 1
            problem = m.problem or self._mention_problem(m, keys, seen)
            seen.add((m.split, m.record_id))
            stored = None
            if problem is None:
                outcome = writer.store(m.image, lenient_decode=True)
                if isinstance(outcome, str):
                    problem = (outcome, writer.last_detail)
                else:
                    stored = outcome
            if problem is not None:
                rejects.append(Reject(record=m.record, reason=problem[0], detail=problem[1], record_id=m.record_id, source=self.format))
                if problem[0] in ("malformed_record", "bad_encoding", "unsafe_path", "missing_field", "duplicate_record"):
                    writer.warn(f"{m.record}: {problem[0]}: {problem[1]} (record rejected)")
                continue
            rel, info = stored
            sample = Sample(
                id=stable_id("S", self.format, m.split, m.record_id), image=rel, text=m.text, entity_id=keys[m.answer],
                split=m.split, image_sha256=info.sha256, width=info.width, height=info.height, phash=format_hash(info.phash),
                source={"kind": "import", "format": self.format, "record": m.record, "record_id": m.record_id, **m.source},
                license=self.license, mention=m.mention,
            )
            samples[m.split].append(sample)
            lists[sample.id] = external.get(m.record_id, []) if external is not None else m.candidates
        return samples, rejects, lists, total

    @staticmethod
    def _mention_problem(m: Mention, keys: dict[str, str], seen: set) -> tuple[str, str] | None:
        if m.split not in SPLITS:
            return "malformed_record", f"unknown split {m.split!r}"
        if (m.split, m.record_id) in seen:
            return "duplicate_record", f"id {m.record_id!r} repeats an earlier record of the {m.split} split (the first is kept)"
        if m.answer is None:
            return "nil_answer", "the gold answer is NIL (no KB entity)"
        if m.answer not in keys:
            return "unknown_entity", f"answer {m.answer!r} is not in the KB"
        if not (m.text.strip() or m.mention.strip()):
            return "empty_text", "neither a sentence nor a mention"
        if m.image is None:
            return "missing_image", m.image_note or "the record names no image"
        return None

    def _candidates(self, kb: list[Entity], keys: dict[str, str], samples: dict, lists: dict) -> tuple[dict, dict]:
        imported = bool(self.candidate_file) and self.config.candidates in ("auto", "imported")
        evaluated = {split: samples[split] for split in EVAL_SPLITS}
        if not imported:
            index = CandidateIndex(kb)
            lam = self.config.lam
            out = {split: {s.id: select_candidates(index, s.entity_id, s.text, lam, self.config.seed, s.id)
                           for s in progress(rows, desc=f"candidates {split}")} for split, rows in evaluated.items()}
            return out, {"origin": "generated", "source": f"emmel λ = {lam} generator (gold included, seeded order)",
                         "gold_always_included": True, "lambda": lam}
        out, missing, recall, dropped, repeated, sizes = {}, {}, {}, Counter(), 0, Counter()
        for split, rows in evaluated.items():
            out[split] = {}
            for s in rows:
                ids, seen_ids = [], set()
                for key in lists.get(s.id) or []:
                    entity_id = keys.get(key)
                    if entity_id is None:
                        dropped[split] += 1
                    elif entity_id in seen_ids:
                        repeated += 1
                    else:
                        seen_ids.add(entity_id)
                        ids.append(entity_id)
                out[split][s.id] = ids
                sizes[len(ids)] += 1
            missing[split] = sum(1 for s in rows if s.entity_id not in out[split][s.id])
            recall[split] = round(1 - missing[split] / len(rows), 4) if rows else 0.0
        meta = {"origin": "imported", "source": self.candidate_file, "gold_always_included": False,
                "missing_gold": missing, "gold_recall": recall, "dropped_not_in_kb": dict(dropped), "dropped_repeats": repeated,
                "list_sizes": {"min": min(sizes) if sizes else 0, "max": max(sizes) if sizes else 0},
                "convention": "lists kept as shipped (order, length); a gold missing from its list counts as a miss, never added"}
        return out, meta

    def _meta(self, kb_stats: dict, cand_meta: dict, total: int) -> dict:
        config = asdict(self.config)
        name = self.config.name or self.dataset_name()
        lam = cand_meta["lambda"] if cand_meta["origin"] == "generated" else 0
        records = {path: digest for path, digest in sorted(self.files.items())}
        return {
            "name": name, "seed": self.config.seed, "config": config, "lambda": lam, "input_records": total,
            "description": self.description(), "language": list(self.language),
            "tags": ["multimodal-entity-linking", "emmel", "emmel-import", name.lower()],
            "sources": [{"name": self.source.name, "kind": f"import:{self.format}", "records": total,
                         "records_sha256": sha256_bytes("".join(f"{p} {d}\n" for p, d in records.items()).encode())}],
            "import": {"format": self.format, "source": self.source.name, "files": records, **self.split_policy, "kb": kb_stats},
            "candidates": cand_meta,
            "notes": self.notes + _standard_notes(kb_stats, cand_meta, self.split_policy),
        }


def _standard_notes(kb: dict, cands: dict, splits: dict) -> list[str]:
    notes = [f"KB: {kb['entities']} entities from {kb['records']} records"
             + (f" ({', '.join(f'{n} {r}' for r, n in kb['rejected_by_reason'].items())} skipped)" if kb["rejected_by_reason"] else "")
             + f"; {kb['entities_with_images']} carry images ({', '.join(f'{n} {k}' for k, n in kb['images'].items()) or 'none listed'})."]
    if splits.get("official_splits"):
        notes.append("Splits: the benchmark's own" + (f"; {splits['dev']}" if splits.get("dev") else "") + " (never re-split, no augmentation).")
    if cands["origin"] == "imported":
        missing = ", ".join(f"{split} {n}" for split, n in cands["missing_gold"].items())
        notes.append(f"Candidates: `{cands['source']}` kept as shipped; golds missing from their lists (each a miss): {missing}.")
    return notes


class _Writer:
    """Stores image files content-addressed under the output folder (hard link, else copy)."""

    def __init__(self):
        self.root: Path | None = None
        self.linked = self.copied = 0
        self.last_detail = ""
        self.warnings: list[str] = []
        self._shown: Counter = Counter()
        self._cache: dict[Path, tuple] = {}
        self.digests: dict[str, str] = {}  # relative path -> sha256 of every image stored

    def store(self, file: Path | str | None, *, lenient_decode: bool):
        """``(relative path, info)`` of the stored image, or a reject reason (``last_detail`` says why).

        Mention images are decoded (size, pHash); entity images are identified from their header
        only, which is enough to name them and keeps a 100k-entity KB fast.
        """
        if file is None:
            self.last_detail = "no image"
            return "missing_image"
        if isinstance(file, str):
            self.last_detail = f"image path {file!r} leaves its folder or is absolute"
            return "unsafe_path"
        if file in self._cache:
            return self._cache[file]
        try:
            data = read_image_file(file, LIMITS)  # regular files only, at most clean.max_bytes
            info = inspect_image(data, LENIENT) if lenient_decode else _identify(data)
        except ImageProblem as exc:
            self.last_detail = f"{file.name}: {exc.detail}"
            return exc.reason
        rel = f"images/{info.sha256[:2]}/{info.sha256}.{info.ext}"
        target = self.root / rel
        if not target.exists():
            if link_or_copy(file, target):
                self.linked += 1
            else:
                self.copied += 1
        self._cache[file] = (rel, info)
        self.digests[rel] = info.sha256
        return rel, info

    def warn(self, line: str) -> None:
        reason = line.split(": ")[1] if ": " in line else line
        self.warnings.append(line)
        self._shown[reason] += 1
        if self._shown[reason] <= 10:
            print(f"warning: {line}", file=sys.stderr)
        elif self._shown[reason] == 11:
            print(f"warning: more {reason} records; all are listed in rejects.jsonl or the manifest", file=sys.stderr)


@dataclass(frozen=True)
class _Header:
    sha256: str
    format: str
    ext: str


def _identify(data: bytes) -> _Header:
    """The format of an entity image from its parsed header, without decoding the pixels (entities
    keep no size or hash beyond the sha256); ``ImageProblem`` if it is no image emmel stores."""
    import io

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageProblem("empty_file", "zero-byte file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageProblem("not_an_image", "not a readable image format") from None
    if fmt not in EXTENSIONS:
        raise ImageProblem("not_an_image", f"unsupported format {fmt}")
    return _Header(sha256_bytes(data), fmt, EXTENSIONS[fmt])
