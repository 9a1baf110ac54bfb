"""The λ candidate generator as it was before it had to scale (emmel 0.1.0), kept as a test oracle.

``emmel.candidates`` must give exactly these lists while the KB is small (builds stay byte-identical).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from emmel.labels import base_name
from emmel.text import char_ngrams


class ReferenceIndex:
    def __init__(self, kb):
        self.ids = [e.id for e in kb]
        self.entities = {e.id: e for e in kb}
        self.grams = {e.id: char_ngrams(e.label) for e in kb}
        self.by_base, self.by_category, self.by_gram = defaultdict(list), defaultdict(list), defaultdict(list)
        for e in kb:
            self.by_base[base_name(e.label)].append(e.id)
            if e.category:
                self.by_category[e.category].append(e.id)
            for gram in self.grams[e.id]:
                self.by_gram[gram].append(e.id)

    def similar(self, grams):
        overlap = defaultdict(int)
        for gram in grams:
            for eid in self.by_gram.get(gram, ()):
                overlap[eid] += 1
        return {eid: n / (len(grams) + len(self.grams[eid]) - n) for eid, n in overlap.items()}


def reference_candidates(index: ReferenceIndex, gold, text, size, seed, key):
    def rng_of():
        return random.Random(int(hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()[:16], 16))

    if size >= len(index.ids):
        chosen = list(index.ids)
        rng_of().shuffle(chosen)
        return chosen
    entity = index.entities[gold]
    chosen, taken = [gold], {gold}

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
    rng = rng_of()
    same_category = sorted(index.by_category.get(entity.category, ())) if entity.category else []
    rng.shuffle(same_category)
    take(same_category, max(len(chosen), (3 * size) // 4))
    rest = [eid for eid in index.ids if eid not in taken]
    rng.shuffle(rest)
    take(rest, size)
    rng.shuffle(chosen)
    return chosen
