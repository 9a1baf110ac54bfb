"""End-to-end and unit tests of `emmel build` on a generated messy source."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from emmel import __version__
from emmel.build import run_build
from emmel.config import load_config
from emmel.dataset import Dataset
from emmel.integrity import check
from emmel.io import read_jsonl
from emmel.kb import entity_id
from tests.helpers import run_emmel as emmel
from tests.messy import encode, make_messy_source, pattern_image

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "tests" / "pinned" / "messy_build.json"
PINNED_LIBRARIES = ("numpy", "pillow", "albumentations", "opencv-python-headless", "pyarrow", "matplotlib", "opencc-python-reimplemented")


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("src") / "web"
    expected = make_messy_source(folder)
    return folder, expected


@pytest.fixture(scope="module")
def built(messy, tmp_path_factory):
    folder, _ = messy
    out = tmp_path_factory.mktemp("ds") / "EMMEL"
    config = load_config(None, ["candidates.size=5", "split.dev=0.2", "split.test=0.2", "split.train=0.6"])
    report = run_build([folder], out, config)
    return out, report


def test_accounting_and_reasons(messy, built):
    folder, expected = messy
    out, report = built
    counts = report.counts
    n_lines = sum(1 for line in (folder / "records.jsonl").read_bytes().splitlines() if line.strip())
    assert counts["input_records"] == n_lines == counts["kept"] + counts["rejected"]
    rejects = read_jsonl(out / "rejects.jsonl")
    by_id = {}
    for r in rejects:
        by_id.setdefault(r["record_id"], []).append(r["reason"])
    for record_id, reason in expected.items():
        if reason is None or "#" in record_id:
            continue
        got = by_id.get(record_id if record_id not in ("broken", "latin") else None, [])
        assert reason in got or reason in Counter(r["reason"] for r in rejects), (record_id, reason, got)
        if record_id not in ("broken", "latin"):
            assert by_id[record_id] == [reason], record_id
    reasons = Counter(r["reason"] for r in rejects)
    assert reasons["malformed_record"] == 2  # broken JSON line + repeated record_id
    assert reasons["bad_encoding"] == 1
    kept_ids = {s.source["record_id"] for s in Dataset.load(out).all_samples() if s.augmented_from is None}
    assert kept_ids == {rid for rid, reason in expected.items() if reason is None}


def test_duplicates_point_at_representative(built):
    out, _ = built
    rejects = {r["record_id"]: r for r in read_jsonl(out / "rejects.jsonl")}
    ds = Dataset.load(out)
    rep = next(s for s in ds.all_samples() if s.source.get("record_id") == "dup-exact-src")
    for rid in ("dup-exact", "dup-reencoded", "dup-resized", "dup-cropped", "conflict", "conflict-q70"):
        assert rejects[rid]["duplicate_of"] == rep.id


def test_check_passes_and_card(built):
    out, _ = built
    assert check(out) == []
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Table 1" in card and "| train" in card
    for plot in ("entity_frequency.png", "text_length.png", "image_size.png"):
        assert (out / "plots" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pandas as pd

    train = pd.read_parquet(out / "parquet" / "train.parquet")
    assert len(train) == len(read_jsonl(out / "train.jsonl"))


def test_card_front_matter_lets_datasets_load_the_folder(built, tmp_path):
    """The card's YAML header points the real `datasets` package at the Parquet files: no arguments needed."""
    from datasets import load_dataset

    out, report = built
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\npretty_name: \"EMMEL\"\n") and "\n---\n\n# EMMEL dataset card\n" in card
    assert "- 1K<n<10K" not in card and "- n<1K" in card and "## Statistics (Table 1)" in card  # old content kept
    cache = str(tmp_path / "hf-cache")
    splits = load_dataset(str(out), cache_dir=cache)
    assert set(splits) == {"train", "dev", "test"}
    for split, rows in splits.items():
        jsonl = read_jsonl(out / f"{split}.jsonl")
        assert rows.num_rows == len(jsonl) == report.counts["samples"][split]
        assert sorted(rows["id"]) == sorted(r["id"] for r in jsonl)
    kb = load_dataset(str(out), "kb", cache_dir=cache)["kb"]
    assert sorted(kb["label"]) == sorted(r["label"] for r in read_jsonl(out / "kb.jsonl"))


