"""Near-duplicate search without an n x n matrix.

Images: multi-index hashing over 64-bit pHashes. Split the hash into m chunks; two hashes within
Hamming radius r differ in at most floor(r/m) <= 2 bits of some chunk (pigeonhole). Every hash
emits, per chunk, its chunk value and the values with one bit flipped; two chunks within distance
2 share one of those keys. Sorting the keys groups the candidates; only candidates are compared.
Cost grows like n·m·(chunk bits) log n, not n².

Texts: MinHash over character n-grams with LSH banding, verified by exact Jaccard.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from emmel.text import char_ngrams, jaccard


class UnionFind:
    """Clusters whose representative is always the smallest index (the earliest record)."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo

    def labels(self) -> list[int]:
        return [self.find(i) for i in range(len(self.parent))]


def _chunks(radius: int) -> list[tuple[int, int]]:
    m = max(1, math.ceil((radius + 1) / 3))
    sizes = [64 // m + (1 if k < 64 % m else 0) for k in range(m)]
    out, shift = [], 0
    for size in sizes:
        out.append((shift, size))
        shift += size
    return out


def _popcount(values: np.ndarray) -> np.ndarray:
    return np.bitwise_count(values)


def near_duplicate_pairs(hashes, radius: int) -> np.ndarray:
    """All index pairs (i < j) whose 64-bit hashes differ in at most ``radius`` bits, sorted.

    Identical hashes are collapsed first, so heavy exact duplication stays cheap.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    uniq, inverse = np.unique(hashes, return_inverse=True)
    found = [_unique_pairs(uniq, radius)]
    # expand pairs of distinct hashes to their members, and add pairs of identical hashes
    members = _members(inverse, len(uniq))
    out = []
    for a, b in found[0]:
        for i in members[a]:
            for j in members[b]:
                out.append((min(i, j), max(i, j)))
    for group in members:
        if len(group) > 1:
            out.extend((group[x], group[y]) for x in range(len(group)) for y in range(x + 1, len(group)))
    if not out:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.asarray(out, dtype=np.int64), axis=0)


def near_duplicate_clusters(hashes, radius: int) -> list[int]:
    """Cluster label of every hash: the smallest index reachable through near-duplicate links."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    uf = UnionFind(len(hashes))
    if len(hashes) < 2:
        return uf.labels()
    uniq, inverse = np.unique(hashes, return_inverse=True)
    members = _members(inverse, len(uniq))
    for group in members:  # identical hashes
        for i in group[1:]:
            uf.union(group[0], i)
    for a, b in _unique_pairs(uniq, radius):
        uf.union(members[a][0], members[b][0])
    return uf.labels()


def _members(inverse: np.ndarray, size: int) -> list[list[int]]:
    members: list[list[int]] = [[] for _ in range(size)]
    for index, u in enumerate(inverse.tolist()):
        members[u].append(index)
    return members


def _unique_pairs(uniq: np.ndarray, radius: int) -> np.ndarray:
    """Pairs among distinct hashes within ``radius`` (multi-index hashing, see module doc)."""
    n = len(uniq)
    if n < 2 or radius <= 0:
        return np.empty((0, 2), dtype=np.int64)
    flips = 1 if radius // len(_chunks(radius)) >= 1 else 0
    collected = []
    for shift, width in _chunks(radius):
        mask = np.uint64((1 << width) - 1)
        values = (uniq >> np.uint64(shift)) & mask
        if flips:
            bits = np.uint64(1) << np.arange(width, dtype=np.uint64)
            keys = np.concatenate([values[:, None], values[:, None] ^ bits[None, :]], axis=1).ravel()
            owner = np.repeat(np.arange(n, dtype=np.int64), width + 1)
        else:
            keys, owner = values, np.arange(n, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys, owner = keys[order], owner[order]
        del order
        offset = 1
        while True:
            same = keys[:-offset] == keys[offset:]
            if not same.any():
                break
            left = owner[:-offset][same]
            right = owner[offset:][same]
            close = _popcount(uniq[left] ^ uniq[right]) <= radius
            if close.any():
                a, b = left[close], right[close]
                collected.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
            offset += 1
    if not collected:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(collected), axis=0)


# ---------------------------------------------------------------- texts
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def minhash_signatures(texts: list[str], *, ngram: int = 2, permutations: int = 64, seed: int = 1) -> np.ndarray:
    """MinHash signature (``permutations`` uint64 values) of every text's character n-gram set."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=permutations, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=permutations, dtype=np.uint64)
    out = np.full((len(texts), permutations), _MASK64, dtype=np.uint64)
    for row, text in enumerate(texts):
        grams = char_ngrams(text, ngram)
        if not grams:
            continue
        x = np.fromiter((zlib.crc32(g.encode("utf-8")) for g in sorted(grams)), dtype=np.uint64)
        with np.errstate(over="ignore"):
            hashed = x[:, None] * a[None, :] + b[None, :]
        out[row] = hashed.min(axis=0)
    return out


def near_duplicate_texts(texts: list[str], *, threshold: float = 0.8, ngram: int = 2, bands: int = 16, rows: int = 4, seed: int = 1) -> list[tuple[int, int]]:
    """Pairs (i < j) of texts whose character n-gram Jaccard is >= ``threshold``."""
    if len(texts) < 2:
        return []
    signatures = minhash_signatures(texts, ngram=ngram, permutations=bands * rows, seed=seed)
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        block = signatures[:, band * rows : (band + 1) * rows]
        for index in range(len(texts)):
            buckets.setdefault(block[index].tobytes(), []).append(index)
        for members in buckets.values():
            if len(members) > 1:
                candidates.update((members[x], members[y]) for x in range(len(members)) for y in range(x + 1, len(members)))
    grams = {}
    pairs = []
    for i, j in sorted(candidates):
        gi = grams.setdefault(i, char_ngrams(texts[i], ngram))
        gj = grams.setdefault(j, char_ngrams(texts[j], ngram))
        if jaccard(gi, gj) >= threshold:
            pairs.append((i, j))
    return pairs
