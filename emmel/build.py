"""``emmel build``: raw sources -> EMMEL dataset, in one pass of small pure stages.

    read -> check (map over records: decode, verify, hash, normalise) -> exact dedup
    -> near-duplicate images (multi-index hashing) -> near-duplicate texts (MinHash)
    -> KB -> leakage groups -> split -> copy images -> augment train -> candidates -> export

Every input record ends up either as a kept sample or as a reject with a reason, so
``input_records == kept + rejected`` always holds. The dataset is written into a temporary
sibling folder and renamed into place at the end (see ``emmel.io.atomic_directory``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from emmel.candidates import CandidateIndex, select_candidates
from emmel.config import BuildConfig
from emmel.dataset import Dataset
from emmel.dedup import UnionFind, near_duplicate_clusters, near_duplicate_texts
from emmel.engines import map_ordered
from emmel.errors import EmmelError
from emmel.images import ImageInfo, ImageLimits, ImageProblem, format_hash, inspect_image, read_image_file
from emmel.io import atomic_directory, atomic_write_bytes, read_json, sha256_bytes, sha256_file, stable_id
from emmel.kb import EntityMention, build_kb, read_kb_seed
from emmel.kg import KnowledgeGraph, build_graph
from emmel.labels import normalizer
from emmel.progress import progress
from emmel.schema import SPLITS, Reject, Sample
from emmel.sources.raw import SOURCE_FILE, RawItem, iter_source, records_file
from emmel.split import assign_splits
from emmel.textfiles import detect_encoding

INPUT_PROBLEMS = {"malformed_record", "bad_encoding", "missing_field", "unsafe_path", "missing_image", "not_a_regular_file"}


@dataclass
class Checked:
    """A record that passed the per-record checks, with its normalised fields and image facts."""

    item: RawItem
    info: ImageInfo
    text: str
    title: str
    aliases: list[str]
    category: str
    region: str
    description: str

    @property
    def sample_id(self) -> str:
        return stable_id("S", self.item.source_name, self.item.record.record_id)


@dataclass
class BuildReport:
    out: Path
    counts: dict
    seconds: float
    warnings: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)  # name, kind, records, records_sha256, encoding


def check_record(item: RawItem, config: BuildConfig) -> Checked | tuple[str, str]:
    """The per-record stage (pure apart from reading the image file): a ``Checked`` or (reason, detail)."""
    if item.problem:
        reason, _, detail = item.problem.partition(": ")
        return reason, detail
    record = item.record
    try:
        info = inspect_image(read_image_file(item.image_path, ImageLimits.of(config.clean)), config.clean)
    except ImageProblem as exc:
        if exc.reason == "missing_image" and exc.detail == "not found":
            return "missing_image", f"image file {record.image!r} not found"
        if exc.reason in ("missing_image", "not_a_regular_file", "file_too_large"):
            return exc.reason, f"image {record.image!r}: {exc.detail}"
        return exc.reason, exc.detail
    norm = normalizer(config.normalize)
    text = norm(record.text)
    if not text:
        return "empty_text", "description is empty"
    if len(text) < config.clean.min_text_len:
        return "text_too_short", f"{len(text)} characters < {config.clean.min_text_len}"
    if len(text) > config.clean.max_text_len:
        return "text_too_long", f"{len(text)} characters > {config.clean.max_text_len}"
    title = norm(record.title)
    if not title:
        return "missing_field", "title is empty after normalisation"
    return Checked(
        item=item, info=info, text=text, title=title,
        aliases=sorted({norm(a) for a in record.aliases if norm(a)}),
        category=norm(record.category), region=norm(record.region), description=norm(record.entity_description),
    )


def _check_job(job: tuple[RawItem, BuildConfig]) -> Checked | tuple[str, str]:
    return check_record(*job)  # a top-level function, so process pools and Dask can pickle it


class _Rejects:
    def __init__(self):
        self.rows: list[Reject] = []
        self.shown: Counter = Counter()
        self.warnings: list[str] = []

    def add(self, item: RawItem, reason: str, detail: str, duplicate_of: str | None = None) -> None:
        self.rows.append(Reject(record=item.ref or item.location, reason=reason, detail=detail,
                                record_id=item.record_id, source=item.source_name, duplicate_of=duplicate_of))
        if reason in INPUT_PROBLEMS:
            line = f"warning: {item.location}: {reason}: {detail} (record rejected)"
            self.warnings.append(line)
            self.shown[reason] += 1
            if self.shown[reason] <= 10:
                print(line, file=sys.stderr)
            elif self.shown[reason] == 11:
                print(f"warning: more {reason} records; all are listed in rejects.jsonl", file=sys.stderr)


def _read_sources(sources, mapping, strict: bool, encoding: str | None = None) -> tuple[list[RawItem], list[dict]]:
    items, described = [], []
    names = Counter()
    for source in sources:
        path = Path(source)
        before = len(items)
        records = records_file(path)
        read_as = detect_encoding(records, encoding)
        for item in iter_source(path, mapping=mapping, encoding=read_as):
            if strict and item.problem:
                raise EmmelError(item.problem, path=item.location)
            items.append(item)
        name = items[before].source_name if len(items) > before else (path.name if path.is_dir() else path.stem)
        names[name] += 1
        if names[name] > 1:
            raise EmmelError(f"two sources are named {name!r}; sample ids would collide (rename one folder)", path=path)
        meta = read_json(path / SOURCE_FILE) if path.is_dir() and (path / SOURCE_FILE).exists() else {}
        described.append({"name": name, "kind": meta.get("kind", "import"), "records": len(items) - before,
                          "records_sha256": sha256_file(records), "encoding": read_as})
    return items, described


def run_build(sources, out, config: BuildConfig, *, mapping: dict | None = None, overwrite: bool = False,
              strict: bool = False, engine: str = "local", plots: bool = True) -> BuildReport:
    """Build a dataset folder ``out`` from raw ``sources``; see the module docstring."""
    started = time.perf_counter()
    if not sources:
        raise EmmelError("no sources given")
    out = Path(out)
    if out.exists() and not overwrite:
        raise EmmelError("output folder exists (use --overwrite to replace it)", path=out)
    items, described = _read_sources(sources, mapping or {}, strict, config.encoding)
    if not items:
        raise EmmelError("the sources hold no records")
    rejects = _Rejects()

    # -- check (map stage) ------------------------------------------------------------------------
    jobs = [(item, config) for item in items]
    checked: list[Checked] = []
    seen_ids: dict[str, Checked] = {}
    for item, result in zip(items, map_ordered(_check_job, jobs, engine=engine, workers=config.workers, desc="check images")):
        if isinstance(result, tuple):
            rejects.add(item, *result)
        elif result.sample_id in seen_ids:
            rejects.add(item, "malformed_record", f"record_id {item.record_id!r} repeats an earlier record of {item.source_name}")
        else:
            seen_ids[result.sample_id] = result
            checked.append(result)

    # -- exact and near-duplicate images ------------------------------------------------------------
    # Same entity: copies within image_radius (re-encoded, resized, cropped) are duplicates.
    # Different entities: only near-exact copies (conflict_radius) are a conflict; looser matches
    # across entities are look-alikes (one motif, two regions), not the same photo.
    def drop_duplicates(cluster_of: list[int], how: str) -> list[Checked]:
        kept = []
        for c, label in zip(checked, cluster_of):
            rep = checked[label]
            if rep is c:
                kept.append(c)
            elif rep.title != c.title:
                rejects.add(c.item, "image_entity_conflict", f"{how} {rep.sample_id}, which is linked to {rep.title!r}, not {c.title!r}", rep.sample_id)
            else:
                reason = "duplicate_image" if how == "identical bytes to" else "near_duplicate_image"
                rejects.add(c.item, reason, f"{how} {rep.sample_id}", rep.sample_id)
        return kept

    first_by_sha: dict[str, int] = {}
    checked = drop_duplicates([first_by_sha.setdefault(c.info.sha256, k) for k, c in enumerate(checked)], "identical bytes to")
    radius = config.dedup.conflict_radius
    checked = drop_duplicates(near_duplicate_clusters([c.info.phash for c in checked], radius), f"pHash within {radius} bits of")
    labels = list(range(len(checked)))
    for members in _by_title(checked).values():
        for k, label in zip(members, near_duplicate_clusters([checked[k].info.phash for k in members], config.dedup.image_radius)):
            labels[k] = members[label]
    checked = drop_duplicates(labels, f"pHash within {config.dedup.image_radius} bits of")

    # -- near-duplicate texts (within one entity) ---------------------------------------------------
    groups = UnionFind(len(checked))
    for members in _by_title(checked).values():
        pairs = near_duplicate_texts([checked[k].text for k in members], threshold=config.dedup.text_threshold,
                                     ngram=config.dedup.text_ngram, seed=config.seed)
        for a, b in pairs:
            groups.union(members[a], members[b])
    if config.dedup.text_mode == "reject":
        kept = []
        for k, c in enumerate(checked):
            rep = checked[groups.find(k)]
            if rep is c:
                kept.append(c)
            else:
                rejects.add(c.item, "near_duplicate_text", f"text near-duplicate of {rep.sample_id}", rep.sample_id)
        checked = kept
        groups = UnionFind(len(checked))

    # -- leakage groups: text groups (mode "group", united above) + looser image clusters ----------
    group_radius = max(config.dedup.group_radius, config.dedup.image_radius)
    for k, label in enumerate(near_duplicate_clusters([c.info.phash for c in checked], group_radius)):
        groups.union(k, label)

    # -- KB -----------------------------------------------------------------------------------------
    mentions = [EntityMention(c.title, c.aliases, c.category, c.region, c.description, c.item.record.source.get("url", "")) for c in checked]
    if config.kb_seed:
        mentions += read_kb_seed(config.kb_seed, normalizer(config.normalize))
    kb, entity_of = build_kb(mentions)

    # -- split ----------------------------------------------------------------------------------------
    group_of = [stable_id("G", checked[groups.find(k)].sample_id) for k in range(len(checked))]
    sizes = Counter(group_of)
    group_entity = {}
    for k in range(len(checked)):
        group_entity.setdefault(group_of[k], entity_of[k])
    split_of_group = assign_splits({g: (group_entity[g], sizes[g]) for g in sizes}, config.split, config.seed)

    with atomic_directory(out, overwrite=overwrite) as tmp:
        samples: dict[str, list[Sample]] = {s: [] for s in SPLITS}
        originals: list[tuple[Sample, Path]] = []
        limits = ImageLimits.of(config.clean)
        for k, c in enumerate(progress(checked, desc="copy images")):
            rel = f"images/{c.info.sha256[:2]}/{c.info.sha256}.{c.info.ext}"
            target = tmp / rel
            if not target.exists():
                atomic_write_bytes(target, _reread(c, limits))
            record = c.item.record
            sample = Sample(
                id=c.sample_id, image=rel, text=c.text, entity_id=entity_of[k], split=split_of_group[group_of[k]],
                image_sha256=c.info.sha256, width=c.info.width, height=c.info.height, phash=format_hash(c.info.phash),
                group=group_of[k], source={**record.source, "name": c.item.source_name, "record_id": record.record_id},
                license=record.license,
            )
            samples[sample.split].append(sample)
            originals.append((sample, target))
        if config.augment.enabled and config.augment.ops:
            samples["train"] += _augment(originals, config, tmp)
        candidates = select_all_candidates(samples, kb, build_graph(kb), config)
        dataset = Dataset(
            root=tmp, kb=kb, samples=samples, candidates=candidates, rejects=rejects.rows,
            meta={"name": config.name, "seed": config.seed, "config": config.to_dict(), "sources": described,
                  "lambda": config.candidates.size, "input_records": len(items)},
        )
        dataset.write_into(tmp, plots=plots)
        counts = dataset.counts()
    if counts["input_records"] != counts["kept"] + counts["rejected"]:
        raise EmmelError(f"internal accounting error: {counts}; please report this")
    return BuildReport(out=out, counts=counts, seconds=time.perf_counter() - started, warnings=rejects.warnings, sources=described)


def _reread(c: Checked, limits: ImageLimits) -> bytes:
    """The image bytes again, for the copy; they must be the bytes the check stage saw."""
    try:
        data = read_image_file(c.item.image_path, limits)
    except ImageProblem as exc:
        raise EmmelError(f"image of record {c.item.record_id!r} became unreadable during the build ({exc.detail})", path=c.item.image_path) from None
    if sha256_bytes(data) != c.info.sha256:
        raise EmmelError(f"image of record {c.item.record_id!r} changed during the build; build again", path=c.item.image_path)
    return data


def select_all_candidates(samples: dict[str, list[Sample]], kb, graph: KnowledgeGraph, config: BuildConfig) -> dict:
    """The candidates stage: λ entities per sample of the evaluation splits, hard negatives drawn with
    the knowledge graph (same base, then similar labels, then shared group/place/category)."""
    index = CandidateIndex(kb, graph)
    return {
        split: {
            s.id: select_candidates(index, s.entity_id, s.text, config.candidates.size, config.seed, s.id)
            for s in progress(samples.get(split, []), desc=f"candidates {split}")
        }
        for split in config.candidates.splits
    }


def _by_title(checked: list[Checked]) -> dict[str, list[int]]:
    """Indices of the records of each (normalised) entity title, in input order."""
    out: dict[str, list[int]] = {}
    for k, c in enumerate(checked):
        out.setdefault(c.title, []).append(k)
    return out


def _augment(originals: list[tuple[Sample, Path]], config: BuildConfig, tmp: Path) -> list[Sample]:
    from emmel.augment import augment_image, draw_params
    from emmel.config import CleanConfig

    lenient = CleanConfig(min_side=1, max_aspect=1e9, max_pixels=config.clean.max_pixels, max_bytes=config.clean.max_bytes,
                          min_text_len=0, max_text_len=10**9)
    limits = ImageLimits.of(config.clean)
    out = []
    train = [(s, p) for s, p in originals if s.split == "train"]
    for sample, path in progress(train, desc="augment train"):
        data = path.read_bytes()
        for op in config.augment.ops:
            for copy in range(config.augment.copies):
                params = draw_params(op, config.augment, config.seed, f"{sample.id}:{copy}")
                augmented = augment_image(data, op, params, config.augment.jpeg_quality, limits)
                info = inspect_image(augmented, lenient)
                rel = f"images/{info.sha256[:2]}/{info.sha256}.jpg"
                if not (tmp / rel).exists():
                    atomic_write_bytes(tmp / rel, augmented)
                out.append(Sample(
                    id=f"{sample.id}-{op}{copy}", image=rel, text=sample.text, entity_id=sample.entity_id, split="train",
                    image_sha256=info.sha256, width=info.width, height=info.height, phash=format_hash(info.phash),
                    group=sample.group, source=sample.source, license=sample.license,
                    augmented_from=sample.id, augmentation={"op": op, "params": params},
                ))
    return out
