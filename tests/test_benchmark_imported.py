"""The field's benchmarks end to end: `emmel import` of each layout's miniature → `emmel stats --check` →
`emmel benchmark --full-kb` with tiny checkpoints of the matching kind (English CLIP + RoBERTa / XLM-R,
Chinese-CLIP + BERT for COCO-CN), the table holding the whole-KB columns beside the published numbers of
that benchmark, and the issue's "Done when" command run literally."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from emmel.cli import main
from emmel.integrity import check
from importers import ImportConfig, run_import
from tests.benchmark_layouts import NAMES, write_coco_cn, write_ghmfc, write_mimic, write_wikidiverse
from tests.helpers import run_emmel
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_bert_folder, tiny_clip_folder, tiny_hf_clip_folder, tiny_roberta_folder, tiny_xlmr_folder

# format, layout writer and its folder name (the benchmark's), the benchmark it is, checkpoints, --models
CASES = {
    "mimic": (lambda root: write_mimic(root / "WikiMEL", entities=16, mentions=(12, 6, 8)), "WikiMEL", ("clip-l14", "roberta"),
              "clip-zeroshot,text-only,mcr"),
    "ghmfc": (lambda root: write_ghmfc(root / "Richpedia-MEL"), "RichpediaMEL", ("clip-b32", "xlmr"), "image-only,mcr"),
    "wikidiverse": (lambda root: write_wikidiverse(root / "WikiDiverse"), "WikiDiverse", ("clip-b32", "roberta"), "clip-zeroshot,mcr"),
    "coco-cn": (lambda root: write_coco_cn(root / "coco-cn-version1805v1.1"), "COCO-CN", ("cn-clip", "bert"), "clip-zeroshot,mcr"),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    folders = {"clip-b32": tiny_clip_folder(root / "clip-vit-base-patch32", NAMES),
               "clip-l14": tiny_clip_folder(root / "clip-vit-large-patch14", NAMES, layout="l14"),
               "roberta": tiny_roberta_folder(root / "roberta-base", NAMES), "xlmr": tiny_xlmr_folder(root / "xlm-roberta-base", NAMES)}
    if HAVE_CNCLIP:
        folders.update({"cn-clip": tiny_hf_clip_folder(root / "chinese-clip"), "bert": tiny_bert_folder(root / "chinese-roberta")})
    return folders


def cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_imported_benchmark_runs_whole_kb_beside_the_published_numbers(name, checkpoints, tmp_path):
    write, benchmark, (clip, text), models = CASES[name]
    if clip not in checkpoints:
        pytest.skip("cn_clip (the Chinese vocab of the tiny Chinese checkpoints) not installed")
    layout = write(tmp_path)
    dataset = tmp_path / "dataset"
    run_import(name, layout.root, dataset, ImportConfig(plots=False, lam=6))
    assert check(dataset) == []  # what `emmel stats --check` runs
    code, out, err = cli("benchmark", dataset, "--full-kb", "--shortlist", "2", "--epochs", "1", "--threads", "1", "--models", models,
                         "--clip-model", checkpoints[clip], "--text-model", checkpoints[text], "--out", tmp_path / "results")
    assert code == 0, err
    report = json.loads((tmp_path / "results" / "results.json").read_text(encoding="utf-8"))
    assert report["dataset"]["benchmark"] == benchmark
    kb_size = report["dataset"]["kb_entities"]
    for row, result in report["results"].items():
        kb = result["kb"]
        hits = [kb[f"h{k}"] for k in (1, 3, 5, 10, 20)]
        assert hits == sorted(hits) and hits[0] >= 0 and hits[-1] <= 100, row
        assert 1 <= kb["mr"] <= kb_size and 0 < kb["mrr"] <= 100
        assert kb["exact"] == (row in ("clip-zeroshot", "image-only") or kb_size <= 4)
        if not kb["exact"]:  # the reranked shortlist bounds H@1..2
            assert kb["h1"] <= kb["shortlist_recall"] and kb["shortlist_mean"] <= 4
    header = next(line for line in out.splitlines() if line.startswith("| model"))
    assert all(column in header for column in ("Top-1", "KB H@1", "KB H@20", "KB MR", "KB MRR"))
    language = "zh" if name == "coco-cn" else "en"
    assert report["settings"]["prompts"]["templates"][0] == {"zh": "一张{}的照片。", "en": "a photo of {}."}[language]
    if name == "mimic":  # `emmel link` ranks one mention the same way, the mention joining the text
        from emmel.dataset import Dataset

        sample = Dataset.load(dataset).samples["test"][0]
        code, out_link, err = cli("link", tmp_path / "results" / "models" / "mcr", "--image", Dataset.load(dataset).image_path(sample),
                                  "--text", sample.text, "--mention", sample.mention, "-k", "2", "--json", "--threads", "1")
        rows = [json.loads(line) for line in out_link.splitlines()]
        assert code == 0 and [r["rank"] for r in rows] == [1, 2] and sample.mention, err  # at most the shortlist (2 + 2) is listed
    if name == "coco-cn":  # Chinese: the paper's own rows on COCO-CN (Table 3), no whole-KB literature
        assert "| CN-CLIP zero-shot" in out and "21.8" in out and "† " not in out
        return
    assert "| CLIP zero-shot" in out or "| MCR w/o text-text" in out  # an English CLIP is not called CN-CLIP
    published = {row["method"]: row for row in report["published"]}
    mimic = published["MIMIC (KDD'23)"]
    assert mimic["protocol"] == "kb" and mimic["numbers"] == {
        "WikiMEL": {"h1": 87.98, "h3": 95.07, "h5": 96.37, "mrr": 91.82},
        "RichpediaMEL": {"h1": 81.02, "h3": 91.77, "h5": 94.38, "mrr": 86.95},
        "WikiDiverse": {"h1": 63.51, "h3": 81.04, "h5": 86.43, "mrr": 73.44}}[benchmark]
    line = next(line for line in out.splitlines() if "† MIMIC (KDD'23), published" in line)
    cells = [c.strip() for c in line.strip("|").split("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert cells[columns.index("KB H@1")] == f"{mimic['numbers']['h1']:.1f}" and cells[columns.index("Top-1")] == "–"
    assert "† rows: numbers other methods published on " + benchmark in out and "not produced by this run" in out
    assert "a gold outside it ranks after the whole shortlist, by the first-stage score" in out


def test_the_done_when_command_runs_as_written(checkpoints, tmp_path):
    """`emmel import mimic WikiMEL --out WM && emmel benchmark WM --full-kb --clip-model models/clip-vit-base-patch32
    --text-model models/roberta-base`, in a folder laid out like a user's, as separate processes."""
    write_mimic(tmp_path / "WikiMEL", entities=14, mentions=(10, 5, 6))
    (tmp_path / "models").mkdir()
    for name, key in (("clip-vit-base-patch32", "clip-b32"), ("roberta-base", "roberta")):
        (tmp_path / "models" / name).symlink_to(checkpoints[key], target_is_directory=True)
    env = {"OMP_NUM_THREADS": "1", "EMMEL_PROGRESS": "off"}
    imported = run_emmel("import", "mimic", "WikiMEL", "--out", "WM", "--no-plots", cwd=tmp_path, env=env, timeout=300)
    assert imported.returncode == 0, imported.stderr
    result = run_emmel("benchmark", "WM", "--full-kb", "--clip-model", "models/clip-vit-base-patch32", "--text-model", "models/roberta-base",
                       cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "| CLIP zero-shot" in result.stdout and "† MMoE (KDD'25), published" in result.stdout and "| 90.8" in result.stdout
    assert "visual-text: transformers CLIPModel folder models/clip-vit-base-patch32" in result.stdout
    assert os.path.isfile(tmp_path / "WM-benchmark" / "models" / "mcr" / "emmel_model.json")


def test_the_manifest_says_which_benchmark_and_so_which_numbers():
    from baseline.config import MODEL_KINDS
    from baseline.references import benchmark_of, paper_row, reference_rows

    assert benchmark_of({"name": "WikiMEL"}) == "WikiMEL" and benchmark_of({"name": "Richpedia-MEL"}) == "RichpediaMEL"
    assert benchmark_of({"name": "my run", "import": {"source": "WikiDiverse"}}) == "WikiDiverse"  # --name given: the folder says it
    assert benchmark_of({"name": "EMMEL-synth"}) is None and benchmark_of({}) is None
    assert paper_row(None, MODEL_KINDS["mcr"]) == MODEL_KINDS["mcr"].paper == (77.8, 96.4, 100.0)  # EMMEL's Table 3 by default
    assert paper_row("WikiMEL", MODEL_KINDS["mcr"]) == (74.6, 83.8, 86.2) and paper_row("WikiMEL", MODEL_KINDS["text-only"]) is None
    ghmfc = next(r for r in reference_rows("RichpediaMEL") if r.method == "GHMFC")
    assert ghmfc.protocol == "candidates" and ghmfc.numbers == {"top1": 38.7, "top5": 50.9, "top10": 58.5}
    assert [r.protocol for r in reference_rows("WikiDiverse")] == ["kb"] * 5 + ["candidates"] * 2
    assert reference_rows("COCO-CN") == [] and reference_rows(None) == []
