"""Label rules: the one place that says how texts are normalised and what a label's base name is.

Every part of emmel that compares labels calls these functions: the build (KB labels, candidate
sets), annotation (train-sample choices), the baseline (hard negatives) and the test-data
generators. Changing a rule here changes every dataset built afterwards, so the rules are pinned by
``tests/test_labels.py``.

Normalisation (:func:`normalize_text`) is applied by the build to every text field of a record
(title, aliases, description, category, region) before anything is compared, so in a dataset the
brackets of ``春節（查干薩日）`` are already the half-width ``春节(查干萨日)``.

A label is a *base name* plus *qualifiers* in brackets: ``春节(查干萨日)`` is the 春节 of the
Mongolian 查干萨日; ``剪纸(蔚县剪纸)`` and ``剪纸(扬州剪纸)`` are two entities of the family 剪纸. Entities
that share a base name are each other's hardest negatives.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

OPENING = "(（[【"
CLOSING = ")）]】"
_SPACE = re.compile(r"\s+")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented

    return OpenCC("t2s")


@lru_cache(maxsize=65536)
def normalize_text(text: str, *, nfkc: bool = True, collapse_whitespace: bool = True, t2s: bool = True) -> str:
    """The normalised form of a text field, in this order:

    1. ``nfkc``: Unicode NFKC, so full-width letters, digits, spaces and brackets become half-width
       (``（`` → ``(``; ``【】`` have no half-width form and stay);
    2. ``collapse_whitespace``: runs of whitespace become one space, the ends are stripped, and a
       space between two CJK characters is dropped (an artefact of HTML and OCR line breaks);
    3. ``t2s``: traditional characters become simplified (OpenCC ``t2s``).

    >>> normalize_text("　春節（查干薩日）  ")
    '春节(查干萨日)'
    """
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if collapse_whitespace:
        text = _SPACE.sub(" ", text).strip()
        text = _CJK_GAP.sub("", text)
    if t2s and text:
        text = _t2s().convert(text)
    return text


def normalizer(config):
    """``normalize_text`` with the switches of a ``NormalizeConfig`` (``nfkc``, ``collapse_whitespace``, ``t2s``)."""
    nfkc, collapse, t2s = config.nfkc, config.collapse_whitespace, config.t2s
    return lambda text: normalize_text(text, nfkc=nfkc, collapse_whitespace=collapse, t2s=t2s)


def _groups(label: str) -> list[tuple[int, int]]:
    """The (start, end) character spans of the label's outermost qualifier groups, brackets included.

    Brackets pair like parentheses (any opening kind with any closing kind, innermost first); an
    opening bracket that is never closed, or a closing bracket with nothing open, is plain text.
    """
    pairs, open_at = [], []
    for k, char in enumerate(label):
        if char in OPENING:
            open_at.append(k)
        elif char in CLOSING and open_at:
            pairs.append((open_at.pop(), k + 1))
    groups, end = [], -1
    for start, stop in sorted(pairs):
        if start >= end:  # not inside the previous outermost group
            groups.append((start, stop))
            end = stop
    return groups


def base_name(label: str) -> str:
    """The label without its bracketed qualifiers: the name an entity shares with its family.

    Every qualifier group is removed wherever it stands (``苗族(雷山)银饰锻制技艺`` → ``苗族银饰锻制技艺``,
    ``抬阁(芯子、铁枝、飘色)(宽城背杆)`` → ``抬阁``). A group opens with any of ``( （ [ 【`` and closes
    with any of ``) ） ] 】``; groups nest, and an outer group goes with everything in it
    (``剪纸（泉州（李尧宝）刻纸）`` → ``剪纸``, a real entry of the national list). An opening bracket
    that is never closed, and a closing bracket with nothing open, are kept as they are. The result is
    stripped of surrounding whitespace; a label that is nothing but qualifiers (``(查干萨日)``) is its own
    base name. The function does not normalise: apply :func:`normalize_text` first (the build does).

    >>> base_name("春节(查干萨日)"), base_name("剪纸（蔚县剪纸）"), base_name("春节")
    ('春节', '剪纸', '春节')
    """
    kept, at = [], 0
    for start, stop in _groups(label):
        kept.append(label[at:start])
        at = stop
    kept.append(label[at:])
    return "".join(kept).strip() or label


def qualifiers(label: str) -> list[str]:
    """The contents of the label's outermost qualifier groups, in order (the groups :func:`base_name` removes).

    >>> qualifiers("抬阁(芯子、铁枝、飘色)(宽城背杆)")
    ['芯子、铁枝、飘色', '宽城背杆']
    """
    return [label[start + 1 : stop - 1] for start, stop in _groups(label)]
