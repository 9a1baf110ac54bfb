"""Hard negatives for training: each entity's hardest KB look-alikes, then seeded draws per batch.

Train samples have no stored candidate sets, so every entity gets a pool of its hardest
look-alikes, ranked by the same rules and in the same order of precedence as `emmel build`'s
candidate sets (:mod:`emmel.candidates`):

1. same base name, by the one label rule both call (:func:`emmel.labels.base_name`:
   ``剪纸`` vs ``剪纸(蔚县剪纸)``, ``苗族银饰锻制技艺`` vs ``苗族(雷山)银饰锻制技艺``);
2. then label similarity, Jaccard of the labels' character sets;
3. then same category; a seeded tie-break orders the rest.

What differs, and why: a pool belongs to an entity, not to a sample, so the build's second
similarity term (overlap with the sample's own text) has no counterpart; similarity is over
characters rather than the build's character bigrams and the category is a bonus added to it
rather than a tier of its own (a pool is 16 wide, too short for the build's quarter-by-quarter
tiers); and there is no random tier, since the cross-encoder adds uniform negatives itself
(:meth:`NegativeSampler.mixed`). Negatives of a batch are drawn from the pools (and uniformly from
the KB) with tensor ops, one call per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from emmel.labels import base_name

EXACT_LIMIT = 10_000  # KBs up to this size get exact pools (time grows with E²); larger ones indexed_pools


def hard_pools(labels: list[str], categories: list[str], size: int, seed: int = 0, chunk: int = 1024) -> torch.Tensor:
    """``E×size`` KB positions of each entity's hardest look-alikes (never itself).

    Memory and time grow with E × chunk, not E²: the labels' character sets are a sparse E×V
    matrix, and each chunk of rows is scored against the whole KB by one sparse product
    (chunks shrink for large KBs so a chunk's E-wide score rows stay near 2^26 entries). Time
    still grows with E² (about 15 minutes at 110,000 entities), so a KB of more than
    :data:`EXACT_LIMIT` entities gets :func:`indexed_pools` instead.
    """
    n = len(labels)
    if n > EXACT_LIMIT:
        return indexed_pools(labels, categories, size, seed)
    size = max(1, min(size, n - 1)) if n > 1 else 0
    if size == 0:
        return torch.zeros((n, 0), dtype=torch.long)
    chars = sorted({c for label in labels for c in label})
    where = {c: i for i, c in enumerate(chars)}
    members = [(row, where[c]) for row, label in enumerate(labels) for c in sorted(set(label))]
    index = torch.tensor(members, dtype=torch.long).T
    bags = torch.sparse_coo_tensor(index, torch.ones(index.shape[1]), (n, len(chars)), check_invariants=True).coalesce()
    sizes = torch.zeros(n).index_add_(0, index[0], torch.ones(index.shape[1]))
    bases = [base_name(label) for label in labels]
    base_id = torch.tensor([{b: i for i, b in enumerate(sorted(set(bases)))}[b] for b in bases])
    cat_id = torch.tensor([{c: i for i, c in enumerate(sorted(set(categories)))}[c] for c in categories])
    has_cat = torch.tensor([bool(c) for c in categories])
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, min(chunk, (1 << 26) // n))
    out = []
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        part = bags.index_select(0, torch.arange(rows.start, rows.stop)).to_dense()  # chunk × V
        inter = torch.sparse.mm(bags, part.T).T  # chunk × E shared characters (exact small integers)
        jaccard = inter / (sizes[rows, None] + sizes[None, :] - inter).clamp(min=1)
        score = 2.0 * (base_id[rows, None] == base_id[None, :]).float() + jaccard
        score += 0.5 * ((cat_id[rows, None] == cat_id[None, :]) & has_cat[rows, None]).float()
        score += torch.rand(score.shape, generator=generator) * 1e-3
        score[torch.arange(rows.stop - rows.start), torch.arange(rows.start, rows.stop)] = float("-inf")
        out.append(score.topk(size, dim=1).indices)
    return torch.cat(out)


def indexed_pools(labels: list[str], categories: list[str], size: int, seed: int = 0) -> torch.Tensor:
    """Pools of a large KB from the build's own candidate index (:class:`emmel.candidates.CandidateIndex`),
    in the same order of precedence: same base name, then label similarity (Jaccard of character
    bigram sets, found through the index's inverted postings, bigrams shared by more than
    ``POSTINGS_CAP`` labels skipped), then same category, then seeded random entities for rows
    still short. Time grows with E × postings touched, not E² (about a minute at 110,000 entities).
    """
    import random

    from emmel.candidates import CandidateIndex
    from emmel.schema import Entity

    n = len(labels)
    size = max(1, min(size, n - 1)) if n > 1 else 0
    if size == 0:
        return torch.zeros((n, 0), dtype=torch.long)
    width = len(str(n))
    index = CandidateIndex([Entity(id=f"{i:0{width}d}", label=label, category=category)
                            for i, (label, category) in enumerate(zip(labels, categories))])  # ids sort as positions
    bases = [base_name(label) for label in labels]
    by_category: dict[str, list[int]] = {}
    for i, category in enumerate(categories):
        if category:
            by_category.setdefault(category, []).append(i)
    rng = random.Random(seed)
    out = torch.empty((n, size), dtype=torch.long)
    for i in range(n):
        similar = [int(e) for e in index.most_similar(index.ids[i], "", size + 1) if int(e) != i]
        siblings = [int(e) for e in index.by_base.get(bases[i], ()) if int(e) != i]
        chosen = list(dict.fromkeys([*siblings, *similar]))[:size]
        if len(chosen) < size:
            taken = {i, *chosen}
            group = by_category.get(categories[i], [])
            fill = [e for e in rng.sample(group, min(len(group), 4 * size)) if e not in taken] if len(group) > 1 else []
            fill += [e for e in rng.sample(range(n), min(n, 4 * size)) if e not in taken and e not in fill]
            chosen += fill[: size - len(chosen)]
        out[i, : len(chosen)] = torch.tensor(chosen[:size], dtype=torch.long)
        if len(chosen) < size:  # a tiny KB with few distinct entities: repeat what there is
            out[i, len(chosen):] = out[i, 0] if chosen else (i + 1) % n
    return out


def draw(gold: torch.Tensor, pools: torch.Tensor, n_hard: int, n_random: int, kb_size: int, generator: torch.Generator) -> torch.Tensor:
    """``B×(n_hard+n_random)`` negatives for golds ``gold``: distinct pool members, then random non-gold entities."""
    parts = []
    if n_hard and pools.shape[1]:
        n_hard = min(n_hard, pools.shape[1])
        order = torch.rand((len(gold), pools.shape[1]), generator=generator).argsort(1)[:, :n_hard]
        parts.append(pools[gold].gather(1, order))
    if n_random and kb_size > 1:
        pick = torch.randint(0, kb_size - 1, (len(gold), n_random), generator=generator)
        parts.append(pick + (pick >= gold.view(-1, 1)).long())  # skip the gold itself
    return torch.cat(parts, 1) if parts else torch.zeros((len(gold), 0), dtype=torch.long)


@dataclass
class NegativeSampler:
    """A loss's negatives per batch: ``n_hard`` distinct members of each gold's pool, then ``n_random`` uniform ones."""

    pools: torch.Tensor  # E×P, from hard_pools
    kb_size: int
    n_hard: int
    n_random: int = 0

    @classmethod
    def mixed(cls, pools: torch.Tensor, kb_size: int, n: int) -> NegativeSampler:
        """``n`` negatives: ¾ (rounded up) from the pools, ¼ uniformly from the KB (the cross-encoder's mix)."""
        return cls(pools, kb_size, n - n // 4, n // 4)

    def __call__(self, gold: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``B×k`` negatives of golds ``gold`` (k = 0 when none are asked for: nothing is drawn)."""
        return draw(gold, self.pools, self.n_hard, self.n_random, self.kb_size, generator)
