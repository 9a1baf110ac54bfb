"""``emmel build``: raw sources -> EMMEL dataset, as named stages that ``run_build`` calls in order.

    read_sources -> check_records (map over records: decode, verify, hash, normalise)
    -> drop_identical_images -> drop_near_duplicate_images (multi-index hashing)
    -> find_near_duplicate_texts (MinHash) -> build_entities (KB) -> build_graph (the KB's knowledge graph)
    -> leakage_groups -> assign_group_splits -> copy_images -> augment_train -> select_candidate_sets -> export

Each stage is a function of what the previous ones returned (records that survived, and the
``Rejects`` every stage appends to), so each can be run and tested alone. Every input record ends up either as a kept sample or as a reject with a reason, so
``input_records == kept + rejected`` always holds. The dataset is written into a temporary
sibling folder and renamed into place at the end (see ``emmel.io.atomic_directory``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from emmel.candidates import CandidateIndex, select_candidates
from emmel.config import BuildConfig, CleanConfig, DedupConfig
from emmel.dataset import KIND, Dataset, reject_key
from emmel.dedup import UnionFind, near_duplicate_clusters, near_duplicate_texts
from emmel.errors import EmmelError
from emmel.images import ImageInfo, ImageLimits, ImageProblem, format_hash, inspect_image, read_image_file
from emmel.io import (
    atomic_directory,
    atomic_write_bytes,
    check_output,
    dumps,
    read_json,
    sha256_bytes,
    sha256_file,
    stable_id,
    write_output_file,
)
from emmel.kb import EntityMention, build_kb, read_kb_seed
from emmel.kg import KnowledgeGraph, build_graph
from emmel.labels import normalizer
from emmel.parallel import map_ordered
from emmel.progress import progress
from emmel.schema import SPLITS, Entity, Reject, Sample
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


class Rejects:
    """The rejects of a build, in the order the stages found them, and the warnings shown for input problems."""

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


def run_build(sources, out, config: BuildConfig, *, mapping: dict | None = None, overwrite: bool = False,
              strict: bool = False, engine: str = "local", plots: bool = True, line_ids: bool = False) -> BuildReport:
    """Build a dataset folder ``out`` from raw ``sources``; see the module docstring."""
    started = time.perf_counter()
    if not sources:
        raise EmmelError("no sources given")
    out = Path(out)
    inputs = [*sources, *([config.kb_seed] if config.kb_seed else [])]
    check_output(out, kind=KIND, overwrite=overwrite, inputs=inputs)  # fail in a second, not after the images
    items, described = read_sources(sources, mapping or {}, strict, config.encoding, line_ids)
    rejects = Rejects()
    checked = check_records(items, config, rejects, engine=engine)
    if not checked:
        raise EmmelError(_nothing_kept(out, rejects.rows), path=out)
    checked = drop_identical_images(checked, rejects)
    checked = drop_near_duplicate_images(checked, config.dedup, rejects)
    checked, text_links = find_near_duplicate_texts(checked, config, rejects)
    kb, entity_of = build_entities(checked, config)
    graph = build_graph(kb)
    group_of = leakage_groups(checked, text_links, config.dedup)
    split_of = assign_group_splits(group_of, entity_of, config)
    with atomic_directory(out, kind=KIND, overwrite=overwrite, inputs=inputs) as tmp:
        samples = copy_images(checked, entity_of, group_of, split_of, tmp, ImageLimits.of(config.clean))
        if config.augment.enabled and config.augment.ops:
            samples["train"] += augment_train(samples["train"], config, tmp)
        dataset = Dataset(
            root=tmp, kb=kb, samples=samples, candidates=select_candidate_sets(kb, graph, samples, config), rejects=rejects.rows,
            meta={"name": config.name, "seed": config.seed, "config": config.to_dict(), "sources": described,
                  "lambda": config.candidates.size, "input_records": len(items)},
        )
        counts = export(dataset, tmp, plots=plots)
    return BuildReport(out=out, counts=counts, seconds=time.perf_counter() - started, warnings=rejects.warnings,
                       sources=described)


# ---------------------------------------------------------------------------------------- stages

def read_sources(sources, mapping: dict, strict: bool, encoding: str | None = None,
                 line_ids: bool = False) -> tuple[list[RawItem], list[dict]]:
    """Every record of every source (problems included, as items to reject), and a description of each source.
    ``encoding``: of the records files (None: detected per file, ``emmel.textfiles.detect_encoding``);
    ``line_ids``: number records without a ``record_id`` by their line (else they are ``missing_field`` rejects)."""
    items, described = [], []
    names = Counter()
    for source in sources:
        path = Path(source)
        before = len(items)
        records = records_file(path)
        read_as = detect_encoding(records, encoding)
        for item in iter_source(path, mapping=mapping, encoding=read_as, line_ids=line_ids):
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
    if not items:
        raise EmmelError("the sources hold no records")
    return items, described


def check_records(items: list[RawItem], config: BuildConfig, rejects: Rejects, *, engine: str = "local") -> list[Checked]:
    """The records that pass ``check_record`` (run on ``engine``), minus repeats of an earlier record id."""
    jobs = [(item, config) for item in items]
    checked: list[Checked] = []
    seen_ids: set[str] = set()
    for item, result in zip(items, map_ordered(_check_job, jobs, engine=engine, workers=config.workers, desc="check images")):
        if isinstance(result, tuple):
            rejects.add(item, *result)
        elif result.sample_id in seen_ids:
            rejects.add(item, "malformed_record", f"record_id {item.record_id!r} repeats an earlier record of {item.source_name}")
        else:
            seen_ids.add(result.sample_id)
            checked.append(result)
    return checked


def drop_identical_images(checked: list[Checked], rejects: Rejects) -> list[Checked]:
    """Records whose image bytes repeat an earlier record's: rejected (as a conflict if the entities differ)."""
    first_by_sha: dict[str, int] = {}
    clusters = [first_by_sha.setdefault(c.info.sha256, k) for k, c in enumerate(checked)]
    return _drop_copies(checked, clusters, "identical bytes to", "duplicate_image", rejects)


