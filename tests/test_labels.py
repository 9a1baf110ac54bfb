"""The label rules of ``emmel.labels``, pinned on tricky labels, and every consumer using them.

A change to one of these expectations changes the candidate sets of every dataset built afterwards;
make it deliberately, with a note in docs/FORMAT.md.
"""

from __future__ import annotations

import random

import pytest

from annotation.candidates import NeighbourIndex
from emmel.candidates import CandidateIndex, select_candidates
from emmel.kb import entity_id
from emmel.labels import base_name, normalize_text, qualifiers
from emmel.schema import Entity
from tests.synth.mirror import _make_entity, short_name


@pytest.mark.parametrize(("label", "base", "quals"), [
    ("春节", "春节", []),
    ("春节(查干萨日)", "春节", ["查干萨日"]),
    ("剪纸（蔚县剪纸）", "剪纸", ["蔚县剪纸"]),  # full-width brackets (un-normalised input)
    ("苗族(雷山)银饰锻制技艺", "苗族银饰锻制技艺", ["雷山"]),  # a qualifier in the middle
    ("抬阁(芯子、铁枝、飘色)(宽城背杆)", "抬阁", ["芯子、铁枝、飘色", "宽城背杆"]),  # two groups
    ("格萨(斯)尔", "格萨尔", ["斯"]),
    ("【苗族】古歌", "古歌", ["苗族"]),  # 【】 (NFKC keeps them)
    ("[苗族]古歌", "古歌", ["苗族"]),
    ("剪纸(泉州)】", "剪纸】", ["泉州"]),  # a stray closing bracket is kept
    ("剪纸(泉州】", "剪纸", ["泉州"]),  # mixed kinds pair up
    ("剪纸（泉州（李尧宝）刻纸）", "剪纸", ["泉州（李尧宝）刻纸"]),  # nested groups: the outer one goes whole (a real list entry)
    ("剪纸(泉州(李)", "剪纸(泉州", ["李"]),  # an unclosed outer bracket is text; the inner group is a group
    ("A(B[C)D]", "A", ["B[C)D"]),  # any opening kind pairs with any closing kind, innermost first
    ("剪纸(泉州", "剪纸(泉州", []),  # unbalanced: an opening bracket alone is kept
    ("剪纸)泉州(", "剪纸)泉州(", []),
    ("(查干萨日)", "(查干萨日)", ["查干萨日"]),  # only a qualifier: its own base name
    ("()", "()", [""]),
    ("春节(查干萨日)  ", "春节", ["查干萨日"]),  # surrounding spaces are stripped
    ("  春节 (查干萨日) 习俗 ", "春节  习俗", ["查干萨日"]),  # inner spaces are not collapsed (normalise first)
    ("春節（查干薩日）", "春節", ["查干薩日"]),  # no t2s here: base_name does not normalise
    ("", "", []),
])
def test_base_name_and_qualifiers(label, base, quals):
    assert base_name(label) == base
    assert qualifiers(label) == quals


@pytest.mark.parametrize(("raw", "normal"), [
    ("　春節（查干薩日）  ", "春节(查干萨日)"),  # ideographic space, full-width brackets, traditional
    ("ＡＢＣ１２３　苗族　銀飾", "ABC123 苗族银饰"),
    ("苗族 银饰\n锻制 技艺", "苗族银饰锻制技艺"),  # spaces between CJK characters dropped
    ("Miao 银饰 craft", "Miao 银饰 craft"),  # kept next to Latin letters
    ("【苗族】古歌", "【苗族】古歌"),
    ("剪纸［蔚县］", "剪纸[蔚县]"),  # full-width square brackets become half-width
    ("\t\n ", ""),
])
def test_normalize_text(raw, normal):
    assert normalize_text(raw) == normal


def test_normalisation_switches():
    assert normalize_text("春節（一）", nfkc=False, t2s=False) == "春節（一）"
    assert normalize_text("春節  (一)", collapse_whitespace=False, t2s=False) == "春節  (一)"
    assert normalize_text("春節", t2s=False) == "春節"


def test_normalised_label_has_the_base_name_of_its_raw_form():
    for raw in ("春節（查干薩日）", "剪紙（蔚縣剪紙）", "苗族（雷山）銀飾鍛製技藝"):
        assert base_name(normalize_text(raw)) == normalize_text(base_name(raw))


def _kb(*labels: str) -> list[Entity]:
    return [Entity(id=entity_id(label), label=label, category="传统技艺") for label in labels]


def test_build_candidates_and_annotation_choices_use_the_same_base_name():
    """A qualifier in the middle of a label: both consumers must treat the two items as one family."""
    # the distractors look more alike by characters than the sibling does, but have other base names
    kb = _kb("苗族银饰锻制技艺", "苗族(雷山)银饰锻制技艺", "苗族银饰锻制技艺传承", "苗族(雷山)银饰锻制", "苗族", "侗族大歌", "蜡染技艺")
    gold, sibling = entity_id("苗族银饰锻制技艺"), entity_id("苗族(雷山)银饰锻制技艺")
    index = CandidateIndex(kb)
    assert sorted(index.by_base["苗族银饰锻制技艺"]) == sorted([gold, sibling])
    # the same-base sibling is taken before any look-alike in every seeded candidate set
    for seed in range(5):
        chosen = select_candidates(index, gold, "x", 2, seed, "S1")
        assert set(chosen) == {gold, sibling}
    assert NeighbourIndex(kb).neighbours(gold, 2) == [gold, sibling]
    assert NeighbourIndex(kb).neighbours(sibling, 2) == [sibling, gold]


def test_mirror_generator_families_follow_the_label_rules():
    row = {"name": "苗族（雷山）银饰锻制技艺", "category": "传统技艺", "region": "贵州省雷山县"}
    assert _make_entity("guizhou", row, "1", random.Random(0)).family == "苗族银饰锻制技艺"
    assert short_name("剪纸（蔚县剪纸）") == "蔚县剪纸"
    assert short_name("抬阁（芯子、铁枝、飘色）（宽城背杆）") == "宽城背杆"
    assert short_name("苗族（雷山）银饰锻制技艺") == "苗族（雷山）银饰锻制技艺"  # no trailing variant
    assert short_name("春节") == "春节"
