"""λ candidate entities per evaluation sample: the gold plus hard negatives, fixed by the seed.

Negatives come hardest first: entities with the same base name (春节 vs 春节(查干萨日)), then the
most similar labels (character bigram overlap with the gold label and with the sample's text), then,
when the build gives the KB's knowledge graph, the entities sharing most graph facts with the gold
(ethnic group, place at each level, category: 苗族刺绣 of 雷山县 draws 苗族银饰锻制技艺 of 黔东南 before a
苗族 item of 湖南), then entities of the same category, then seeded random entities. The final list is
shuffled with the seed so the gold's position carries no signal.

Scale (a 160k-entity KB, tens of thousands of samples): label similarity is scored from an
inverted index of bigrams with numpy, and bigrams shared by more than ``POSTINGS_CAP`` labels are
skipped (they are too common to tell entities apart and would make every query touch the whole
KB); graph facts held by more than ``POSTINGS_CAP`` entities are skipped the same way (the category
tier still draws from them). The seeded random fills shuffle their whole pool while it holds at most
``EXACT_SHUFFLE_LIMIT`` entities, exactly as earlier versions did, so builds of ordinary size stay
byte-identical; larger pools draw a bounded ``random.sample`` instead (same distribution, O(λ)
per sample instead of O(KB)).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

import numpy as np

from emmel.kg import KnowledgeGraph
from emmel.labels import base_name
from emmel.schema import Entity
from emmel.text import char_ngrams

POSTINGS_CAP = 5000
EXACT_SHUFFLE_LIMIT = 5000


class CandidateIndex:
    """Precomputed views of the KB (and of its knowledge graph, when given) for fast hard-negative selection."""

    def __init__(self, kb: list[Entity], graph: KnowledgeGraph | None = None):
        self.ids = [e.id for e in kb]
        self.entities = {e.id: e for e in kb}
        self.position = {eid: k for k, eid in enumerate(self.ids)}
        self.grams = [char_ngrams(e.label) for e in kb]
        self.gram_count = np.array([len(g) for g in self.grams], dtype=np.int64)
        by_base: dict[str, list[str]] = defaultdict(list)
        by_category: dict[str, list[str]] = defaultdict(list)
        by_gram: dict[str, list[int]] = defaultdict(list)
        for k, e in enumerate(kb):
            by_base[base_name(e.label)].append(e.id)
            if e.category:
                by_category[e.category].append(e.id)
            for gram in self.grams[k]:
                by_gram[gram].append(k)
        self.by_base = {key: sorted(ids) for key, ids in by_base.items()}
        self.by_category = {key: sorted(ids) for key, ids in by_category.items()}
        self.postings = {g: np.array(ks, dtype=np.int64) for g, ks in by_gram.items() if len(ks) <= POSTINGS_CAP}
        self.capped = sorted(g for g, ks in by_gram.items() if len(ks) > POSTINGS_CAP)
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        self.id_rank = np.empty(len(self.ids), dtype=np.int64)  # position of each entity in id order (tie-break)
        self.id_rank[order] = np.arange(len(self.ids))
        self.facts: list[list[int]] = [[] for _ in kb]  # per KB position: the graph facts it holds, as fact numbers
        members: dict[str, list[int]] = defaultdict(list)
        for k, e in enumerate(kb):
            for fact in sorted(graph.facts(e.id)) if graph is not None else ():
                members[fact].append(k)
        numbered = sorted(f for f, ks in members.items() if len(ks) <= POSTINGS_CAP)
        self.fact_members = [np.array(members[f], dtype=np.int64) for f in numbered]
        for n, fact in enumerate(numbered):
            for k in members[fact]:
                self.facts[k].append(n)
        self._related: dict[int, list[list[str]]] = {}

    def overlap(self, grams: set[str]) -> np.ndarray:
        """How many indexed bigrams of ``grams`` each KB label shares, by KB position."""
        lists = [self.postings[g] for g in grams if g in self.postings]
        if not lists:
            return np.zeros(len(self.ids), dtype=np.int64)
        return np.bincount(np.concatenate(lists), minlength=len(self.ids))

    def related(self, gold: str) -> list[list[str]]:
        """Entities sharing knowledge-graph facts with ``gold``, grouped by how many they share, most first
        (each group in id order; cached per gold)."""
        k = self.position[gold]
        if k not in self._related:
            lists = [self.fact_members[n] for n in self.facts[k]]
            groups: list[list[str]] = []
            if lists:
                counts = np.bincount(np.concatenate(lists), minlength=len(self.ids))
                counts[k] = 0
                hit = np.flatnonzero(counts)
                hit = hit[np.lexsort((self.id_rank[hit], -counts[hit]))]
                for level in sorted(set(counts[hit].tolist()), reverse=True):
                    groups.append([self.ids[j] for j in hit[counts[hit] == level]])
            self._related[k] = groups
        return self._related[k]

    def most_similar(self, gold: str, text: str, count: int) -> list[str]:
        """The ``count`` best entities by label + ½ text Jaccard similarity of bigram sets, ties by id (gold included)."""
        label_grams, text_grams = self.grams[self.position[gold]], char_ngrams(text)
        label_overlap, text_overlap = self.overlap(label_grams), self.overlap(text_grams)
        hit = np.flatnonzero(label_overlap + text_overlap)
        sizes = self.gram_count[hit]
        scores = np.zeros(len(hit))
        for overlap, grams, weight in ((label_overlap[hit], label_grams, 1.0), (text_overlap[hit], text_grams, 0.5)):
            shared = overlap > 0
            jaccard = overlap[shared] / (len(grams) + sizes[shared] - overlap[shared])
            scores[shared] += weight * jaccard  # (×1.0 is exact: the same floats as label + 0.5·text)
        if len(hit) > count:
            threshold = np.partition(scores, len(scores) - count)[len(scores) - count]
            keep = scores >= threshold  # keeps every tie at the threshold
            hit, scores = hit[keep], scores[keep]
        order = np.lexsort((self.id_rank[hit], -scores))
        return [self.ids[k] for k in hit[order[:count]]]


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()[:16], 16))


def _draw(rng: random.Random, pool: list[str], count: int) -> list[str]:
    """A seeded random order of ``pool``: the whole pool shuffled while small, else ``count`` sampled."""
    if len(pool) <= EXACT_SHUFFLE_LIMIT:
        pool = list(pool)
        rng.shuffle(pool)
        return pool
    return rng.sample(pool, min(len(pool), count))


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

    take(index.by_base.get(base_name(entity.label), ()), size)
    limit = max(len(chosen), size // 2)
    take(index.most_similar(gold, text, limit - len(chosen) + len(taken)), limit)
    rng = _rng(seed, key)
    limit = max(len(chosen), (3 * size) // 4)
    for group in index.related(gold):  # most shared facts first; a seeded draw within the group that overflows
        if len(chosen) >= limit:
            break
        take(_draw(rng, [eid for eid in group if eid not in taken], limit - len(chosen)), limit)
    if entity.category:
        take(_draw(rng, index.by_category.get(entity.category, []), limit - len(chosen) + len(taken)), limit)
    small = len(index.ids) <= EXACT_SHUFFLE_LIMIT
    rest = [eid for eid in index.ids if eid not in taken] if small else index.ids
    take(_draw(rng, rest, size - len(chosen) + len(taken)), size)
    rng.shuffle(chosen)
    return chosen
