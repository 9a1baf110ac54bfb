"""`emmel import`: each format's miniature imported, checked, accounted for; the candidate generator at scale.

Hostile inputs live in tests/hostile/test_import.py.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest

from emmel.candidates import CandidateIndex, select_candidates
from emmel.dataset import Dataset
from emmel.integrity import check
from emmel.io import read_jsonl, stable_id
from emmel.schema import Entity, Sample
from importers import IMPORTERS, ImportConfig, importer_class, run_import
from importers.coco_cn import choose_tag
from importers.wikidiverse import image_file_name, page_title
from tests.benchmark_layouts import (
    entity_name,
    write_candidates_tsv,
    write_coco_cn,
    write_ghmfc,
    write_mimic,
    write_wikidiverse,
)
from tests.candidates_reference import ReferenceIndex, reference_candidates
from tests.helpers import run_emmel

WRITERS = {"mimic": write_mimic, "ghmfc": write_ghmfc, "wikidiverse": write_wikidiverse, "coco-cn": write_coco_cn}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Every format's miniature, imported once: {format: (layout, report, dataset folder)}."""
    out = {}
    for name, write in WRITERS.items():
        root = tmp_path_factory.mktemp(name.replace("-", ""))
        layout = write(root / "source")
        report = run_import(name, layout.root, root / "dataset", ImportConfig(plots=False, lam=6))
        out[name] = (layout, report, root / "dataset")
    return out


