"""Model-flagged mismatches (docs/suspect.md): the robust rule, `emmel flag` and `emmel build --clip-model` with a
tiny CLIP checkpoint fitted briefly on a dataset whose captions were partly swapped, the card, the export order."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest

from annotation.images import ImageURLs
from annotation.roundtrip import make_tasks
from emmel.cli import main
from emmel.config import SuspectConfig, load_config
from emmel.dataset import Dataset
from emmel.errors import EmmelError
from emmel.integrity import check
from emmel.io import read_json, read_jsonl
from emmel.schema import Sample
from emmel.suspect import REASON, PairScores, judge
from tests.dataset_factory import make_dataset
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_clip_folder, tiny_hf_clip_folder
from tests.synth.swapped import write_swapped_dataset, write_swapped_source

pytestmark = pytest.mark.usefixtures("restore_torch_threads")  # the tests run CLIP with --threads 1
needs_vocab = pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip (the Chinese vocab of the tiny checkpoint) not installed")
FIT = ["--fit-epochs", "20", "--fit-lr", "3e-3", "--fit-batch-size", "32", "--threads", "1"]
SWAPPED_PAIRS = 3


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def by_z(dataset: Dataset) -> list[Sample]:
    return sorted((s for s in dataset.all_samples() if s.suspect), key=lambda s: (s.suspect["z"], s.id))


@pytest.fixture(scope="module")
def fixture(tmp_path_factory) -> SimpleNamespace:
    """A swapped-caption dataset, a tiny CLIP checkpoint (saved with save_pretrained) and `emmel flag`'s output."""
    root = tmp_path_factory.mktemp("suspect")
    swapped = write_swapped_dataset(root / "DS", SWAPPED_PAIRS, seed=1)
    clip = tiny_hf_clip_folder(root / "tiny clip", seed=1)
    if HAVE_CNCLIP:
        assert main(["flag", str(root / "DS"), "--clip-model", str(clip), *FIT, "--out", str(root / "F")]) == 0
    return SimpleNamespace(root=root, data=root / "DS", swapped=swapped, clip=clip, flagged=root / "F")


# ------------------------------------------------------------------------------------------- the rule

def test_robust_z_flags_the_outlier_of_its_entity_and_falls_back_to_the_global_distribution():
    config = SuspectConfig(threshold=3.5, min_entity_samples=5, mad_floor=0.5)
    entity_a = [0.80, 0.82, 0.79, 0.81, 0.83, 0.80, 0.20]  # one far below its entity
    entity_b = [0.40, 0.42, 0.41, 0.39, 0.40, 0.38]  # lower than A, all typical for B
    entity_c = [0.35, 0.81]  # too few samples: judged against everything
    texts = entity_a + entity_b + entity_c
    ids = ["A"] * len(entity_a) + ["B"] * len(entity_b) + ["C"] * len(entity_c)
    fields = judge(ids, [PairScores(image_text=t, image_label=0.5) for t in texts], config)
    flagged = [k for k, f in enumerate(fields) if f["flagged"]]
    assert flagged == [6], fields
    outlier = fields[6]
    assert outlier["reference"] == "entity" and outlier["n"] == 7 and outlier["median_text"] == 0.8
    assert outlier["z"] == outlier["z_text"] < -3.5 and outlier["z_label"] == 0.0
    assert outlier["reason"].startswith("image–text 0.200 vs median 0.800") and "the 7 samples of its entity" in outlier["reason"]
    assert all(f["reference"] == "global" and f["n"] == len(texts) for f in fields[-2:])  # entity C
    assert not any(f["flagged"] for f in fields[7:13])  # B's scores are low only against A's
    # the modified z of Iglewicz & Hoaglin, with the entity's MAD floored at half the global one
    mad_a = statistics.median(abs(v - 0.80) for v in entity_a)
    global_mad = statistics.median(abs(v - statistics.median(texts)) for v in texts)
    assert 0.5 * global_mad > mad_a  # A's scores agree closely: the floor applies
    assert outlier["z_text"] == round(0.6745 * (0.20 - 0.80) / (0.5 * global_mad), 3)


def test_mad_floor_keeps_a_tight_entity_from_flagging_small_differences():
    ids = ["A"] * 6 + ["B"] * 6
    texts = [0.700, 0.700, 0.700, 0.700, 0.700, 0.690] + [0.2, 0.5, 0.8, 0.3, 0.6, 0.9]
    scores = [PairScores(image_text=t, image_label=0.5) for t in texts]
    assert judge(ids, scores, SuspectConfig(mad_floor=0.0))[5]["z"] == 0.0  # MAD 0: nothing to compare with
    floored = judge(ids, scores, SuspectConfig(mad_floor=0.5))[5]
    assert not floored["flagged"] and -1 < floored["z"] < 0


