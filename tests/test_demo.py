"""The main job end to end: `emmel demo` crawls the bundled mirror, OCRs the bundled book,
builds, round-trips through the Label Studio format and benchmarks (1 epoch), in a subprocess
as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

from emmel.dataset import Dataset
from emmel.integrity import check
from tests.helpers import run_emmel

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_the_whole_chain(tmp_path):
    out = tmp_path / "demo"
    result = run_emmel("demo", "--out", out, "--quick", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("[1/6] crawl", "[2/6] OCR", "[3/6] build", "[4/6] Label Studio", "[5/6] benchmark", "[6/6] browse"):
        assert stage in result.stdout
    assert "byte-identical manifest" in result.stdout
    dataset = Dataset.load(out / "EMMEL")
    assert check(out / "EMMEL") == []
    kinds = {s.source.get("kind") for s in dataset.all_samples()}
    assert {"web", "book"} <= kinds  # both the crawl and the OCR'd book made it into the dataset
    assert len(dataset.kb) >= 30 and dataset.samples["test"]
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text(encoding="utf-8"))
    originals = [s for s in dataset.all_samples() if s.augmented_from is None]
    assert len(tasks) == len(originals)  # one review task per original sample, all splits
    results = json.loads((out / "results" / "results.json").read_text(encoding="utf-8"))
    assert "mcr" in json.dumps(results)
    assert (out / "results" / "results.md").read_text(encoding="utf-8").count("|") > 20
    assert "MCR (text-text + visual-text)" in result.stdout
    site = out / "site"
    assert f"site:               {site / 'index.html'}" in result.stdout
    marker = json.loads((site / "site.json").read_text(encoding="utf-8"))
    assert marker["results"] is True and marker["samples"] == len(list(dataset.all_samples()))
    assert (site / "results.html").is_file() and any((site / "rejects").glob("*.html"))
    # the demo ends with the table, the lexical baseline in it; predictions and the report beside results.md
    tail = result.stdout[result.stdout.index("=== done"):]
    assert "| Lexical (BM25 over character n-grams)" in tail and "| MCR (text-text + visual-text)" in tail
    assert sorted(p.name for p in (out / "results" / "predictions").iterdir()) == sorted(f"{m}.jsonl" for m in results["results"])
    assert (out / "results" / "report.html").stat().st_size > 10_000