def drop_near_duplicate_images(checked: list[Checked], dedup: DedupConfig, rejects: Rejects) -> list[Checked]:
    """Near-exact copies across entities (``conflict_radius``) are conflicts; looser matches across entities are
    look-alikes (one motif, two regions), not the same photo. Within one entity, copies within ``image_radius``
    (re-encoded, resized, cropped) are duplicates. The earliest record of a cluster is kept."""
    radius = dedup.conflict_radius
    checked = _drop_copies(checked, near_duplicate_clusters([c.info.phash for c in checked], radius),
                           f"pHash within {radius} bits of", "near_duplicate_image", rejects)
    clusters = list(range(len(checked)))
    for members in _by_title(checked).values():
        for k, label in zip(members, near_duplicate_clusters([checked[k].info.phash for k in members], dedup.image_radius)):
            clusters[k] = members[label]
    return _drop_copies(checked, clusters, f"pHash within {dedup.image_radius} bits of", "near_duplicate_image", rejects)


def _drop_copies(checked: list[Checked], clusters: list[int], how: str, reason: str, rejects: Rejects) -> list[Checked]:
    """Keep each cluster's representative ``checked[clusters[k]]``; reject the others with ``reason``."""
    kept = []
    for c, label in zip(checked, clusters):
        rep = checked[label]
        if rep is c:
            kept.append(c)
        elif rep.title != c.title:
            rejects.add(c.item, "image_entity_conflict", f"{how} {rep.sample_id}, which is linked to {rep.title!r}, not {c.title!r}",
                        rep.sample_id)
        else:
            rejects.add(c.item, reason, f"{how} {rep.sample_id}", rep.sample_id)
    return kept


