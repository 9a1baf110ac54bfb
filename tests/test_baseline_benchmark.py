"""`emmel benchmark` and `emmel link` end to end on the learnable synthetic dataset (tiny preset, CPU)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from emmel.cli import main
from tests.mcr_fixtures import HAVE_CNCLIP, save_cnclip_checkpoint, tiny_bert_folder, tiny_cnclip, tiny_hf_clip_folder
from tests.synth.learnable import LearnableConfig, write_learnable

SMALL = LearnableConfig(crafts=3, places=3, train_per_entity=12, dev_per_entity=3, test_per_entity=3, candidates=8)
TINY = LearnableConfig(crafts=2, places=2, train_per_entity=4, dev_per_entity=1, test_per_entity=1, candidates=4, min_side=64, max_side=96)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two OpenMP threads spin-wait and run 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli(*argv: str) -> tuple[int, str, str]:
    if argv and argv[0] == "benchmark":
        argv = (*argv, "--threads", "1")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def error_line(code: int, out: str, err: str) -> str:
    """The CLI's failure contract: exit 2 and one line on stderr."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def learnable(tmp_path_factory) -> Path:
    return write_learnable(tmp_path_factory.mktemp("synth") / "EMMEL-synth", SMALL, plots=False)


@pytest.fixture(scope="module")
def trained(learnable) -> tuple[Path, str, dict]:
    """One full run (every model, whole-KB metrics too) shared by the tests below."""
    code, out, err = cli("benchmark", learnable, "--full-kb", "--epochs", "15")
    assert code == 0, err
    folder = learnable.with_name(learnable.name + "-benchmark")
    return folder, out, json.loads((folder / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return write_learnable(tmp_path_factory.mktemp("tiny") / "tiny", TINY, plots=False)


def test_training_lowers_the_loss(trained):
    _, _, report = trained
    for module in ("text-text", "visual-text", "clip-finetuned"):
        history = report["training"][module]["history"]
        assert len(history) == 15
        assert history[-1]["loss"] < 0.8 * history[0]["loss"], (module, history)
        assert report["training"][module]["best_dev_top1"] == max(h["dev_top1"] for h in history)


def test_mcr_beats_both_single_modules_on_test(trained):
    _, _, report = trained
    top1 = {name: r["test"]["top1"] for name, r in report["results"].items()}
    assert top1["mcr"] > top1["text-only"] and top1["mcr"] > top1["image-only"], top1
    assert top1["mcr"] >= 60.0, top1
    assert report["results"]["mcr"]["kb"]["h1"] > max(report["results"][m]["kb"]["h1"] for m in ("text-only", "image-only"))
    # the α chosen on dev is the best dev α of the sweep
    alpha = report["alpha"]
    dev = alpha["sweep"][alpha["normalization"]]["dev"]
    assert max(r["top1"] for r in dev) == next(r["top1"] for r in dev if r["alpha"] == alpha["alpha"])


def test_top_k_is_monotone_in_k(trained):
    _, _, report = trained
    for name, result in report["results"].items():
        for split in ("dev", "test"):
            r = result[split]
            assert 0 <= r["top1"] <= r["top5"] <= r["top10"] <= 100, (name, r)
        kb = result["kb"]
        assert kb["h1"] <= kb["h3"] <= kb["h5"] <= kb["h10"] and kb["h1"] <= kb["mrr"] <= 100


def test_outputs_say_which_models_and_label_the_paper_numbers(trained):
    folder, out, report = trained
    assert "Models used:" in out and "random init, trained from scratch" in out and "cn_clip Chinese BERT vocab" in out
    assert "| MCR (text-text + visual-text)" in out and "paper Top-1" in out and "not produced by this run" in out
    md = (folder / "results.md").read_text(encoding="utf-8")
    assert "| CN-CLIP zero-shot" in md and "77.8" in md
    for png in ("ablation.png", "alpha_sweep.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = folder / "models"
    assert sorted(p.name for p in models.iterdir()) == ["clip-finetuned", "clip-zeroshot", "image-only", "lexical", "mcr", "text-only"]
    config = json.loads((models / "mcr" / "emmel_model.json").read_text(encoding="utf-8"))
    assert config["alpha"] == report["alpha"]["alpha"] and config["modules"] == ["text", "visual"]
    assert (models / "mcr" / "text" / "model.safetensors").is_file() and (models / "mcr" / "clip" / "model.safetensors").is_file()
    # the ablation folders share the MCR weights (hard links), not copies
    assert (models / "text-only" / "text" / "model.safetensors").stat().st_ino == (models / "mcr" / "text" / "model.safetensors").stat().st_ino


def test_saved_model_links_like_the_benchmark_scored(trained, learnable):
    from baseline.link import load_for_link
    from emmel.dataset import Dataset

    folder, _, report = trained
    model, where = load_for_link(learnable)  # a dataset folder: its model is found beside it
    assert where == folder / "models" / "mcr"
    dataset = Dataset.load(learnable)
    test = sorted(dataset.samples["test"], key=lambda s: s.id)
    hits = 0
    for sample in test:
        (best,) = model.link(dataset.image_path(sample), sample.text, k=1)
        hits += best["id"] == sample.entity_id
    assert abs(100.0 * hits / len(test) - report["results"]["mcr"]["kb"]["h1"]) <= 100.0 / len(test) + 1e-6

    sample = test[0]
    code, out, err = cli("link", learnable, "--image", dataset.image_path(sample), "--text", sample.text, "-k", "3", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert {"visual_score", "text_score", "label", "category"} <= set(rows[0])
    code, out, _ = cli("link", folder / "models" / "text-only", "--text", sample.text, "-k", "2")
    assert code == 0 and "text module only" in out


def test_bad_inputs_fail_early_with_one_line(learnable, tmp_path):
    line = error_line(*cli("benchmark", learnable, "--alpha", "1.5", "--out", tmp_path / "a"))
    assert "alpha must be in [0, 1]" in line
    line = error_line(*cli("benchmark", learnable, "--models", "mcr,bert", "--out", tmp_path / "a"))
    assert "unknown model 'bert'" in line

    broken = tmp_path / "no-candidates"
    shutil.copytree(learnable, broken)
    (broken / "candidates" / "test.jsonl").unlink()
    line = error_line(*cli("benchmark", broken, "--out", tmp_path / "b"))
    assert "no candidate sets for test" in line and "candidates/test.jsonl" in line

    missing = tmp_path / "missing-image"
    shutil.copytree(learnable, missing)
    sample = json.loads((missing / "test.jsonl").read_text(encoding="utf-8").splitlines()[0])
    (missing / sample["image"]).unlink()
    line = error_line(*cli("benchmark", missing, "--out", tmp_path / "c", "--models", "image-only"))
    assert f"image of test sample {sample['id']} not found" in line and sample["image"] in line
    assert not (tmp_path / "c").exists()

    line = error_line(*cli("link", tmp_path / "nowhere", "--text", "x"))
    assert "no such dataset or model folder" in line
    fresh = tmp_path / "fresh"
    shutil.copytree(learnable, fresh)
    line = error_line(*cli("link", fresh, "--text", "湘西村民的手艺", "--image", tmp_path / "none.jpg"))
    assert "no trained 'mcr' model found" in line and "fresh-benchmark" in line


def test_missing_link_image_is_one_line(trained, tmp_path):
    folder, _, _ = trained
    line = error_line(*cli("link", folder, "--image", tmp_path / "gone.jpg", "--text", "湘西村民的手艺"))
    assert "image not found" in line and "gone.jpg" in line


def test_same_seed_same_bytes(tiny_dataset, tmp_path):
    """Two runs with the same seed, one through the CLI and one through the library with its own defaults
    (and the report page the command wires in)."""
    from baseline.benchmark import BenchmarkConfig, run_benchmark
    from pages.report import write_report

    code, _, err = cli("benchmark", tiny_dataset, "--epochs", "1", "--models", "text-only,image-only,mcr", "--out", tmp_path / "one")
    assert code == 0, err
    run_benchmark(BenchmarkConfig(dataset=str(tiny_dataset), models=["text-only", "image-only", "mcr"], train={"epochs": 1}, threads=1,
                                  progress=False, out=str(tmp_path / "two")), log=lambda line: None, extra_outputs=[write_report])
    runs = [{p.relative_to(tmp_path / name).as_posix(): p.read_bytes() for p in sorted((tmp_path / name).rglob("*")) if p.is_file()}
            for name in ("one", "two")]
    assert runs[0].keys() == runs[1].keys() and "models/mcr/text/model.safetensors" in runs[0] and "report.html" in runs[0]
    assert [k for k in runs[0] if runs[0][k] != runs[1][k]] == []


@pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip not installed")
@pytest.mark.parametrize("clip_format", ["pt", "folder"])
def test_real_checkpoint_formats_run_the_benchmark(tiny_dataset, tmp_path, clip_format):
    from baseline.model import MCRModel

    bert = tiny_bert_folder(tmp_path / "chinese-roberta-wwm-ext")
    if clip_format == "pt":
        clip = save_cnclip_checkpoint(tiny_cnclip(), tmp_path / "clip_cn_vit-b-16.pt")
    else:
        clip = tiny_hf_clip_folder(tmp_path / "chinese-clip-vit-base-patch16")
    code, out, err = cli("benchmark", tiny_dataset, "--text-model", bert, "--clip-model", clip, "--epochs", "1",
                         "--models", "clip-zeroshot,mcr", "--alpha", "0.5", "--out", tmp_path / "out")
    assert code == 0, err
    assert f"checkpoint {bert}" in out and str(clip) in out
    assert ("original Chinese-CLIP checkpoint (converted)" in out) == (clip_format == "pt")
    report = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert report["alpha"]["alpha"] == 0.5 and report["alpha"]["mode"] == "fixed"
    assert report["settings"]["train"]["lr"] == 1e-5  # the paper's settings apply to real checkpoints
    model = MCRModel.from_pretrained(tmp_path / "out" / "models" / "mcr")
    assert model.text.encoder.config.hidden_size == 32 and model.visual.image_size == 32
    kb_embeddings = model.scorers["visual"].kb_embeddings
    assert torch.isfinite(kb_embeddings).all() and kb_embeddings.shape[0] == report["dataset"]["kb_entities"]

    line = error_line(*cli("benchmark", tiny_dataset, "--clip-model", bert, "--out", tmp_path / "x"))
    assert "expected a ChineseCLIPModel or CLIPModel checkpoint" in line


def test_vocabulary_falls_back_without_cn_clip(monkeypatch):
    import baseline.vocab as vocab
    from emmel.errors import EmmelError

    monkeypatch.setattr(vocab, "cnclip_vocab_path", lambda: None)
    tokenizer, source = vocab.default_tokenizer(["剪纸(湘西剪纸)", "湘西村民的手艺"])
    assert "built from the dataset" in source and tokenizer.convert_ids_to_tokens(tokenizer("湘西")["input_ids"])[1:3] == ["湘", "西"]
    with pytest.raises(EmmelError, match="cn_clip is not installed"):
        vocab.default_tokenizer(None)


def test_predictions_files_reproduce_the_table(trained, learnable):
    """Every model, both protocols: Top-k, H@k and MRR recomputed from predictions/*.jsonl equal results.json exactly."""
    from emmel.dataset import Dataset
    from emmel.predictions import read_predictions

    folder, out, report = trained
    dataset = Dataset.load(learnable)
    test = {s.id: s.entity_id for s in dataset.samples["test"]}
    files = sorted(p.name for p in (folder / "predictions").iterdir())
    assert files == sorted(f"{m}{suffix}" for m in report["results"] for suffix in (".jsonl", ".kb.jsonl"))
    for name, result in report["results"].items():
        for suffix, protocol, split, ks, prefix in ((".jsonl", "candidates", "test", (1, 5, 10), "top"),
                                                      (".kb.jsonl", "kb", "kb", (1, 3, 5, 10, 20), "h")):
            lines = [p for _, p in read_predictions(folder / "predictions" / f"{name}{suffix}")]
            assert sorted(p.sample_id for p in lines) == sorted(test) and all(p.gold == test[p.sample_id] for p in lines)
            assert all(p.protocol == protocol and 1 <= len(p.ranked) <= 10 for p in lines)
            ranks = [p.gold_rank for p in lines]
            for k in ks:
                assert round(100.0 * sum(1 for r in ranks if r is not None and r <= k) / len(ranks), 2) == result[split][f"{prefix}{k}"]
            if protocol == "kb":
                assert round(100.0 * sum(1.0 / r for r in ranks if r is not None) / len(ranks), 2) == result["kb"]["mrr"]
                assert None not in ranks and round(sum(ranks) / len(ranks), 2) == result["kb"]["mr"]  # the whole-KB ranking is complete
            slots = {"mcr": {"text", "visual"}, "text-only": {"text"}, "lexical": {"lexical"}}.get(name, {"visual"})
            assert all(set(r.scores) == slots for p in lines for r in p.ranked)
            # the listed top entities agree with gold_rank where the gold is among them
            assert all(p.ranked[p.gold_rank - 1].id == p.gold for p in lines if p.gold_rank and p.gold_rank <= len(p.ranked))
    mcr = [p for _, p in read_predictions(folder / "predictions" / "mcr.jsonl")]
    assert all(r.scores["visual"] <= 1.0 and 0.0 <= r.score <= 1.0 for p in mcr for r in p.ranked)  # cosines; fused softmax mix
    assert "predictions/" in out


def test_seeds_give_mean_and_standard_deviation(tiny_dataset, tmp_path):
    code, out, err = cli("benchmark", tiny_dataset, "--epochs", "1", "--models", "lexical,text-only", "--seeds", "2", "--seed", "5",
                         "--out", tmp_path / "seeds")
    assert code == 0, err
    report = json.loads((tmp_path / "seeds" / "results.json").read_text(encoding="utf-8"))
    assert report["seeds"] == [5, 6] and [r["seed"] for r in report["seed_runs"]] == [5, 6]
    assert "seed 6 (run 2 of 2)" in err
    for result in report["results"].values():
        per_seed = result["seeds"]
        assert [r["seed"] for r in per_seed] == [5, 6]
        for split in ("dev", "test"):
            for metric, mean in result[split].items():
                values = [r[split][metric] for r in per_seed]
                assert mean == round(sum(values) / 2, 2)
                assert result["std"][split][metric] == round(abs(values[0] - values[1]) / 2 ** 0.5, 2)
    assert all(v == 0.0 for v in report["results"]["lexical"]["std"]["test"].values())  # nothing random in BM25
    top1 = report["results"]["text-only"]
    assert f"{top1['test']['top1']:.1f} ± {top1['std']['test']['top1']:.1f}" in out and "over 2 runs with seeds 5, 6" in out
    # predictions and models are the first seed's run
    first = [json.loads(line)["gold_rank"] for line in (tmp_path / "seeds" / "predictions" / "text-only.jsonl").read_text().splitlines()]
    assert round(100.0 * sum(r == 1 for r in first) / len(first), 2) == top1["seeds"][0]["test"]["top1"]
    line = error_line(*cli("benchmark", tiny_dataset, "--seeds", "0", "--out", tmp_path / "bad"))
    assert "--seeds must be a positive integer" in line
