"""MCRModel owns inference: the benchmark's evaluation and `emmel link` are one code path; configs are the one
source of the defaults (preset policy in the library, help texts read from the config objects)."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from baseline.config import MODEL_KINDS, PRESETS, RECIPES, SLOTS, BenchmarkConfig, EvalBatches, TrainConfig
from emmel.errors import EmmelError
from tests.synth.learnable import write_learnable
from tests.test_baseline_benchmark import SMALL, cli, error_line, one_thread  # noqa: F401  (one_thread: module fixture)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch benchmark through the library, every model, whole-KB protocol on; its models saved."""
    from baseline.benchmark import Benchmark

    root = tmp_path_factory.mktemp("model")
    dataset = write_learnable(root / "EMMEL-synth", SMALL, plots=False)
    bench = Benchmark(BenchmarkConfig(dataset=str(dataset), train={"epochs": 1}, full_kb=True, progress=False, threads=1,
                                      out=str(root / "out")), log=lambda line: None)
    bench.train()
    bench.evaluate()
    bench.save_models(root / "models")
    return bench, root / "models"


def _samples(bench, split: str):
    return sorted(bench.dataset.samples[split], key=lambda s: s.id)


def _in_kb_order(scores, kb_size: int):
    """ModuleScores over candidate rows → the same scores with columns in KB order (-inf where not a candidate)."""
    from baseline.model import ModuleScores

    def spread(matrix):
        out = torch.full((matrix.shape[0], kb_size + 1), float("-inf"))  # the last column takes the padding
        return out.scatter_(1, torch.where(scores.candidates >= 0, scores.candidates, kb_size), matrix.float())[:, :kb_size]

    return ModuleScores(spread(scores.fused), {slot: spread(m) for slot, m in scores.modules.items()})


def test_link_gives_the_scores_the_benchmark_evaluated(run):
    """Same (image, text, candidates) → same per-module and fused scores, through the saved model and `emmel link`."""
    from baseline.model import MCRModel

    bench, models = run
    kb_size = len(bench.kb)
    for name in ("mcr", "text-only", "image-only", "clip-zeroshot"):
        model = MCRModel.from_pretrained(models / name)
        assert model.config == bench.models[name].config  # α chosen on dev, 1/τ, lengths, image constants
        ranking, per_candidates = bench.kb_rankings[name], bench.scores[name]["test"]
        assert ranking.exact and (ranking.shortlist >= 0).all()  # a KB this small is ranked whole: every entity scored
        whole = _in_kb_order(ranking.scores, kb_size)
        candidates = bench.splits["test"].candidates
        for i, sample in enumerate(_samples(bench, "test")):
            rows = {r["id"]: r for r in model.link(bench.dataset.image_path(sample), sample.text, k=kb_size)}
            position = {eid: p for p, eid in enumerate(bench.kb.ids)}
            got = torch.zeros(kb_size)
            for eid, row in rows.items():
                got[position[eid]] = row["score"]
                for slot, matrix in whole.modules.items():  # a module's score does not depend on the list it is in
                    assert row[f"{slot}_score"] == pytest.approx(float(matrix[i, position[eid]]), abs=1e-5)
                    column = (candidates[i] == position[eid]).nonzero()
                    if len(column):
                        assert row[f"{slot}_score"] == pytest.approx(float(per_candidates.modules[slot][i, column[0, 0]]), abs=1e-5)
            assert torch.allclose(got, whole.fused[i], atol=1e-5), (name, i)
    # the CLI prints what MCRModel.link returns
    sample = _samples(bench, "test")[0]
    code, out, err = cli("link", models / "mcr", "--image", bench.dataset.image_path(sample), "--text", sample.text, "-k", str(kb_size), "--json")
    assert code == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    model = MCRModel.from_pretrained(models / "mcr")
    assert printed == model.link(bench.dataset.image_path(sample), sample.text, k=kb_size)


