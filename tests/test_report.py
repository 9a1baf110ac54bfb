"""`RESULTS/report.html` of `emmel benchmark`, opened in a real browser (headless Chromium): it renders
with its images, filters the case study by outcome, uses no network and agrees with the run's files."""

from __future__ import annotations

import contextlib
import html as html_lib
import io
import json
import re
from pathlib import Path

import pytest

from emmel.cli import main
from emmel.predictions import read_predictions
from tests.synth.learnable import LearnableConfig, write_learnable
from tests.view_fixtures import PageProblems

TINY = LearnableConfig(crafts=2, places=2, train_per_entity=4, dev_per_entity=1, test_per_entity=2, candidates=4, min_side=64, max_side=96)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A one-epoch run of MCR, its ablations and the lexical baseline (whole KB too), as a user starts it."""
    data = write_learnable(tmp_path_factory.mktemp("report") / "synth", TINY, plots=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["benchmark", str(data), "--epochs", "1", "--models", "lexical,text-only,image-only,mcr", "--full-kb",
                     "--no-save-models", "--threads", "1", "--out", str(data.parent / "run")])
    assert code == 0, err.getvalue()
    assert "report.html" in out.getvalue()
    return data.parent / "run"


def test_report_renders_with_images_and_filters_by_outcome(run, chromium, tmp_path):
    mcr = {p.sample_id: p for _, p in read_predictions(run / "predictions" / "mcr.jsonl")}
    with PageProblems(chromium, (run / "report.html").as_uri()) as page:
        images = page.images()
        assert len(images) == 2 + len(mcr)  # the two plots, one thumbnail per test query
        assert all(i["width"] > 0 and i["src"].startswith("data:image/") for i in images)
        shot = tmp_path / "report.png"
        page.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000

        def shown() -> list[str]:
            return page.page.eval_on_selector_all(".case:not([hidden]) .sid", "nodes => nodes.map(n => n.textContent)")

        assert sorted(shown()) == sorted(mcr)
        page.page.click("button[data-filter=wrong]")
        assert sorted(shown()) == sorted(s for s, p in mcr.items() if not p.correct)
        page.page.click("button[data-filter=correct]")
        assert sorted(shown()) == sorted(s for s, p in mcr.items() if p.correct)
        assert page.page.inner_text("#case-count") == f"{sum(p.correct for p in mcr.values())} of {len(mcr)} shown"
        page.page.click("button[data-filter=all]")
        one = next(iter(mcr))
        page.page.fill("#case-search", page.page.inner_text(f".case:has(.sid:text-is('{one}')) .text"))
        assert one in shown()
        assert page.errors == []  # no console error, no blocked resource, no failed load


def test_report_agrees_with_the_run_files(run):
    html = (run / "report.html").read_text(encoding="utf-8")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    # the results table: every cell of results.md's table is in the page
    for row in results["table"]["rows"]:
        for value in row:
            assert f">{value}<" in html or f">{value} <" in html, value
    # per-category Top-1 counts every test query once; the case study has one card per query
    tests = results["dataset"]["samples"]["test"]
    counts = [int(n) for n in re.findall(r'<td class="num">(\d+)</td><td class="share">', html)]
    assert sum(counts) == tests
    assert html.count('<article class="case ') == tests
    # self-contained and offline: nothing is fetched, a strict policy forbids anything else
    assert not re.search(r'(src|href)="(https?:)?//', html)
    policy = html_lib.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1))
    assert policy.startswith("default-src 'none'; img-src data:;") and "unsafe" not in policy


def test_case_choice_and_confused_pairs():
    from emmel.predictions import Prediction, Ranked
    from pages.report import confused_pairs, pick_cases

    def pred(sid: str, gold: str, top: str) -> Prediction:
        ranked = (Ranked(top, 0.9, {}),) if top == gold else (Ranked(top, 0.9, {}), Ranked(gold, 0.5, {}))
        return Prediction(sid, gold, 1 if top == gold else 2, ranked)

    preds = {p.sample_id: p for p in [pred("S1", "A", "B"), pred("S2", "A", "B"), pred("S3", "B", "A"), pred("S4", "C", "C"),
                                      pred("S5", "C", "A"), pred("S6", "D", "D"), pred("S7", "D", "D")]}
    # A → B twice and B → A once: one pair, oriented by its more frequent direction; then C → A
    assert confused_pairs(preds) == [(("A", "B"), 2, 1), (("C", "A"), 1, 0)]
    # more queries than the limit: half wrong, half right, in sample order
    assert [p.sample_id for p in pick_cases(preds, limit=4)] == ["S1", "S2", "S4", "S6"]
    assert [p.sample_id for p in pick_cases(preds, limit=6)] == ["S1", "S2", "S3", "S4", "S6", "S7"]
    assert len(pick_cases(preds, limit=100)) == 7