def test_settings_live_in_the_build_config():
    config = load_config(None, ["suspect.threshold=2.5", "suspect.fit_lr=3e-3", "suspect.fit_batch_size=16", "suspect.clip_model=x"])
    assert (config.suspect.threshold, config.suspect.fit_lr, config.suspect.fit_batch_size) == (2.5, 0.003, 16)
    assert config.to_dict()["suspect"]["clip_model"] == "x"
    assert "suspect" not in load_config(None, ["suspect.threshold=2.5"]).to_dict()  # no model, no section: old bytes
    for bad in ("suspect.threshold=0", "suspect.fit_lr=fast", "suspect.min_entity_samples=0", "suspect.mad_floor=-1"):
        with pytest.raises(EmmelError, match="suspect"):
            load_config(None, [bad])


def test_samples_without_scores_keep_their_bytes(tmp_path):
    """A dataset no model scored has no `suspect` key anywhere, and saving a loaded one gives the same bytes."""
    folder = make_dataset(tmp_path / "plain", n_entities=4, samples_per_entity=3, lam=3, seed=1)
    assert all("suspect" not in row for split in ("train", "dev", "test") for row in read_jsonl(folder / f"{split}.jsonl"))
    Dataset.load(folder).save(tmp_path / "again", plots=False)  # the factory writes no plots
    assert files_of(folder) == files_of(tmp_path / "again")


# ------------------------------------------------------------------------------------------ emmel flag

@needs_vocab
def test_swapped_captions_rank_lowest_after_a_short_fit(fixture):
    flagged = Dataset.load(fixture.flagged)
    ranked = by_z(flagged)
    lowest = {s.id for s in ranked[: len(fixture.swapped)]}
    assert lowest == fixture.swapped, [(s.id, s.suspect["z"]) for s in ranked[:8]]
    assert {s.id for s in ranked if s.flagged} <= fixture.swapped and sum(s.flagged for s in ranked) >= SWAPPED_PAIRS
    for sample in ranked[: len(fixture.swapped)]:  # it is the description that disagrees with the image, not the label
        assert sample.suspect["z_text"] == sample.suspect["z"] < sample.suspect["z_label"]
    originals = [s for s in flagged.all_samples() if s.augmented_from is None]
    assert all(s.suspect is not None for s in originals) and len(ranked) == len(originals)
    assert not any(s.suspect for s in flagged.all_samples() if s.augmented_from is not None)
    assert check(fixture.flagged) == []


@needs_vocab
def test_flagged_version_keeps_everything_else_and_says_which_model_and_fit(fixture, capsys):
    source, flagged = Dataset.load(fixture.data), Dataset.load(fixture.flagged)
    assert [s.id for s in source.all_samples()] == [s.id for s in flagged.all_samples()]
    assert flagged.counts() == source.counts() and flagged.candidates == source.candidates
    summary = read_json(fixture.flagged / "manifest.json")["suspect"]
    assert summary["model"] == f"transformers ChineseCLIPModel folder {fixture.clip}"
    assert summary["fit"]["epochs"] == 20 and summary["fit"]["lr"] == 0.003 and summary["fit"]["split"] == "train"
    assert summary["fit"]["samples"] == len(source.samples["train"]) and summary["fit"]["loss"][-1] < summary["fit"]["loss"][0]
    assert summary["scored"] == sum(1 for _ in source.all_samples()) and summary["flagged"] == sum(s.flagged for s in flagged.all_samples())
    z = summary["histograms"]["z"]
    assert sum(z["counts"]) == summary["scored"] and sum(z["flagged"]) == summary["flagged"] and len(z["edges"]) == len(z["counts"]) + 1
    card = (fixture.flagged / "README.md").read_text(encoding="utf-8")
    assert "## Suspect pairs (model-flagged)" in card and str(fixture.clip) in card and "fitted for 20 epochs" in card
    worst = by_z(flagged)[0]
    assert f"| {worst.id} |" in card and f"{worst.suspect['z']:.2f}" in card
    assert "![suspect_scores.png](plots/suspect_scores.png)" in card
    plot = fixture.flagged / "plots" / "suspect_scores.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "plots/suspect_scores.png" in read_json(fixture.flagged / "manifest.json")["files"]
    from PIL import Image

    with Image.open(plot) as image:
        assert image.size[0] > image.size[1] > 200
    capsys.readouterr()
    assert main(["stats", str(fixture.flagged)]) == 0
    assert f"suspect pairs: {summary['flagged']} of {summary['scored']} samples flagged by {summary['model']}" in capsys.readouterr().out