@pytest.mark.parametrize("name", list(WRITERS))
def test_every_mention_accounted_for(imported, name):
    layout, report, folder = imported[name]
    counts = report.counts
    assert counts["input_records"] == layout.records == counts["kept"] + counts["rejected"]
    for reason, n in layout.rejects.items():
        assert counts["rejected_by_reason"].get(reason) == n, (reason, counts["rejected_by_reason"])
    assert sum(counts["rejected_by_reason"].values()) == counts["rejected"]
    if layout.samples:
        assert {k: v for k, v in counts["samples"].items() if v} == layout.samples
    assert check(folder) == []
    dataset = Dataset.load(folder)
    assert all(s.mention and s.image_sha256 and s.width > 0 for s in dataset.all_samples())
    assert len(read_jsonl(folder / "rejects.jsonl")) == counts["rejected"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["import"]["format"] == name and manifest["import"]["official_splits"] is True


def test_mimic_quirks(imported):
    layout, report, folder = imported["mimic"]
    dataset = Dataset.load(folder)
    labels = {e.label for e in dataset.kb}
    assert "Café Tacvba" in labels and "Ludwig van Beethoven" in labels  # URL-unquoted entity_name
    assert {e.wikidata for e in dataset.kb} == {f"Q{1000 + k}" for k in range(layout.entities)}  # "nil" is no entity
    assert any(s.mention == "Café Tacvba" for s in dataset.all_samples())  # URL-unquoted mentions
    assert all(s.source["imgPath"].endswith(".png") and s.image.endswith(".jpg") for s in dataset.all_samples())  # stem looked up as .jpg
    with_images = [e for e in dataset.kb if e.images]
    assert len(with_images) == layout.entities - 1 and report.kb["images"] == {"imported": layout.entities - 1, "missing_image": 1}
    for entity in with_images:
        assert all((folder / image).is_file() and image.startswith("images/") for image in entity.images)
    # the card says where the data came from and what became of it
    card = (folder / "README.md").read_text()
    assert "WikiMEL in MIMIC's cleaned release" in card and "Input records: 20 = kept 17 + rejected 3" in card


def test_mimic_prefix_and_folder_variants(tmp_path):
    layout = write_mimic(tmp_path / "RichpediaMEL", prefix="RichpediaMEL", mention_dir="mention_images", quirks=False, entities=6,
                         mentions=(4, 2, 2))
    report = run_import("mimic", layout.root, tmp_path / "out", ImportConfig(plots=False))
    assert report.counts["kept"] == 8 and Dataset.load(tmp_path / "out").meta["name"] == "RichpediaMEL"
    write_mimic(tmp_path / "RichpediaMEL", prefix="wiki_diverse", quirks=False, entities=6, mentions=(2, 1, 1))
    with pytest.raises(Exception, match="several split-file prefixes"):
        run_import("mimic", layout.root, tmp_path / "out2")
    report = run_import("mimic", layout.root, tmp_path / "out2", ImportConfig(prefix="wiki_diverse", plots=False, images=str(layout.root / "mention_image")))
    assert report.counts["kept"] == 4


def test_ghmfc_dev_carved_with_the_seed_and_said_so(imported, tmp_path):
    layout, _report, folder = imported["ghmfc"]
    dataset = Dataset.load(folder)
    assert len(dataset.samples["dev"]) == round(0.1 * 12) and len(dataset.samples["test"]) == 6
    assert "dev carved from train: 1 of 12" in dataset.meta["import"]["dev"]
    assert "dev carved from train" in (folder / "README.md").read_text()
    other = run_import("ghmfc", layout.root, tmp_path / "seed7", ImportConfig(plots=False, seed=7, dev_fraction=0.25))
    dev7 = {s.source["record_id"] for s in Dataset.load(tmp_path / "seed7").samples["dev"]}
    assert len(dev7) == 3 and other.counts["samples"]["train"] == 9


@pytest.mark.parametrize("name", ["ghmfc", "wikidiverse"])
def test_shipped_lists_kept_and_missing_golds_counted(imported, name):
    layout, report, folder = imported[name]
    cands = report.candidates
    assert cands["origin"] == "imported" and cands["gold_always_included"] is False
    assert cands["missing_gold"]["test"] == layout.missing_gold["test"]
    n_test = report.counts["samples"]["test"]
    assert cands["gold_recall"]["test"] == round(1 - layout.missing_gold["test"] / n_test, 4)
    assert f"test {100 * cands['gold_recall']['test']:.2f} %" in (folder / "README.md").read_text()
    dataset = Dataset.load(folder)
    gold_less = [s for s in dataset.samples["test"] if s.entity_id not in dataset.candidates["test"][s.id]]
    assert len(gold_less) == layout.missing_gold["test"]  # never silently added
    # the check accepts gold-less lists only because, and as far as, the manifest declares them
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["candidates"]["missing_gold"]["test"] -= 1
    saved = manifest_path.read_text()
    try:
        manifest_path.write_text(json.dumps(manifest))
        assert any("golds missing" in p for p in check(folder))
        del manifest["candidates"]
        manifest_path.write_text(json.dumps(manifest))
        assert any("not among the candidates" in p for p in check(folder))
    finally:
        manifest_path.write_text(saved)


def test_wikidiverse_conventions(imported):
    _layout, report, folder = imported["wikidiverse"]
    assert page_title("nhttps://en.wikipedia.org/wiki/Caf%C3%A9_Tacvba") == "Café Tacvba"
    assert page_title("]https://en.wikipedia.org/wiki/Lions_(band)") == "Lions (band)" == page_title("Lions_(band)")
    assert image_file_name("https://u.org/a/b/Photo.svg").endswith(".png") and image_file_name("https://u/x/A.gif").endswith("A.gif")
    assert image_file_name("https://u/x/A.b.JPEG") == __import__("hashlib").md5(b"A.b.JPEG").hexdigest() + ".JPEG"
    dataset = Dataset.load(folder)
    samples = {s.source["record"]: s for s in dataset.all_samples()}
    stray = samples["train_w_10cands.json:3"]  # its gold URL starts with "nhttps"
    assert dataset.entities[stray.entity_id].label == entity_name(15 % 12)
    assert report.candidates["dropped_not_in_kb"] == {}  # titles and URLs both resolve


def test_coco_cn_rule(imported):
    _layout, _report, folder = imported["coco-cn"]
    assert choose_tag("一个男人在网球场上打网球。", ["男人", "网球", "网球场"]) == "网球场"
    assert choose_tag("两只猫在沙发上", ["猫", "沙发"]) == "沙发" and choose_tag("沙猫", ["沙", "猫"]) == "沙"
    assert choose_tag("一列火车", ["汽车"]) is None
    dataset = Dataset.load(folder)
    assert all(s.mention in s.text and dataset.entities[s.entity_id].label == s.mention for s in dataset.all_samples())
    assert len(dataset.kb) == len({s.mention for s in dataset.all_samples()})
    notes = dataset.meta["notes"]
    assert "Images with no usable tag: 2 (1 without tags, 1 whose tags are not in the caption)." in notes
    assert any(r.reason == "no_usable_tag" and r.detail == "no tags" for r in dataset.rejects)


def test_images_are_hard_linked_not_copied(imported):
    layout, report, folder = imported["mimic"]
    dataset = Dataset.load(folder)
    sample = dataset.samples["train"][0]
    source = layout.root / "mention_image" / (Path(sample.source["imgPath"]).stem + ".jpg")
    assert os.stat(source).st_ino == os.stat(folder / sample.image).st_ino and os.stat(source).st_nlink >= 2
    assert report.linked > 0 and report.copied == 0


def test_images_are_copied_across_file_systems(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs a second, writable file system (/dev/shm)")
    with tempfile.TemporaryDirectory(dir=shm) as other:
        layout = write_mimic(Path(other) / "WikiMEL", quirks=False, entities=4, mentions=(2, 1, 1))
        report = run_import("mimic", layout.root, tmp_path / "out", ImportConfig(plots=False))
        assert report.linked == 0 and report.copied == 8
        assert check(tmp_path / "out") == []


def test_import_is_deterministic(imported, tmp_path):
    layout, _, folder = imported["wikidiverse"]
    run_import("wikidiverse", layout.root, tmp_path / "again", ImportConfig(plots=False, lam=6))
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert all((folder / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)


def test_registry_and_dotted_paths():
    assert set(IMPORTERS) == {"mimic", "ghmfc", "wikidiverse", "coco-cn"}
    assert importer_class("importers.mimic.MimicImporter") is importer_class("mimic")
    with pytest.raises(Exception, match="unknown format 'drin'"):
        importer_class("drin")
    with pytest.raises(Exception, match="not an importers.Importer"):
        importer_class("emmel.schema.Entity")


def test_optional_fields_leave_old_rows_unchanged():
    entity = Entity(id="E1", label="春节")
    assert "wikidata" not in entity.to_dict() and "images" not in entity.to_dict()
    assert Entity.from_dict(entity.to_dict()) == entity
    rich = Entity(id="E2", label="Otho", wikidata="Q1416", images=["images/ab/ab.jpg"])
    assert Entity.from_dict(json.loads(json.dumps(rich.to_dict()))) == rich
    sample = Sample(id="S1", image="images/a.jpg", text="t", entity_id="E1", split="test")
    assert "mention" not in sample.to_dict()
    assert Sample.from_dict({**sample.to_dict(), "mention": "Otho"}).mention == "Otho"
    with pytest.raises(ValueError, match="mention"):
        Sample.from_dict({**sample.to_dict(), "mention": 3})


def _kb(n: int, seed: int) -> list[Entity]:
    rng = random.Random(seed)
    stems = ["春节", "剪纸", "萨满舞", "Lions", "Obama", "长调", "苗绣"]
    labels = {f"{rng.choice(stems)}{'(' + rng.choice(stems) + ')' if rng.random() < 0.3 else ''}{k}" for k in range(n)}
    return [Entity(id=stable_id("E", label), label=label, category=rng.choice(["", "民俗", "音乐"])) for label in sorted(labels)]


@pytest.mark.parametrize("n,size", [(40, 10), (300, 100), (1200, 100)])
def test_candidates_identical_to_the_reference_at_small_scale(n, size):
    kb = _kb(n, n)
    new, old = CandidateIndex(kb), ReferenceIndex(kb)
    rng = random.Random(1)
    for i in range(25):
        gold = rng.choice(kb).id
        text = f"{rng.choice(kb).label}的照片 {i}"
        assert select_candidates(new, gold, text, size, 13, f"S{i}") == reference_candidates(old, gold, text, size, 13, f"S{i}")


def test_candidates_large_pool_path(monkeypatch):
    from emmel import candidates

    monkeypatch.setattr(candidates, "EXACT_SHUFFLE_LIMIT", 50)
    monkeypatch.setattr(candidates, "POSTINGS_CAP", 30)
    kb = _kb(400, 3)
    index = CandidateIndex(kb)
    assert index.capped  # common bigrams are left out of the index
    for i in range(20):
        gold = kb[i * 7].id
        chosen = select_candidates(index, gold, "春节剪纸", 60, 5, f"S{i}")
        assert len(chosen) == len(set(chosen)) == 60 and gold in chosen
        assert chosen == select_candidates(index, gold, "春节剪纸", 60, 5, f"S{i}")


def test_import_stats_benchmark_end_to_end(tmp_path):
    """emmel import (with shipped lists missing golds) -> emmel stats --check -> emmel benchmark, as a user runs them."""
    layout = write_mimic(tmp_path / "WikiMEL")
    misses = write_candidates_tsv(layout, tmp_path / "candidates.tsv", missing=2)
    result = run_emmel("import", "mimic", layout.root, "--out", tmp_path / "WM", "--candidates-file", tmp_path / "candidates.tsv")
    assert result.returncode == 0, result.stderr
    assert "gold recall dev 100.00 % (0 misses), test 60.00 % (2 misses)" in result.stdout
    assert (tmp_path / "WM" / "plots" / "entity_frequency.png").is_file()
    result = run_emmel("stats", "--check", tmp_path / "WM")
    assert result.returncode == 0 and "check: OK" in result.stdout, result.stdout
    result = run_emmel("benchmark", tmp_path / "WM", "--out", tmp_path / "run", "--epochs", "1", "--threads", "1",
                       "--models", "lexical,text-only,clip-zeroshot", "--no-save-models")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    n_test = results["dataset"]["samples"]["test"]
    assert n_test == layout.samples["test"] and misses == 2
    for model in ("lexical", "text-only", "clip-zeroshot"):
        test = results["results"][model]["test"]
        assert test["top10"] <= 100 * (n_test - misses) / n_test  # a gold missing from its list is never a hit
        assert 0 <= test["top1"] <= test["top5"] <= test["top10"]
        # the predictions say so too: gold_rank null for the two misses, and the same Top-k
        lines = [json.loads(line) for line in (tmp_path / "run" / "predictions" / f"{model}.jsonl").read_text().splitlines()]
        ranks = [line["gold_rank"] for line in lines]
        assert ranks.count(None) == misses and len(lines) == n_test
        for k in (1, 5, 10):
            assert round(100.0 * sum(1 for r in ranks if r is not None and r <= k) / n_test, 2) == test[f"top{k}"]