def test_ablations_are_the_modules_of_mcr_and_alpha_reproduces_the_fusion(run):
    from baseline.fusion import fuse

    bench, _ = run
    mcr = bench.models["mcr"]
    for split, scores in bench.scores["mcr"].items():
        assert torch.equal(scores.modules["text"], bench.scores["text-only"][split].fused)
        assert torch.equal(scores.modules["visual"], bench.scores["image-only"][split].fused)
        cfg = mcr.config
        assert torch.equal(scores.fused, fuse(scores.modules["visual"], scores.modules["text"], cfg.alpha, cfg.normalization, cfg.visual_scale))
    # another α is the same model class sharing the modules; α = 1 ranks like the visual module alone
    visual_only = mcr.with_alpha(1.0)
    assert visual_only.scorers["visual"] is mcr.scorers["visual"] and mcr.config.alpha == bench.fusion["mcr"]["alpha"]
    test = bench.evalsets["test"]
    again = visual_only.score_queries(test.queries, test.candidates)
    assert torch.equal(again.ranks(test.gold), bench.scores["image-only"]["test"].ranks(test.gold))


def test_scoring_in_small_chunks_equals_one_pass(run):
    """Memory bound: queries are scored in chunks of at most ``chunk_pairs`` pairs, with the same result."""
    from baseline.model import MCRModel

    bench, _ = run
    big = bench.models["mcr"]
    small = MCRModel(big.config, big.kb, big.entities, big.scorers, runtime=big.runtime, batches=EvalBatches(pairs=7, images=3, labels=5, chunk_pairs=20))
    test = bench.evalsets["test"]
    for candidates in (test.candidates, None):
        a, b = big.score_queries(test.queries, candidates), small.score_queries(test.queries, candidates)
        for slot in a.modules:
            assert torch.allclose(a.modules[slot], b.modules[slot], atol=1e-5), slot
        assert torch.equal(a.ranks(test.gold if candidates is not None else bench.splits["test"].gold),
                           b.ranks(test.gold if candidates is not None else bench.splits["test"].gold))


def test_module_scores_rank_and_map_columns_to_entities():
    from baseline.model import ModuleScores

    inf = float("-inf")
    candidates = torch.tensor([[4, 2, 7], [1, 3, -1]])
    scores = ModuleScores(torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.3, inf]]), {"text": torch.tensor([[3.0, 1.0, 2.0], [0.0, 1.0, inf]])}, candidates)
    assert scores.ranks(torch.tensor([2, 1])).tolist() == [2, 2]  # a tie goes to the earlier column
    assert scores.ranks(torch.tensor([0, 1]), module="text").tolist() == [1, 1]
    columns, entities = scores.top(2)
    assert columns.tolist() == [[1, 2], [0, 1]] and entities.tolist() == [[2, 7], [1, 3]]


def test_saved_model_without_its_module_folder_is_one_line(run, tmp_path):
    bench, models = run
    broken = tmp_path / "mcr"
    shutil.copytree(models / "mcr", broken)
    shutil.rmtree(broken / "clip")
    sample = _samples(bench, "test")[0]
    line = error_line(*cli("link", broken, "--image", bench.dataset.image_path(sample), "--text", sample.text))
    assert "no clip/ folder for its visual module" in line and str(broken) in line
    shutil.copytree(models / "image-only", tmp_path / "image-only")
    (tmp_path / "image-only" / "kb_embeddings.safetensors").write_bytes(b"\x00" * 12)
    line = error_line(*cli("link", tmp_path / "image-only", "--image", bench.dataset.image_path(sample), "--text", sample.text))
    assert "unreadable KB embeddings" in line and "kb_embeddings.safetensors" in line
    line = error_line(*cli("link", models / "mcr", "--text", sample.text))
    assert "give the mention's image (--image)" in line
    line = error_line(*cli("link", models / "text-only", "--text", "   "))
    assert "the text is empty" in line
    line = error_line(*cli("link", models / "mcr", "--image", bench.dataset.image_path(sample), "--text", sample.text, "-k", "0"))
    assert "-k must be at least 1" in line


