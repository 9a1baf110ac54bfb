"""`report.html` against hostile data: markup and script in labels, categories and texts stays text,
and missing or broken images leave a note instead of breaking the page (headless Chromium)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

import tests.dataset_factory as factory
from emmel.cli import main
from emmel.dataset import Dataset
from tests.view_fixtures import PageProblems

MARKUP = "<script>alert('label')</script>"
TEXT = "\"><img src=x onerror=alert('text')></style><b>粗</b>"


@pytest.fixture(scope="module")
def run(tmp_path_factory, monkeypatch_module) -> tuple[Path, Dataset]:
    """A lexical-only run (no training, images unread) on a dataset whose labels, categories and texts carry markup."""
    monkeypatch_module.setattr(factory, "ENTITIES", [(f"{label}{MARKUP}", f"{category}</td><td>", region)
                                                     for label, category, region in factory.ENTITIES])
    monkeypatch_module.setattr(factory, "TEXTS", [t + TEXT for t in factory.TEXTS])
    root = tmp_path_factory.mktemp("hostile report")
    data = factory.make_dataset(root / "数据 <集>", n_entities=6, samples_per_entity=4, lam=4, seed=2)
    dataset = Dataset.load(data)
    test = sorted(dataset.samples["test"], key=lambda s: s.id)
    (data / test[0].image).unlink()  # missing
    (data / test[1].image).write_bytes(b"not an image at all")  # undecodable
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["benchmark", str(data), "--models", "lexical", "--no-save-models", "--out", str(root / "run")])
    assert code == 0, err.getvalue()
    return root / "run", dataset


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_markup_in_the_data_is_shown_as_text(run, chromium):
    folder, dataset = run
    with PageProblems(chromium, (folder / "report.html").as_uri()) as page:
        assert page.errors == []  # no alert dialog, no script error, nothing blocked or fetched
        cards = page.page.locator(".case")
        assert cards.count() == len(dataset.samples["test"])
        shown = page.page.inner_text("#cases")
        assert MARKUP in shown and "onerror=alert('text')" in shown and "</td><td>" in page.page.inner_text("#categories")
        assert page.page.locator("script").count() == 1 and page.page.locator("#cases img[src='x']").count() == 0
        bold = page.page.eval_on_selector_all("#cases b", "nodes => nodes.map(n => n.textContent)")
        assert bold and set(bold) == {"gold: "}  # the page's own <b> only, never the data's


def test_missing_and_broken_images_leave_a_note(run, chromium):
    folder, dataset = run
    test = sorted(dataset.samples["test"], key=lambda s: s.id)
    with PageProblems(chromium, (folder / "report.html").as_uri()) as page:
        missing = page.page.inner_text(f".case:has(.sid:text-is('{test[0].id}')) .shot")
        broken = page.page.inner_text(f".case:has(.sid:text-is('{test[1].id}')) .shot")
        assert "image unavailable (missing_image)" in missing and "image unavailable" in broken and "missing" not in broken
        assert all(i["width"] > 0 for i in page.images())  # the other thumbnails still show
        assert page.errors == []


def test_a_failing_report_never_costs_the_run(run, tmp_path, monkeypatch, capsys):
    """A bug in the page is a warning: results, predictions and models are still written."""
    _, dataset = run

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("pages.report.render", broken)
    assert main(["benchmark", str(dataset.root), "--models", "lexical", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "warning: pages.report.write_report failed (RuntimeError: boom); the results are written without it" in captured.err
    assert (tmp_path / "run" / "results.json").is_file() and (tmp_path / "run" / "predictions" / "lexical.jsonl").is_file()
    assert not (tmp_path / "run" / "report.html").exists() and "report.html" not in captured.out