def find_near_duplicate_texts(checked: list[Checked], config: BuildConfig, rejects: Rejects) -> tuple[list[Checked], list[tuple[int, int]]]:
    """Near-duplicate texts of one entity (MinHash, Jaccard >= ``text_threshold``).

    ``text_mode = "group"`` (default) keeps them all and returns the pairs, which ``leakage_groups`` keeps in
    one split (pages often give many photos one caption); ``"reject"`` keeps the earliest record of each
    cluster, rejects the rest as ``near_duplicate_text`` and returns no pairs.
    """
    dedup = config.dedup
    pairs = []
    for members in _by_title(checked).values():
        found = near_duplicate_texts([checked[k].text for k in members], threshold=dedup.text_threshold,
                                     ngram=dedup.text_ngram, seed=config.seed)
        pairs += [(members[a], members[b]) for a, b in found]
    if dedup.text_mode != "reject":
        return checked, pairs
    clusters = UnionFind(len(checked))
    for a, b in pairs:
        clusters.union(a, b)
    kept = []
    for k, c in enumerate(checked):
        rep = checked[clusters.find(k)]
        if rep is c:
            kept.append(c)
        else:
            rejects.add(c.item, "near_duplicate_text", f"text near-duplicate of {rep.sample_id}", rep.sample_id)
    return kept, []


def build_entities(checked: list[Checked], config: BuildConfig) -> tuple[list[Entity], list[str]]:
    """The KB (entities from the records' titles plus the optional ``kb_seed``) and each record's entity id."""
    mentions = [EntityMention(c.title, c.aliases, c.category, c.region, c.description, c.item.record.source.get("url", ""))
                for c in checked]
    if config.kb_seed:
        mentions += read_kb_seed(config.kb_seed, normalizer(config.normalize))
    kb, entity_of = build_kb(mentions)
    return kb, entity_of[: len(checked)]


def leakage_groups(checked: list[Checked], text_links: list[tuple[int, int]], dedup: DedupConfig) -> list[str]:
    """The leakage group id of each record: records linked by near-duplicate texts or by images within
    ``max(group_radius, image_radius)`` share one; its id derives from the group's earliest record."""
    groups = UnionFind(len(checked))
    for a, b in text_links:
        groups.union(a, b)
    radius = max(dedup.group_radius, dedup.image_radius)
    for k, label in enumerate(near_duplicate_clusters([c.info.phash for c in checked], radius)):
        groups.union(k, label)
    return [stable_id("G", checked[groups.find(k)].sample_id) for k in range(len(checked))]


def assign_group_splits(group_of: list[str], entity_of: list[str], config: BuildConfig) -> list[str]:
    """The split of each record: whole leakage groups are assigned (``emmel.split.assign_splits``)."""
    sizes = Counter(group_of)
    group_entity: dict[str, str] = {}
    for group, entity in zip(group_of, entity_of):
        group_entity.setdefault(group, entity)
    split_of_group = assign_splits({g: (group_entity[g], sizes[g]) for g in sizes}, config.split, config.seed)
    return [split_of_group[g] for g in group_of]


def copy_images(checked: list[Checked], entity_of: list[str], group_of: list[str], split_of: list[str],
                folder: Path, limits: ImageLimits) -> dict[str, list[Sample]]:
    """The samples of each split, with their images copied (content-addressed) into ``folder/images``."""
    samples: dict[str, list[Sample]] = {s: [] for s in SPLITS}
    for k, c in enumerate(progress(checked, desc="copy images")):
        rel = f"images/{c.info.sha256[:2]}/{c.info.sha256}.{c.info.ext}"
        target = folder / rel
        if not target.exists():
            atomic_write_bytes(target, _reread(c, limits))
        record = c.item.record
        samples[split_of[k]].append(Sample(
            id=c.sample_id, image=rel, text=c.text, entity_id=entity_of[k], split=split_of[k],
            image_sha256=c.info.sha256, width=c.info.width, height=c.info.height, phash=format_hash(c.info.phash),
            group=group_of[k], source={**record.source, "name": c.item.source_name, "record_id": record.record_id},
            license=record.license,
        ))
    return samples