def test_preset_policy_lives_in_the_library():
    tiny = BenchmarkConfig(dataset="EMMEL").train
    assert tiny == TrainConfig.for_preset("tiny") and tiny != TrainConfig()
    for key, value in PRESETS["tiny"].train.items():
        assert getattr(tiny, key) == value, key
    assert tiny.text_negatives == 15 and tiny.epochs == 30  # what docs/benchmark.md's preset table says
    # checkpoints: the paper's settings, whichever module they are for
    assert BenchmarkConfig(dataset="EMMEL", text_model="roberta").train == TrainConfig()
    assert BenchmarkConfig(dataset="EMMEL", clip_model="clip.pt").train == TrainConfig()
    assert BenchmarkConfig(dataset="EMMEL", preset="base").train == TrainConfig.for_preset("base")
    # explicit settings win over the preset's, the others keep it; a TrainConfig is taken as given
    mixed = BenchmarkConfig(dataset="EMMEL", train={"epochs": 2, "seed": 5}).train
    assert (mixed.epochs, mixed.seed, mixed.lr, mixed.text_negatives) == (2, 5, tiny.lr, tiny.text_negatives)
    given = TrainConfig(epochs=3)
    assert BenchmarkConfig(dataset="EMMEL", train=given).train is given
    with pytest.raises(EmmelError, match="unknown training setting 'epoch'"):
        BenchmarkConfig(dataset="EMMEL", train={"epoch": 2})
    with pytest.raises(EmmelError, match="unknown normalization 'l2'"):
        BenchmarkConfig(dataset="EMMEL", normalization="l2")


class _Recorder:
    """Stands in for an argparse parser: records every option's keyword arguments."""

    def __init__(self):
        self.options: dict[str, dict] = {}

    def add_argument(self, *names, **kwargs):
        self.options[names[-1].lstrip("-")] = kwargs


def _benchmark_options() -> dict[str, dict]:
    from emmel.commands import benchmark

    recorder = _Recorder()
    benchmark.add_arguments(recorder)
    return recorder.options


def test_help_texts_show_the_config_defaults():
    from emmel.commands import benchmark

    options = _benchmark_options()
    for flag in benchmark.TRAIN_FLAGS:
        text = options[flag.replace("_", "-")]["help"]
        for preset in PRESETS:
            assert str(getattr(TrainConfig.for_preset(preset), flag)) in text, (flag, preset, text)
        assert str(getattr(TrainConfig.for_preset(None), flag)) in text, (flag, text)
        assert options[flag.replace("_", "-")].get("default") is None  # unset: the library decides per preset
    tiny = TrainConfig.for_preset("tiny")
    assert f"{tiny.text_negatives} with preset tiny" in options["text-negatives"]["help"]
    for flag in ("alpha", "normalization", "preset"):
        value = BenchmarkConfig.default(flag)
        assert f"(default: {value}" in options[flag]["help"] and str(options[flag]["default"]) == str(value)
    assert options["models"]["default"].split(",") == BenchmarkConfig.default("models") == list(MODEL_KINDS)
    # the rendered help shows them too, and a parse without flags gives the library's own config
    parser = argparse.ArgumentParser()
    benchmark.add_arguments(parser)
    assert "15 with preset tiny" in " ".join(parser.format_help().split())
    args = parser.parse_args(["EMMEL"])
    assert benchmark.train_settings(args) == {}
    assert BenchmarkConfig(dataset="EMMEL", train=benchmark.train_settings(args)).train == BenchmarkConfig(dataset="EMMEL").train


def test_link_help_texts_show_the_library_defaults():
    from baseline.config import DEFAULT_DEVICE, LINK_MODEL, LINK_TOP_K
    from baseline.model import MCRModel
    from emmel.commands import link

    recorder = _Recorder()
    link.add_arguments(recorder)
    for flag, value in (("k", LINK_TOP_K), ("model", LINK_MODEL), ("device", DEFAULT_DEVICE)):
        assert recorder.options[flag]["default"] == value and f"(default: {value})" in recorder.options[flag]["help"]
    import inspect

    assert inspect.signature(MCRModel.link).parameters["k"].default == LINK_TOP_K


def test_registries_agree():
    from baseline.scorers import SCORERS

    assert set(SCORERS) == set(SLOTS)
    for kind in MODEL_KINDS.values():
        for slot, key in kind.modules.items():
            assert slot in SLOTS and RECIPES[key].slot == slot, (kind.name, slot, key)
    assert [r.seed_offset for r in RECIPES.values() if r.trained] == sorted({r.seed_offset for r in RECIPES.values() if r.trained})


def test_results_record_the_settings_that_ran(run):
    bench, _ = run
    report = bench.report()
    assert report["settings"]["train"] == asdict(TrainConfig.for_preset("tiny", epochs=1))
    assert report["settings"]["eval_batches"] == asdict(EvalBatches())
    assert sorted(report["training"]) == sorted(r.key for r in RECIPES.values() if r.trained)
    assert Path(bench.out).name == "out" and not Path(bench.out).exists()  # evaluation alone writes nothing
