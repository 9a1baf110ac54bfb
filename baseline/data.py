"""A dataset as index tensors: KB order, samples per split, gold and candidate positions.

Checks what the benchmark needs and says exactly what is missing: a training split, candidate sets
for dev/test (the paper's protocol scores the stored λ candidates), golds inside their candidate
sets, entity ids that resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from emmel.errors import EmmelError
from emmel.io import dumps, sha256_bytes


@dataclass
class KBIndex:
    ids: list[str]
    labels: list[str]
    categories: list[str]
    sha256: str  # of the canonical kb.jsonl text, so a saved model knows its KB
    text: str  # the canonical kb.jsonl content
    entities: list = field(default_factory=list)  # emmel.schema.Entity in KB order (aliases, descriptions: the lexical module reads them)

    @classmethod
    def from_entities(cls, entities) -> KBIndex:
        entities = sorted(entities, key=lambda e: e.id)
        text = "".join(dumps(e.to_dict()) + "\n" for e in entities)
        return cls([e.id for e in entities], [e.label for e in entities], [e.category for e in entities], sha256_bytes(text.encode("utf-8")), text,
                   entities)

    def position(self) -> dict[str, int]:
        return {eid: i for i, eid in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Split:
    name: str
    sample_ids: list[str]
    texts: list[str]
    image_paths: list[Path]
    gold: torch.Tensor  # N, KB positions
    candidates: torch.Tensor | None  # N×λ KB positions, -1 pads ragged sets
    gold_pos: torch.Tensor | None  # N, position of the gold inside its candidate row (-1: not in it, a miss)

    def __len__(self) -> int:
        return len(self.sample_ids)


def kb_of(dataset) -> KBIndex:
    if not dataset.kb:
        raise EmmelError("the dataset's KB is empty", path=Path(dataset.root) / "kb.jsonl")
    return KBIndex.from_entities(dataset.kb)


def load_split(dataset, split: str, kb: KBIndex, *, need_candidates: bool) -> Split:
    root = Path(dataset.root)
    samples = sorted(dataset.samples.get(split, []), key=lambda s: s.id)
    if not samples:
        raise EmmelError(f"the {split} split is empty; the benchmark needs train, dev and test samples", path=root / f"{split}.jsonl")
    where = kb.position()
    gold = []
    for s in samples:
        if s.entity_id not in where:
            raise EmmelError(f"sample {s.id}: entity {s.entity_id} is not in kb.jsonl", path=root / f"{split}.jsonl")
        gold.append(where[s.entity_id])
    paths = []
    for s in samples:
        try:
            paths.append(dataset.image_path(s))
        except ValueError as exc:
            raise EmmelError(f"sample {s.id}: unsafe image path ({exc})", path=root / f"{split}.jsonl") from None
    candidates = gold_pos = None
    if need_candidates:
        candidates, gold_pos = _candidate_matrix(dataset, split, samples, where)
    return Split(split, [s.id for s in samples], [s.text for s in samples], paths, torch.tensor(gold, dtype=torch.long), candidates, gold_pos)


def _candidate_matrix(dataset, split: str, samples, where: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    path = Path(dataset.root) / "candidates" / f"{split}.jsonl"
    table = dataset.candidates.get(split)
    if not table:
        raise EmmelError(f"the dataset has no candidate sets for {split} (the benchmark scores the stored λ candidates; "
                         "rebuild it with `emmel build`)", path=path)
    gold_optional = dataset.meta.get("candidates", {}).get("gold_always_included") is False  # imported lists
    rows, gold_pos = [], []
    for s in samples:
        ids = table.get(s.id)
        if ids is None or not (ids or gold_optional):
            raise EmmelError(f"sample {s.id} has no candidate set", path=path)
        unknown = [i for i in ids if i not in where]
        if unknown:
            raise EmmelError(f"sample {s.id}: candidate {unknown[0]} is not in kb.jsonl", path=path)
        if s.entity_id not in ids and not gold_optional:
            raise EmmelError(f"sample {s.id}: the gold {s.entity_id} is not among its candidates", path=path)
        rows.append([where[i] for i in ids])
        gold_pos.append(ids.index(s.entity_id) if s.entity_id in ids else -1)  # -1: gold not in the list, a miss
    width = max(1, max(len(r) for r in rows))
    matrix = torch.full((len(rows), width), -1, dtype=torch.long)
    for i, r in enumerate(rows):
        matrix[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return matrix, torch.tensor(gold_pos, dtype=torch.long)
