"""Text normalisation and label helpers (pure functions)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACE = re.compile(r"\s+")
_BRACKETS = re.compile(r"[（(\[【].*?[)）\]】]")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented

    return OpenCC("t2s")


@lru_cache(maxsize=65536)
def normalize_text(text: str, *, nfkc: bool = True, collapse_whitespace: bool = True, t2s: bool = True) -> str:
    """NFKC (full-width -> half-width), whitespace collapsed, traditional -> simplified.

    >>> normalize_text("　春節（查干薩日）  ")
    '春节(查干萨日)'
    """
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if collapse_whitespace:
        text = _SPACE.sub(" ", text).strip()
        # no spaces between two CJK characters (a common artefact of HTML and OCR)
        text = re.sub(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])", "", text)
    if t2s and text:
        text = _t2s().convert(text)
    return text


def base_name(label: str) -> str:
    """The label without bracketed qualifiers: ``春节(查干萨日)`` -> ``春节``."""
    stripped = _BRACKETS.sub("", label).strip()
    return stripped or label


def char_ngrams(text: str, n: int = 2) -> set[str]:
    text = text.replace(" ", "")
    if len(text) < n:
        return {text} if text else set()
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
