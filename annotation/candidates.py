"""The entity choices offered for a sample.

Dev/test samples offer their dataset candidate set (λ ids, gold included). Train samples have no
candidate set, so they offer the gold plus its ``TRAIN_CANDIDATES - 1`` nearest KB neighbours:
same base name first (``春节`` vs ``春节(查干萨日)``, ``emmel.labels.base_name``), then label character overlap (Jaccard), then
same category, then entity id; a pure function of the KB and the gold, hence reproducible at import.
"""

from __future__ import annotations

from collections import defaultdict

from emmel.labels import base_name
from emmel.schema import EVAL_SPLITS, Entity, Sample

TRAIN_CANDIDATES = 20


class NeighbourIndex:
    """Character index of the KB labels, for fast deterministic neighbour lists (cached per gold)."""

    def __init__(self, kb: list[Entity]):
        self.entities = {e.id: e for e in kb}
        self.ids = sorted(self.entities)
        self.chars = {e.id: frozenset(e.label) for e in kb}
        self.base = {e.id: base_name(e.label) for e in kb}
        self.postings: dict[str, list[str]] = defaultdict(list)
        for eid in self.ids:
            for char in self.chars[eid]:
                self.postings[char].append(eid)
        self._cache: dict[tuple[str, int], list[str]] = {}

    def neighbours(self, entity_id: str, k: int = TRAIN_CANDIDATES) -> list[str]:
        """``entity_id`` followed by its ``k - 1`` nearest entities (see the module docstring)."""
        key = (entity_id, k)
        if key not in self._cache:
            self._cache[key] = self._neighbours(entity_id, k)
        return self._cache[key]

    def _neighbours(self, gold_id: str, k: int) -> list[str]:
        gold = self.entities[gold_id]
        shared: dict[str, int] = defaultdict(int)
        for char in self.chars[gold_id]:
            for eid in self.postings[char]:
                shared[eid] += 1
        size = len(self.chars[gold_id])

        def score(eid: str) -> tuple:
            overlap = shared.get(eid, 0)
            jaccard = overlap / (size + len(self.chars[eid]) - overlap) if overlap else 0.0
            other = self.entities[eid]
            return (
                -(self.base[eid] == self.base[gold_id]),
                -jaccard,
                -(bool(gold.category) and other.category == gold.category),
                eid,
            )

        pool = [eid for eid in shared if eid != gold_id]
        ranked = sorted(pool, key=score)[: k - 1]
        if len(ranked) < k - 1:  # too few label look-alikes: same category, then by id
            taken = set(ranked) | {gold_id}
            rest = sorted((eid for eid in self.ids if eid not in taken), key=score)
            ranked += rest[: k - 1 - len(ranked)]
        return [gold_id, *ranked]


def sample_candidates(sample: Sample, candidates: dict[str, dict[str, list[str]]], index: NeighbourIndex) -> list[str]:
    """The entity ids offered for ``sample``: its dataset candidate set, else KB neighbours of the gold.

    The one rule behind both directions of the round trip: ``export`` offers these, and ``import``
    accepts a choice only among these (recomputed from the dataset, never read from the export),
    so an edited ``data.candidates`` cannot relink a sample to an entity it was never offered.
    The gold is always among them.
    """
    if sample.split in EVAL_SPLITS:
        ids = candidates.get(sample.split, {}).get(sample.id)
        if ids:
            return list(ids) if sample.entity_id in ids else [sample.entity_id, *ids]
    return index.neighbours(sample.entity_id)


def offered_from(sample: Sample) -> str:
    """Where a sample's offered entities come from, for messages."""
    if sample.split in EVAL_SPLITS:
        return f"its candidate set in candidates/{sample.split}.jsonl"
    return "its gold's nearest KB entities"