def augment_train(train: list[Sample], config: BuildConfig, folder: Path) -> list[Sample]:
    """Augmented copies of the train samples whose images are in ``folder`` (seeded per sample; train only)."""
    from emmel.augment import augment_image, draw_params

    lenient = CleanConfig(min_side=1, max_aspect=1e9, max_pixels=config.clean.max_pixels, max_bytes=config.clean.max_bytes,
                          min_text_len=0, max_text_len=10**9)
    limits = ImageLimits.of(config.clean)
    out = []
    for sample in progress(list(train), desc="augment train"):
        data = (folder / sample.image).read_bytes()
        for op in config.augment.ops:
            for copy in range(config.augment.copies):
                params = draw_params(op, config.augment, config.seed, f"{sample.id}:{copy}")
                augmented = augment_image(data, op, params, config.augment.jpeg_quality, limits)
                info = inspect_image(augmented, lenient)
                rel = f"images/{info.sha256[:2]}/{info.sha256}.jpg"
                if not (folder / rel).exists():
                    atomic_write_bytes(folder / rel, augmented)
                out.append(Sample(
                    id=f"{sample.id}-{op}{copy}", image=rel, text=sample.text, entity_id=sample.entity_id, split="train",
                    image_sha256=info.sha256, width=info.width, height=info.height, phash=format_hash(info.phash),
                    group=sample.group, source=sample.source, license=sample.license,
                    augmented_from=sample.id, augmentation={"op": op, "params": params},
                ))
    return out


def _reread(c: Checked, limits: ImageLimits) -> bytes:
    """The image bytes again, for the copy; they must be the bytes the check stage saw."""
    try:
        data = read_image_file(c.item.image_path, limits)
    except ImageProblem as exc:
        raise EmmelError(f"image of record {c.item.record_id!r} became unreadable during the build ({exc.detail})",
                         path=c.item.image_path) from None
    if sha256_bytes(data) != c.info.sha256:
        raise EmmelError(f"image of record {c.item.record_id!r} changed during the build; build again", path=c.item.image_path)
    return data


def _nothing_kept(out: Path, rows: list[Reject]) -> str:
    """The one-line failure of a build that rejects every record; the rejects go to ``OUT.rejects.jsonl``."""
    reasons = ", ".join(f"{reason} {n}" for reason, n in Counter(r.reason for r in rows).most_common())
    listing = out.with_name(f"{out.name}.rejects.jsonl")
    data = "".join(dumps(r.to_dict()) + "\n" for r in sorted(rows, key=reject_key)).encode("utf-8")
    try:
        write_output_file(listing, data, overwrite=True, is_ours=is_rejects_file, what="rejects list")
        where = f"; each reject is listed in {listing}"
    except (EmmelError, OSError):
        where = ""
    return f"all {len(rows)} input records were rejected ({reasons}), so no dataset was written{where}"


def is_rejects_file(data: bytes) -> bool:
    """Whether ``data`` is a rejects list emmel wrote (JSON Lines of rejects)."""
    try:
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except ValueError:
        return False
    return all(isinstance(r, dict) and {"record", "reason"} <= set(r) for r in rows)


def select_candidate_sets(kb: list[Entity], graph: KnowledgeGraph, samples: dict[str, list[Sample]],
                          config: BuildConfig) -> dict[str, dict[str, list[str]]]:
    """λ candidate entity ids for every sample of ``config.candidates.splits`` (``emmel.candidates``): hard
    negatives by base name, then similar labels, then the knowledge graph (shared group, place, category)."""
    index = CandidateIndex(kb, graph)
    candidates = {}
    for split in config.candidates.splits:
        candidates[split] = {
            s.id: select_candidates(index, s.entity_id, s.text, config.candidates.size, config.seed, s.id)
            for s in progress(samples.get(split, []), desc=f"candidates {split}")
        }
    return candidates


def export(dataset: Dataset, folder: Path, *, plots: bool = True) -> dict:
    """Write every file of ``dataset`` into ``folder``; returns its counts, after checking the accounting identity."""
    dataset.write_into(folder, plots=plots)
    counts = dataset.counts()
    if counts["input_records"] != counts["kept"] + counts["rejected"]:
        raise EmmelError(f"internal accounting error: {counts}; please report this")
    return counts


def _by_title(checked: list[Checked]) -> dict[str, list[int]]:
    """Indices of the records of each (normalised) entity title, in input order."""
    out: dict[str, list[int]] = {}
    for k, c in enumerate(checked):
        out.setdefault(c.title, []).append(k)
    return out