def test_normalisation_and_kb(built):
    out, _ = built
    ds = Dataset.load(out)
    labels = {e.label for e in ds.kb}
    assert "春节(查干萨日)" in labels  # traditional -> simplified, full-width brackets -> ASCII
    assert entity_id("春节(查干萨日)") in ds.entities
    texts = [s.text for s in ds.all_samples()]
    assert all("　" not in t and "，" not in t for t in texts)
    assert any(t.startswith("春节贴春联,") for t in texts)


def test_splits_groups_and_augmentation(built):
    out, _ = built
    ds = Dataset.load(out)
    group_split = {}
    for s in ds.all_samples():
        assert group_split.setdefault(s.group, s.split) == s.split
    aug = [s for s in ds.all_samples() if s.augmented_from]
    assert aug and all(s.split == "train" for s in aug)
    originals = {s.id: s for s in ds.samples["train"] if s.augmented_from is None}
    assert {s.augmented_from for s in aug} == set(originals)
    assert {s.augmentation["op"] for s in aug} == {"rotate", "translate"}
    assert all(ds.image_path(s).exists() for s in ds.all_samples())
    for split in ("dev", "test"):
        assert ds.samples[split], f"empty {split} split"


def test_candidates_hold_gold_and_hard_negatives(built):
    out, _ = built
    ds = Dataset.load(out)
    spring, chagan = entity_id("春节"), entity_id("春节(查干萨日)")
    for split in ("dev", "test"):
        for s in ds.samples[split]:
            cands = ds.candidates[split][s.id]
            assert s.entity_id in cands and len(cands) == len(set(cands)) == 5
            if s.entity_id == spring:
                assert chagan in cands  # same base name is the hardest negative


def test_deterministic_bytes(messy, built, tmp_path):
    folder, _ = messy
    out, _ = built
    config = load_config(None, ["candidates.size=5", "split.dev=0.2", "split.test=0.2", "split.train=0.6"])
    again = run_build([folder], tmp_path / "again", config).out
    assert (out / "manifest.json").read_bytes() == (again / "manifest.json").read_bytes()
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    other_seed = run_build([folder], tmp_path / "seed2", load_config(None, ["seed=99", "candidates.size=5"])).out
    assert (other_seed / "manifest.json").read_bytes() != (out / "manifest.json").read_bytes()


def test_engines_give_identical_results(messy, tmp_path):
    folder, _ = messy
    config = load_config(None, ["candidates.size=5", "workers=2"])
    local = run_build([folder], tmp_path / "local", config, plots=False).out
    for engine in ("processes", "dask"):
        other = run_build([folder], tmp_path / engine, config, engine=engine, plots=False).out
        assert (other / "manifest.json").read_bytes() == (local / "manifest.json").read_bytes(), engine


def test_failed_build_leaves_nothing(messy, tmp_path, monkeypatch):
    folder, _ = messy

    def boom(self, tmp, plots=True):
        (Path(tmp) / "kb.jsonl").write_text("partial")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(Dataset, "write_into", boom)
    with pytest.raises(RuntimeError):
        run_build([folder], tmp_path / "out", load_config(None))
    assert list(tmp_path.iterdir()) == []


def test_generic_csv_import_with_mapping(tmp_path):
    (tmp_path / "pics").mkdir()
    rows = ["name,caption,file,kind"]
    for k, name in enumerate(["东北虎", "东北虎", "大熊猫", "大熊猫", "丹顶鹤"]):
        (tmp_path / "pics" / f"{k}.jpg").write_bytes(encode(pattern_image(500 + k, (300, 260))))
        rows.append(f"{name},{name}在林中 {k},pics/{k}.jpg,animal")
    (tmp_path / "animals.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = emmel("build", tmp_path / "animals.csv", "--map", "title=name,text=caption,image=file,category=kind",
                   "--out", tmp_path / "ANIMALS", "--lambda", "3", "--no-plots", "--line-ids")
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    ds = Dataset.load(tmp_path / "ANIMALS")
    assert sorted(s.source["record_id"] for s in ds.all_samples() if s.augmented_from is None) == [f"line{n}" for n in range(2, 7)]
    assert {e.label for e in ds.kb} == {"东北虎", "大熊猫", "丹顶鹤"}
    assert all(e.category == "animal" for e in ds.kb)
    assert emmel("stats", "--check", tmp_path / "ANIMALS").returncode == 0


