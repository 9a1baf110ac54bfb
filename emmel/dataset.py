"""Read and write a dataset folder (docs/FORMAT.md §2).

``Dataset.load(dir)`` parses and validates every file; ``dataset.save(dir)`` writes the folder
atomically and deterministically: JSONL sorted by id, Parquet copies, plots, the dataset card and
the manifest with the sha256 of every file. Images are content-addressed and copied (hard-linked
when possible) from ``dataset.root``, the folder they currently live in.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from emmel import TOOL
from emmel.errors import EmmelError
from emmel.images import ImageProblem, check_image_file
from emmel.io import atomic_directory, read_json, read_jsonl, relative_parts, safe_join, sha256_file, write_json, write_jsonl
from emmel.schema import EVAL_SPLITS, FORMAT_VERSION, SPLITS, Entity, Reject, Sample

MANIFEST = "manifest.json"
KIND = "dataset"  # the output kind in the folder's emmel.io.MARKER


@dataclass
class Dataset:
    root: Path  # folder the images currently live in
    kb: list[Entity]
    samples: dict[str, list[Sample]]
    candidates: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # name, seed, config, sources, input_records, history

    # ----------------------------------------------------------------- access
    @property
    def entities(self) -> dict[str, Entity]:
        return {entity.id: entity for entity in self.kb}

    def all_samples(self) -> Iterable[Sample]:
        for split in SPLITS:
            yield from self.samples.get(split, [])

    def image_path(self, sample: Sample) -> Path:
        return safe_join(self.root, sample.image)

    def counts(self) -> dict:
        originals = [s for s in self.all_samples() if s.augmented_from is None]
        by_reason = Counter(r.reason for r in self.rejects)
        return {
            "entities": len(self.kb),
            "input_records": int(self.meta.get("input_records", len(originals) + len(self.rejects))),
            "kept": len(originals),
            "rejected": len(self.rejects),
            "rejected_by_reason": dict(sorted(by_reason.items())),
            "samples": {split: len(self.samples.get(split, [])) for split in SPLITS},
            "augmented": sum(1 for s in self.all_samples() if s.augmented_from is not None),
            "candidates_per_sample": int(self.meta.get("lambda", 0)),
        }

    # ------------------------------------------------------------------- load
    @classmethod
    def load(cls, folder: str | os.PathLike) -> Dataset:
        folder = Path(folder)
        if not folder.is_dir():
            raise EmmelError("dataset folder not found", path=folder)
        if not (folder / MANIFEST).exists():
            raise EmmelError(f"not a finished dataset (no {MANIFEST}); was the build interrupted?", path=folder)
        manifest = read_json(folder / MANIFEST)
        kb = _parse_rows(folder / "kb.jsonl", Entity.from_dict)
        samples = {}
        for split in SPLITS:
            path = folder / f"{split}.jsonl"
            samples[split] = _parse_rows(path, Sample.from_dict) if path.exists() else []
        candidates = {}
        for split in EVAL_SPLITS:
            path = folder / "candidates" / f"{split}.jsonl"
            if path.exists():
                candidates[split] = {}
                for number, row in enumerate(read_jsonl(path), start=1):
                    ids = row.get("candidates")
                    if not isinstance(row.get("sample_id"), str) or not isinstance(ids, list):
                        raise EmmelError("candidate rows need 'sample_id' and a 'candidates' list", path=path, record=f"line {number}")
                    candidates[split][row["sample_id"]] = list(ids)
        rejects = _parse_rows(folder / "rejects.jsonl", Reject.from_dict) if (folder / "rejects.jsonl").exists() else []
        meta = {k: v for k, v in manifest.items() if k not in ("files", "counts", "format_version", "tool")}
        meta["input_records"] = manifest.get("counts", {}).get("input_records", 0)
        return cls(root=folder, kb=kb, samples=samples, candidates=candidates, rejects=rejects, meta=meta)

    # ------------------------------------------------------------------- save
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False, plots: bool = True) -> Path:
        """Write the dataset to ``folder`` atomically; returns the folder."""
        folder = Path(folder)
        with atomic_directory(folder, kind=KIND, overwrite=overwrite, inputs=[self.root]) as tmp:
            self.write_into(tmp, plots=plots)
        self.root = folder
        return folder

    def write_into(self, tmp: Path, *, plots: bool = True, digests: dict[str, str] | None = None) -> None:
        """Write every file into an empty (temporary) folder; ``manifest.json`` last.

        ``digests``: sha256 of files the caller has just written into ``tmp`` and hashed (content-
        addressed images), so the manifest need not read them again.
        """
        from emmel.card import write_card, write_parquet, write_plots  # heavy imports on demand
        from emmel.kg import build_graph, write_graph

        tmp = Path(tmp)
        self._copy_images(tmp)
        kb = sorted(self.kb, key=lambda e: e.id)
        write_jsonl(tmp / "kb.jsonl", (e.to_dict() for e in kb))
        # the knowledge graph: a pure function of the KB, so every version's graph agrees with its kb.jsonl;
        # an imported benchmark's KB (Wikidata entities) lies outside its ontology and gets none
        graph = None if self.meta.get("import") else build_graph(kb)
        if graph is not None:
            write_graph(graph, tmp)
        for split in SPLITS:
            rows = sorted(self.samples.get(split, []), key=lambda s: s.id)
            write_jsonl(tmp / f"{split}.jsonl", (s.to_dict() for s in rows))
        for split in EVAL_SPLITS:
            if split in self.candidates:
                rows = [{"sample_id": sid, "candidates": ids} for sid, ids in sorted(self.candidates[split].items())]
                write_jsonl(tmp / "candidates" / f"{split}.jsonl", rows)
        write_jsonl(tmp / "rejects.jsonl", (r.to_dict() for r in sorted(self.rejects, key=reject_key)))
        write_parquet(self, tmp)
        if plots:
            write_plots(self, tmp)
        write_card(self, tmp, graph)
        write_json(tmp / MANIFEST, self.manifest(tmp, digests))

    def manifest(self, folder: Path, digests: dict[str, str] | None = None) -> dict:
        files = {}
        known = digests or {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel != MANIFEST and not rel.startswith("."):
                files[rel] = known.get(rel) or sha256_file(path)
        meta = {k: v for k, v in self.meta.items() if k != "input_records"}
        return {**meta, "counts": self.counts(), "files": files, "format_version": FORMAT_VERSION, "tool": TOOL}

    def image_files(self) -> Iterable[tuple[str, str]]:
        """``(owner, relative path)`` of every image the folder holds: samples', then entities'."""
        for sample in self.all_samples():
            yield f"sample {sample.id}", sample.image
        for entity in self.kb:
            for image in entity.images:
                yield f"entity {entity.id}", image

    def _copy_images(self, tmp: Path) -> None:
        root = Path(self.root)
        in_place = root.resolve() == Path(tmp).resolve()  # a build or import stored them there itself
        for owner, image in self.image_files():
            try:
                if in_place:
                    target = src = tmp.joinpath(*relative_parts(image))
                else:
                    target, src = safe_join(tmp, image), safe_join(root, image)
            except ValueError as exc:
                raise EmmelError(f"{owner}: unsafe image path ({exc})", path=root) from None
            if target.exists():
                continue
            try:
                check_image_file(src, limits=None)  # a FIFO or folder would be linked into the new dataset
            except ImageProblem as exc:
                state = "is missing" if exc.detail == "not found" else exc.detail
                raise EmmelError(f"image {image!r} of {owner} {state}", path=root) from None
            link_or_copy(src, target)


def link_or_copy(src: Path, target: Path) -> bool:
    """Hard-link ``src`` to ``target`` (no second copy of the bytes), copying where links fail; True if linked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, target)
        return True
    except OSError:
        shutil.copyfile(src, target)
        return False


def reject_key(reject: Reject) -> tuple:
    """Order of ``rejects.jsonl``: by source, file, line."""
    path, _, line = reject.record.rpartition(":")
    return (reject.source, path, int(line) if line.isdigit() else 0, reject.record, reject.reason)


def _parse_rows(path: Path, parse) -> list:
    rows = []
    for number, row in enumerate(read_jsonl(path), start=1):
        try:
            rows.append(parse(row))
        except ValueError as exc:
            raise EmmelError(str(exc), path=path, record=f"line {number}") from None
    return rows
