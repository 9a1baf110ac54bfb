"""Leakage-safe, entity-stratified split.

The unit is a *group* (near-duplicate images, near-duplicate texts of one entity, and later all
augmentations of an image): a group never straddles two splits. Groups of each entity are taken in
a seeded order; the first ``min_train_per_entity`` go to train (so evaluation entities were seen
in training), the rest to whichever split is furthest below its target share.
"""

from __future__ import annotations

import hashlib

from emmel.config import SplitConfig
from emmel.schema import SPLITS


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{key}".encode()).hexdigest()


def assign_splits(groups: dict[str, tuple[str, int]], config: SplitConfig, seed: int) -> dict[str, str]:
    """``groups``: group id -> (entity id, number of samples). Returns group id -> split."""
    ratios = {"train": config.train, "dev": config.dev, "test": config.test}
    by_entity: dict[str, list[str]] = {}
    for group, (entity, _) in groups.items():
        by_entity.setdefault(entity, []).append(group)
    counts = dict.fromkeys(SPLITS, 0)
    total = 0
    out: dict[str, str] = {}
    for entity in sorted(by_entity, key=lambda e: _rank(seed, e)):
        ordered = sorted(by_entity[entity], key=lambda g: _rank(seed, g))
        for position, group in enumerate(ordered):
            size = groups[group][1]
            if position < config.min_train_per_entity or ratios["train"] >= 1.0:
                split = "train"
            else:
                split = max(SPLITS, key=lambda s: (ratios[s] * (total + size) - counts[s], -SPLITS.index(s)))
            out[group] = split
            counts[split] += size
            total += size
    return out
