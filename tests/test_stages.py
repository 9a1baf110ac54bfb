"""Unit tests of the pure stages of the build."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emmel.candidates import CandidateIndex, select_candidates
from emmel.config import SplitConfig, load_config
from emmel.dedup import near_duplicate_texts
from emmel.errors import EmmelError
from emmel.io import safe_join
from emmel.kb import EntityMention, build_kb, entity_id
from emmel.schema import Entity
from emmel.split import assign_splits


def test_alias_merge_only_when_unambiguous():
    mentions = [
        EntityMention("查干萨日", aliases=["白节"]),
        EntityMention("白节"),  # the unambiguous alias merges into 查干萨日
        EntityMention("剪纸(扬州剪纸)", aliases=["剪纸"]),
        EntityMention("剪纸(蔚县剪纸)", aliases=["剪纸"]),
        EntityMention("剪纸"),  # claimed by two entities: stays its own entity
    ]
    kb, ids = build_kb(mentions)
    labels = {e.label for e in kb}
    assert labels == {"查干萨日", "剪纸(扬州剪纸)", "剪纸(蔚县剪纸)", "剪纸"}
    assert ids[0] == ids[1] == entity_id("查干萨日")
    merged = next(e for e in kb if e.label == "查干萨日")
    assert merged.aliases == ["白节"]


def test_split_follows_ratios_and_keeps_entities_in_train():
    groups = {f"g{e}-{k}": (f"E{e}", 1) for e in range(50) for k in range(20)}
    out = assign_splits(groups, SplitConfig(), seed=3)
    counts = Counter(out.values())
    assert counts == {"train": 800, "dev": 100, "test": 100}
    for e in range(50):
        assert any(out[f"g{e}-{k}"] == "train" for k in range(20))
    assert assign_splits(groups, SplitConfig(), seed=3) == out
    assert assign_splits(groups, SplitConfig(), seed=4) != out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=60), st.integers(0, 10))
def test_split_assigns_every_group_once(sizes, seed):
    groups = {f"g{i}": (f"E{i % 7}", size) for i, size in enumerate(sizes)}
    out = assign_splits(groups, SplitConfig(), seed)
    assert set(out) == set(groups) and set(out.values()) <= {"train", "dev", "test"}


def test_candidates_deterministic_and_hard():
    kb = [Entity(entity_id(label), label, category=c) for label, c in
          [("春节", "民俗"), ("春节(查干萨日)", "民俗"), ("春节(黎族春节)", "民俗"), ("龙舞", "舞蹈")] +
          [(f"实体{i}", "其他") for i in range(30)]]
    index = CandidateIndex(kb)
    gold = entity_id("春节")
    first = select_candidates(index, gold, "春节贴春联", 6, 1, "S1")
    assert first == select_candidates(index, gold, "春节贴春联", 6, 1, "S1")
    assert gold in first and len(set(first)) == 6
    assert {entity_id("春节(查干萨日)"), entity_id("春节(黎族春节)")} <= set(first)
    positions = {select_candidates(index, gold, "x", 6, 1, f"S{i}").index(gold) for i in range(40)}
    assert len(positions) > 3  # the gold's position is shuffled


def test_near_duplicate_texts():
    texts = ["苗族银饰锻制技艺展示", "苗族银饰锻制技艺展示。", "侗族大歌演唱现场"]
    assert near_duplicate_texts(texts, threshold=0.8) == [(0, 1)]


@pytest.mark.parametrize("bad", ["../x.jpg", "/etc/passwd", "a/../../x", "C:\\x.jpg", "..\\..\\x", ""])
def test_safe_join_refuses_escapes(tmp_path, bad):
    with pytest.raises(ValueError):
        safe_join(tmp_path, bad)


def test_safe_join_accepts_inside(tmp_path):
    assert safe_join(tmp_path, "images/ab/x.jpg") == (tmp_path / "images/ab/x.jpg").resolve()


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[clean\nmin_side=3", encoding="utf-8")
    with pytest.raises(EmmelError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(EmmelError, match="sum to 1"):
        load_config(None, ["split.train=0.5"])
    with pytest.raises(EmmelError, match="unknown augmentation"):
        load_config(None, ["augment.ops=rotate,warp"])
    assert load_config(None, ["augment.ops=rotate,flip"]).augment.ops == ["rotate", "flip"]