def test_kb_seed_adds_entities(messy, tmp_path):
    folder, _ = messy
    seed = ROOT / "data" / "ihchina_national_list.csv"
    out = run_build([folder], tmp_path / "seeded", load_config(None, [f"kb_seed={seed}", "candidates.size=100"]), plots=False).out
    ds = Dataset.load(out)
    assert len(ds.kb) > 3000
    assert check(out) == []
    lens = {len(c) for split in ("dev", "test") for c in ds.candidates[split].values()}
    assert lens == {100}


def test_cli_errors_are_one_line(messy, tmp_path):
    folder, _ = messy
    cases = [
        (["build", tmp_path / "nope", "--out", tmp_path / "o"], "source not found"),
        (["build", folder, "--out", tmp_path / "o", "--set", "clean.min_side=big"], "cannot read 'big'"),
        (["build", folder, "--out", tmp_path / "o", "--set", "clean.bogus=1"], "unknown setting"),
        (["build", folder, "--out", tmp_path / "o", "--strict"], "records.jsonl:"),
        (["stats", tmp_path / "nope"], "dataset folder not found"),
    ]
    for args, needle in cases:
        result = emmel(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()


def test_check_detects_tampering(built, tmp_path):
    import shutil

    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    rows = read_jsonl(copy / "test.jsonl")
    rows[0]["text"] = "被改过的描述"
    (copy / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cands = read_jsonl(copy / "candidates" / "dev.jsonl")
    dev = {r["id"]: r for r in read_jsonl(copy / "dev.jsonl")}
    cands[0]["candidates"] = [c for c in cands[0]["candidates"] if c != dev[cands[0]["sample_id"]]["entity_id"]]
    (copy / "candidates" / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cands), encoding="utf-8")
    problems = check(copy)
    assert any("test.jsonl: sha256 differs" in p for p in problems)
    assert any("not among the candidates" in p for p in problems)
    result = emmel("stats", "--check", copy)
    assert result.returncode == 1 and "problem" in result.stdout


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PINNED_LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def test_build_bytes_are_pinned(built):
    """Every file of the messy build has the sha256 pinned in tests/pinned/messy_build.json.

    `emmel build` promises that the same inputs and seed give a byte-identical folder, also across
    versions of emmel: a refactoring must not change a single byte, and a change of the dataset's
    content (a rule, a default, the card) must be a decision, recorded by re-pinning in the same
    commit with the reason in its message. A failure names the files that changed.

    The pins also depend on the libraries that encode bytes: Pillow (the test's source JPEGs, the
    augmented copies, and so every image sha256 and pHash in the JSONL), pyarrow (its version is in
    every Parquet footer), matplotlib (plots). After upgrading one of them, check that the old emmel
    commit gives the new bytes too, then re-pin: ``EMMEL_REPIN=1 pytest tests/test_build.py -k pinned``.
    """
    out, _ = built
    files = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(out.rglob("*")) if p.is_file()}
    if os.environ.get("EMMEL_REPIN"):
        PINS.parent.mkdir(exist_ok=True)
        PINS.write_text(json.dumps({"emmel": __version__, "libraries": _library_versions(), "files": files},
                                   indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.fail(f"re-pinned {len(files)} files in {PINS}; review `git diff` and commit it with the reason")
    pinned = json.loads(PINS.read_text(encoding="utf-8"))
    changed = sorted(rel for rel in files.keys() & pinned["files"].keys() if files[rel] != pinned["files"][rel])
    added, gone = sorted(files.keys() - pinned["files"].keys()), sorted(pinned["files"].keys() - files.keys())
    assert not (changed or added or gone), (
        f"the build's bytes changed: {len(changed)} files differ (e.g. {changed[:5]}), {len(added)} new (e.g. {added[:3]}), "
        f"{len(gone)} gone (e.g. {gone[:3]}); libraries when pinned {pinned['libraries']}, now {_library_versions()}"
    )
