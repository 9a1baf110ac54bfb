"""The build's named stages, each run on its own, and both near-duplicate text branches of the build."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from emmel import build
from emmel.build import run_build
from emmel.config import load_config
from emmel.dataset import Dataset
from emmel.integrity import check
from emmel.io import read_jsonl
from emmel.kb import entity_id
from tests.messy import encode, pattern_image

SILVER, SONG, SPRING = "苗族银饰锻制技艺", "侗族大歌", "春节"
RECORDS = [  # record id, title, text, image seed
    ("a0", SILVER, "雷山苗族银饰锻制技艺展示现场", 1),
    ("a1", SILVER, "雷山苗族银饰锻制技艺展示现场。", 2),  # near-duplicate texts of a0 (bigram Jaccard 0.93, 0.87)
    ("a2", SILVER, "雷山苗族银饰锻制技艺展示现场照片", 3),
    ("a3", SILVER, "银匠在火塘边锻打银角", 4),
    ("a4", SILVER, "盛装少女佩戴银项圈", 5),
    ("a5", SILVER, "另一家银铺的银角", 4),  # the image bytes of a3
    ("b0", SONG, "侗族大歌多声部合唱", 6),
    ("b1", SONG, "鼓楼下的侗族歌队", 7),
    ("b2", SONG, "侗寨歌师教唱大歌", 8),
    ("c0", SPRING, "除夕守岁的人家", 9),
    ("c1", SPRING, "春节庙会人潮", 10),
    ("c2", SPRING, "贴春联挂灯笼", 11),
]
NEAR_TEXTS = ("a0", "a1", "a2")
CONFIG = ["candidates.size=3", "augment.enabled=false", "split.train=0.5", "split.dev=0.25", "split.test=0.25"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stages") / "web"
    (folder / "images").mkdir(parents=True)
    lines = []
    for record_id, title, text, seed in RECORDS:
        (folder / "images" / f"{seed}.jpg").write_bytes(encode(pattern_image(300 + seed, (320, 240)), quality=90))
        lines.append(json.dumps({"record_id": record_id, "title": title, "text": text, "image": f"images/{seed}.jpg",
                                 "source": {"kind": "web"}, "license": "CC BY 4.0"}, ensure_ascii=False))
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _by_record(dataset: Dataset) -> dict:
    return {s.source["record_id"]: s for s in dataset.all_samples() if s.augmented_from is None}


def test_stages_run_one_by_one(source):
    config = load_config(None, CONFIG)
    items, described = build.read_sources([source], {}, strict=False)
    assert len(items) == len(RECORDS) and described[0]["records"] == len(RECORDS)
    rejects = build.Rejects()
    checked = build.check_records(items, config, rejects)
    assert [c.item.record_id for c in checked] == [r[0] for r in RECORDS] and rejects.rows == []

    checked = build.drop_identical_images(checked, rejects)
    assert [(r.record_id, r.reason) for r in rejects.rows] == [("a5", "duplicate_image")]
    assert build.drop_near_duplicate_images(checked, config.dedup, rejects) == checked  # distinct pictures

    ids = [c.item.record_id for c in checked]
    kept, links = build.find_near_duplicate_texts(checked, config, rejects)
    assert kept == checked and sorted((ids[a], ids[b]) for a, b in links) == [("a0", "a1"), ("a0", "a2"), ("a1", "a2")]

    kb, entity_of = build.build_entities(checked, config)
    assert {e.label for e in kb} == {SILVER, SONG, SPRING} and entity_of[ids.index("b0")] == entity_id(SONG)

    groups = build.leakage_groups(checked, links, config.dedup)
    assert len({groups[ids.index(r)] for r in NEAR_TEXTS}) == 1
    assert len(set(groups)) == len(checked) - 2  # the three near-duplicate texts are one group; the rest alone
    assert len(set(build.leakage_groups(checked, [], config.dedup))) == len(checked)  # the group came from the texts

    split_of = build.assign_group_splits(groups, entity_of, config)
    assert len({split_of[ids.index(r)] for r in NEAR_TEXTS}) == 1
    assert set(split_of) <= {"train", "dev", "test"}


def test_near_duplicate_texts_stay_in_one_split_by_default(source, tmp_path):
    report = run_build([source], tmp_path / "grouped", load_config(None, CONFIG), plots=False)
    dataset = Dataset.load(report.out)
    samples = _by_record(dataset)
    assert {samples[r].group for r in NEAR_TEXTS} == {samples["a0"].group}
    assert len({samples[r].split for r in NEAR_TEXTS}) == 1
    assert samples["a3"].group != samples["a0"].group and samples["a4"].group != samples["a0"].group
    assert "near_duplicate_text" not in Counter(r.reason for r in dataset.rejects)
    assert check(report.out) == []


def test_text_mode_reject_keeps_the_earliest(source, tmp_path):
    config = load_config(None, [*CONFIG, "dedup.text_mode=reject"])
    report = run_build([source], tmp_path / "rejected", config, plots=False)
    dataset = Dataset.load(report.out)
    samples = _by_record(dataset)
    assert "a0" in samples and "a1" not in samples and "a2" not in samples
    rejects = {r["record_id"]: r for r in read_jsonl(report.out / "rejects.jsonl")}
    for record_id in ("a1", "a2"):
        assert rejects[record_id]["reason"] == "near_duplicate_text"
        assert rejects[record_id]["duplicate_of"] == samples["a0"].id
    assert report.counts["input_records"] == report.counts["kept"] + report.counts["rejected"] == len(RECORDS)
    assert check(report.out) == []


def test_integrity_checks_run_alone(source, tmp_path):
    """Each named check of `emmel stats --check` finds its own kind of problem in a loaded dataset."""
    from dataclasses import replace

    from emmel import integrity

    out = run_build([source], tmp_path / "ds", load_config(None, CONFIG), plots=False).out
    dataset = Dataset.load(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    listed = manifest["files"]
    assert integrity.check_samples(dataset, listed) == integrity.check_leakage(dataset) == []
    assert integrity.check_candidates(dataset, 3) == integrity.check_counts(dataset, manifest["counts"]) == []

    dev, test = dataset.samples["dev"][0], dataset.samples["test"][0]
    dataset.samples["test"][0] = replace(test, group=dev.group)
    assert integrity.check_leakage(dataset) == [f"group shared across splits (1), e.g. {dev.group}"]
    dataset.candidates["dev"][dev.id] = [c for c in dataset.candidates["dev"][dev.id] if c != dev.entity_id]
    assert integrity.check_candidates(dataset, 3) == [
        f"candidates/dev.jsonl: sample {dev.id}: gold {dev.entity_id} not among the candidates",
        f"candidates/dev.jsonl: sample {dev.id}: 2 candidates, expected 3",
    ]
    assert integrity.check_samples(dataset, {}) == [f"{s.split}.jsonl: sample {s.id}: image {s.image} not in the manifest"
                                                    for split in ("train", "dev", "test") for s in dataset.samples[split]]
    assert integrity.check_counts(dataset, {**manifest["counts"], "kept": 1}) == [
        f"accounting: input_records {len(RECORDS)} != kept 1 + rejected 1",
        f"manifest counts.kept = 1 but the files hold {len(RECORDS) - 1}",
    ]
    (out / "stray.txt").write_text("not ours")
    assert integrity.check_files(out, listed) == ["stray.txt: file not listed in the manifest"]
