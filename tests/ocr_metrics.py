"""Character error rate, for tests and the benchmark.

Both texts are NFKC-folded and whitespace is dropped before comparing: a full-width ``（`` read
as ``(`` or a missing space is not a reading error of the content.
"""

from __future__ import annotations

import unicodedata


def _chars(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Edits turning the hypothesis into the reference, per reference character (NFKC, no spaces)."""
    ref, hyp = _chars(reference), _chars(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)