def test_an_english_clip_folder_scores_with_its_own_tokenizer_and_crop(fixture, tmp_path):
    """A CLIPModel folder (BPE tokenizer, centre crop, other special tokens) flags through the same scorer."""
    from baseline.mismatch import ClipPairScorer

    source = Dataset.load(fixture.data)
    clip = tiny_clip_folder(tmp_path / "english clip", [s.text for s in source.all_samples()], seed=2)
    scorer = ClipPairScorer(clip, threads=1, log=lambda line: None)
    assert scorer.crop and scorer.template.single_specials == 2
    assert main(["flag", str(fixture.data), "--clip-model", str(clip), "--threads", "1", "--out", str(tmp_path / "F")]) == 0
    summary = read_json(tmp_path / "F" / "manifest.json")["suspect"]
    assert summary["model"] == f"transformers CLIPModel folder {clip}" and summary["fit"] is None
    assert summary["scored"] == sum(1 for _ in source.all_samples())
    scores = [s.suspect for s in Dataset.load(tmp_path / "F").all_samples() if s.suspect]
    assert len({x["image_text"] for x in scores}) > 1 and len({x["image_label"] for x in scores}) > 1  # real cosines, not one constant
    check(tmp_path / "F")


@needs_vocab
def test_reject_suspect_keeps_the_accounting_and_same_inputs_give_the_same_bytes(fixture):
    runs = []
    for name in ("R1", "R2"):
        out = fixture.root / name
        assert main(["flag", str(fixture.data), "--clip-model", str(fixture.clip), *FIT, "--reject-suspect", "--out", str(out)]) == 0
        runs.append(out)
    assert files_of(runs[0]) == files_of(runs[1])  # deterministic: same dataset, checkpoint, settings and seed
    source, rejected = Dataset.load(fixture.data), Dataset.load(runs[0])
    gone = [r for r in rejected.rejects if r.reason == REASON]
    summary = read_json(runs[0] / "manifest.json")["suspect"]
    assert len(gone) == summary["flagged"] == summary["rejected"] >= SWAPPED_PAIRS
    ids = {r.record.split(":", 1)[1] for r in gone}
    assert ids <= fixture.swapped and all(r.record.endswith(f".jsonl:{r.record.split(':', 1)[1]}") for r in gone)
    counts, before = rejected.counts(), source.counts()
    assert counts["input_records"] == before["input_records"] == counts["kept"] + counts["rejected"]
    assert counts["kept"] == before["kept"] - len(gone) and counts["rejected_by_reason"][REASON] == len(gone)
    kept = {s.id for s in rejected.all_samples()}
    assert not ids & kept and not any(s.augmented_from in ids for s in rejected.all_samples())
    assert not ids & {sid for table in rejected.candidates.values() for sid in table}
    assert all(r.detail.startswith("image–") and "flagged below z -3.5" in r.detail for r in gone)
    assert check(runs[0]) == []


@needs_vocab
def test_build_with_a_clip_model_flags_the_swapped_records(fixture, tmp_path):
    swapped = write_swapped_source(tmp_path / "raw", SWAPPED_PAIRS, seed=0)
    out = tmp_path / "EMMEL"
    assert main(["build", str(tmp_path / "raw"), "--out", str(out), "--min-side", "32", "--lambda", "6", "--no-augment",
                 "--clip-model", str(fixture.clip), *FIT, "--reject-suspect"]) == 0
    dataset = Dataset.load(out)
    gone = [r for r in dataset.rejects if r.reason == REASON]
    assert gone and {r.record_id for r in gone} <= swapped and all(r.record.startswith("raw/records.jsonl:") for r in gone)
    counts = dataset.counts()
    assert counts["input_records"] == 192 == counts["kept"] + counts["rejected"]
    manifest = read_json(out / "manifest.json")
    assert manifest["config"]["suspect"]["clip_model"] == str(fixture.clip) and manifest["config"]["suspect"]["reject"] is True
    assert manifest["suspect"]["rejected"] == len(gone) and "moved to `rejects.jsonl`" in (out / "README.md").read_text(encoding="utf-8")
    # the swapped records that stayed are the lowest-scored of the kept ones
    left = swapped - {r.record_id for r in gone}
    assert {s.source["record_id"] for s in by_z(dataset)[: len(left)]} == left
    assert check(out) == []


