"""Character n-gram similarity of short texts (pure functions); normalisation is in ``emmel.labels``."""

from __future__ import annotations


def char_ngrams(text: str, n: int = 2) -> set[str]:
    text = text.replace(" ", "")
    if len(text) < n:
        return {text} if text else set()
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
