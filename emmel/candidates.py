"""λ candidate entities per evaluation sample: the gold plus hard negatives, fixed by the seed.

Negatives come hardest first: entities with the same base name (春节 vs 春节(查干萨日)), then the
most similar labels (character bigram overlap with the gold label and with the sample's text), then
the entities sharing most knowledge-graph facts with the gold (ethnic group, place at each level,
category: 苗族刺绣 of 雷山县 draws 苗族银饰锻制技艺 of 黔东南 before a 苗族 item of 湖南), then seeded
random entities. The final list is shuffled with the seed so the gold's position carries no signal.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from emmel.kg import KnowledgeGraph, build_graph
from emmel.labels import base_name
from emmel.schema import Entity
from emmel.text import char_ngrams


class CandidateIndex:
    """Precomputed views of the KB and its knowledge graph for fast hard-negative selection."""

    def __init__(self, kb: list[Entity], graph: KnowledgeGraph | None = None):
        self.ids = [e.id for e in kb]
        self.entities = {e.id: e for e in kb}
        self.grams = {e.id: char_ngrams(e.label) for e in kb}
        self.by_base: dict[str, list[str]] = defaultdict(list)
        self.by_gram: dict[str, list[str]] = defaultdict(list)
        graph = graph if graph is not None else build_graph(kb)
        self.facts = {e.id: graph.facts(e.id) for e in kb}
        self.by_fact: dict[str, list[str]] = defaultdict(list)
        self._related: dict[str, dict[str, int]] = {}
        for e in kb:
            self.by_base[base_name(e.label)].append(e.id)
            for gram in self.grams[e.id]:
                self.by_gram[gram].append(e.id)
            for fact in self.facts[e.id]:
                self.by_fact[fact].append(e.id)

    def similar(self, grams: set[str]) -> dict[str, float]:
        """Jaccard of bigram sets for every entity sharing at least one bigram (inverted index)."""
        overlap: dict[str, int] = defaultdict(int)
        for gram in grams:
            for eid in self.by_gram.get(gram, ()):
                overlap[eid] += 1
        return {eid: n / (len(grams) + len(self.grams[eid]) - n) for eid, n in overlap.items()}

    def related(self, eid: str) -> dict[str, int]:
        """How many knowledge-graph facts each other entity shares with ``eid`` (cached per entity)."""
        if eid not in self._related:
            shared: dict[str, int] = defaultdict(int)
            for fact in self.facts[eid]:
                for other in self.by_fact[fact]:
                    shared[other] += 1
            shared.pop(eid, None)
            self._related[eid] = dict(shared)
        return self._related[eid]


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
    related = index.related(gold)
    neighbours = sorted(related)
    rng.shuffle(neighbours)  # seeded order among entities sharing as many facts
    neighbours.sort(key=lambda eid: -related[eid])
    take(neighbours, max(len(chosen), (3 * size) // 4))
    rest = [eid for eid in index.ids if eid not in taken]
    rng.shuffle(rest)
    take(rest, size)
    rng.shuffle(chosen)
    return chosen
