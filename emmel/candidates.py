"""λ candidate entities per evaluation sample: the gold plus hard negatives, fixed by the seed.

Negatives come hardest first: entities with the same base name (春节 vs 春节(查干萨日)), then the
most similar labels (character bigram overlap with the gold label and with the sample's text), then
entities of the same category, then seeded random entities. The final list is shuffled with the
seed so the gold's position carries no signal.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from emmel.labels import base_name
from emmel.schema import Entity
from emmel.text import char_ngrams


class CandidateIndex:
    """Precomputed views of the KB for fast hard-negative selection."""

    def __init__(self, kb: list[Entity]):
        self.ids = [e.id for e in kb]
        self.entities = {e.id: e for e in kb}
        self.grams = {e.id: char_ngrams(e.label) for e in kb}
        self.by_base: dict[str, list[str]] = defaultdict(list)
        self.by_category: dict[str, list[str]] = defaultdict(list)
        self.by_gram: dict[str, list[str]] = defaultdict(list)
        for e in kb:
            self.by_base[base_name(e.label)].append(e.id)
            if e.category:
                self.by_category[e.category].append(e.id)
            for gram in self.grams[e.id]:
                self.by_gram[gram].append(e.id)

    def similar(self, grams: set[str]) -> dict[str, float]:
        """Jaccard of bigram sets for every entity sharing at least one bigram (inverted index)."""
        overlap: dict[str, int] = defaultdict(int)
        for gram in grams:
            for eid in self.by_gram.get(gram, ()):
                overlap[eid] += 1
        return {eid: n / (len(grams) + len(self.grams[eid]) - n) for eid, n in overlap.items()}


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()[:16], 16))


def select_candidates(index: CandidateIndex, gold: str, text: str, size: int, seed: int, key: str) -> list[str]:
    """``size`` distinct entity ids including ``gold`` (all entities when the KB is smaller)."""
    if size >= len(index.ids):
        chosen = list(index.ids)
        _rng(seed, key).shuffle(chosen)
        return chosen
    entity = index.entities[gold]
    chosen = [gold]
    taken = {gold}

    def take(ids, limit):
        for eid in ids:
            if len(chosen) >= limit:
                return
            if eid not in taken:
                taken.add(eid)
                chosen.append(eid)

    take(sorted(index.by_base.get(base_name(entity.label), ())), size)
    label_sim = index.similar(index.grams[gold])
    text_sim = index.similar(char_ngrams(text))
    scores = {eid: label_sim.get(eid, 0.0) + 0.5 * text_sim.get(eid, 0.0) for eid in set(label_sim) | set(text_sim)}
    take(sorted(scores, key=lambda eid: (-scores[eid], eid)), max(len(chosen), size // 2))
    rng = _rng(seed, key)
    same_category = sorted(index.by_category.get(entity.category, ())) if entity.category else []
    rng.shuffle(same_category)
    take(same_category, max(len(chosen), (3 * size) // 4))
    rest = [eid for eid in index.ids if eid not in taken]
    rng.shuffle(rest)
    take(rest, size)
    rng.shuffle(chosen)
    return chosen