# ---------------------------------------------------------------------------------------- review order

@needs_vocab
def test_export_puts_suspects_first_most_suspect_first(fixture, tmp_path):
    dataset = Dataset.load(fixture.flagged)
    urls = ImageURLs(mode="http", prefix="https://img.example.org/emmel")
    flagged = [s.id for s in by_z(dataset) if s.flagged]
    tasks = make_tasks(dataset, images=urls)
    order = [t["data"]["sample_id"] for t in tasks]
    assert order[: len(flagged)] == flagged
    plain = [t["data"]["sample_id"] for t in make_tasks(dataset, images=urls, order=("dataset",))]
    assert plain == [s.id for split in ("train", "dev", "test") for s in sorted(dataset.samples[split], key=lambda s: s.id)
                     if s.augmented_from is None]
    assert order[len(flagged):] == [sid for sid in plain if sid not in set(flagged)]  # the rest keep the dataset's order
    assert [t["data"]["sample_id"] for t in make_tasks(dataset, images=urls, order=("suspect", "dataset"))] == order
    dev_only = [t["data"]["sample_id"] for t in make_tasks(dataset, splits=("dev",), images=urls)]
    dev_flagged = [sid for sid in flagged if sid in {s.id for s in dataset.samples["dev"]}]
    assert dev_only[: len(dev_flagged)] == dev_flagged
    out = tmp_path / "tasks.json"
    assert main(["annotate", "export", str(fixture.flagged), "--out", str(out), "--images", "http", "--image-prefix", "http://x/"]) == 0
    assert [t["data"]["sample_id"] for t in json.loads(out.read_text(encoding="utf-8"))] == order
    with pytest.raises(EmmelError, match="unknown task order 'wrong'; choose from dataset, suspect"):
        make_tasks(dataset, images=urls, order=("suspect", "wrong"))


def test_unflagged_datasets_export_in_their_usual_order(tmp_path):
    folder = make_dataset(tmp_path / "plain", n_entities=4, samples_per_entity=3, lam=3, seed=1)
    dataset = Dataset.load(folder)
    urls = ImageURLs(mode="http", prefix="https://img.example.org/emmel")
    assert make_tasks(dataset, images=urls) == make_tasks(dataset, images=urls, order=("dataset",))


@needs_vocab
def test_the_site_lists_the_suspects_and_shows_each_samples_scores(fixture, chromium):
    from pages.dataset_site import SiteOptions, build_site
    from pages.naming import safe_name
    from tests.view_fixtures import PageProblems

    out = build_site(fixture.flagged, fixture.root / "site", options=SiteOptions(rows_per_page=3, workers=1)).out
    dataset = Dataset.load(fixture.flagged)
    ranked = by_z(dataset)
    flagged = [s for s in ranked if s.flagged]
    plain = ranked[-1]
    with PageProblems(chromium, (out / "suspects.html").as_uri()) as page:
        rows = page.page.locator("table tbody tr")
        assert rows.count() == min(3, len(flagged)) and page.errors == []
        assert flagged[0].text in rows.nth(0).inner_text() and f"{flagged[0].suspect['z']:.2f}" in rows.nth(0).inner_text()
        assert all(img["width"] > 0 for img in page.images())
        if len(flagged) > 3:
            page.goto((out / "suspects-p2.html").as_uri())
            assert flagged[3].text in page.page.locator("table tbody tr").nth(0).inner_text()
        page.goto((out / "sample" / f"{safe_name(flagged[0].id)}.html").as_uri())
        section = page.page.locator("#suspect").inner_text()
        assert "Flagged as a possible mismatch" in section and flagged[0].suspect["reason"] in section
        assert f"{flagged[0].suspect['image_text']:.3f}" in section and f"{flagged[0].suspect['median_text']:.3f}" in section
        page.goto((out / "sample" / f"{safe_name(plain.id)}.html").as_uri())
        assert "Mismatch scores" in page.page.locator("#suspect").inner_text() and page.page.locator(".badge.warn").count() == 0
        page.goto((out / "index.html").as_uri())
        overview = page.page.locator("#suspects").inner_text()
        assert "Suspect pairs (model-flagged)" in overview and str(fixture.clip) in overview
        assert page.page.locator("nav a", has_text="Suspects").count() == 1
        assert page.page.locator("img[alt='suspect_scores.png']").count() == 1 and page.errors == []
