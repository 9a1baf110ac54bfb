"""`emmel view`: the static site of a built dataset, checked in a real headless Chromium.

One dataset is built from the messy raw source (duplicates, broken files, traditional characters),
one run folder is written in the benchmark's predictions format, and one site is made with small
pages so every list paginates.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from emmel.build import run_build
from emmel.cli import main
from emmel.config import load_config
from emmel.dataset import Dataset
from pages.dataset_site import SiteOptions, build_site, safe_name
from tests.helpers import run_emmel
from tests.messy import make_messy_source
from tests.view_fixtures import PageProblems, write_run

ROOT = Path(__file__).resolve().parents[1]
SMALL = SiteOptions(per_page=4, rows_per_page=3, groups_per_page=2, workers=1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    raw = root / "web"
    make_messy_source(raw)
    config = load_config(None, ["candidates.size=5", "split.dev=0.2", "split.test=0.2", "split.train=0.6"])
    run_build([raw], root / "EMMEL", config, plots=True)
    run = write_run(root / "run", root / "EMMEL")
    return root, raw, root / "EMMEL", run


@pytest.fixture(scope="module")
def site(built):
    root, raw, dataset, run = built
    report = build_site(dataset, root / "site", results=run, sources=[raw], options=SMALL)
    return report.out, Dataset.load(dataset), report


def uri(folder: Path, rel: str) -> str:
    base = (folder / rel.split("?")[0]).resolve().as_uri()
    return base + ("?" + rel.split("?", 1)[1] if "?" in rel else "")


def entity_id(dataset, label: str) -> str:
    return next(e.id for e in dataset.kb if e.label == label)


def test_report_and_layout(site):
    out, dataset, report = site
    assert report.pages > 40 and report.placeholders > 0  # the broken raw images of rejects are placeholders
    for rel in ("index.html", "entities.html", "graph.html", "train.html", "dev.html", "test.html", "rejects.html",
                "duplicates.html", "results.html", "search.html", "assets/site.css", "assets/search-index.js", "site.json"):
        assert (out / rel).is_file(), rel
    for s in dataset.all_samples():
        assert (out / "sample" / f"{safe_name(s.id)}.html").is_file()
        assert (out / s.image).is_file() and (out / s.image).stat().st_ino == (Path(dataset.root) / s.image).stat().st_ino  # hard link
    thumbs = list((out / "thumbs").rglob("*.jpg"))
    assert thumbs and all(p.stat().st_size < 20_000 for p in thumbs)


def test_every_kind_of_page_loads_cleanly_with_its_images(chromium, site):
    out, dataset, _ = site
    test_sample = min(dataset.samples["test"], key=lambda s: s.id)
    pages = ["index.html", "entities.html", "entities-p2.html", f"entity/{entity_id(dataset, '春节(查干萨日)')}.html", "graph.html",
             "train.html", "train-p2.html", f"sample/{test_sample.id}.html", "rejects.html", "rejects/near_duplicate_image.html",
             "rejects/not_an_image.html", "duplicates.html", "results.html", "results/mcr.html", "search.html?q=春节"]
    pages.append("graph/" + next(p.name for p in sorted((out / "graph").glob("*.html"))))
    with PageProblems(chromium, uri(out, "index.html")) as p:
        for rel in pages:
            p.goto(uri(out, rel))
            images = p.images()
            assert p.errors == [], (rel, p.errors)
            assert all(img["width"] > 0 for img in images), (rel, [i for i in images if not i["width"]])
            assert p.page.title() and p.page.locator("h1").count() == 1
        p.goto(uri(out, "index.html"))
        counts = dataset.counts()
        text = p.page.inner_text("#accounting")
        assert f"input {counts['input_records']}" in text and f"kept {counts['kept']}" in text and "balanced" in text
        assert len([i for i in p.images() if "plots/" in i["src"]]) == 3  # the card's plots


def test_screenshot_of_a_sample_page(chromium, site, tmp_path):
    """The screenshot docs/img/view-sample.png is made here (EMMEL_DOCS_SCREENSHOT=1 writes it into docs/img)."""
    out, dataset, _ = site
    sample = min(dataset.samples["test"], key=lambda s: s.id)
    target = ROOT / "docs" / "img" / "view-sample.png" if os.environ.get("EMMEL_DOCS_SCREENSHOT") else tmp_path / "shot.png"
    with PageProblems(chromium, uri(out, f"sample/{sample.id}.html")) as p:
        assert all(img["width"] > 0 for img in p.images())
        p.page.set_viewport_size({"width": 1120, "height": 860})
        p.page.screenshot(path=str(target), type="png")
        assert p.errors == []
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 300_000


def test_search_finds_an_entity_by_label_and_a_sample_by_text(chromium, site):
    out, dataset, _ = site
    with PageProblems(chromium, uri(out, "search.html?q=查干萨日")) as p:
        entities = p.page.locator(".results.entities .hit a")
        assert "春节(查干萨日)" in entities.all_inner_texts()
        entities.filter(has_text="春节(查干萨日)").first.click()
        p.page.wait_for_load_state("load")
        assert p.page.inner_text("h1") == "春节(查干萨日)"
        assert p.errors == []
    sample = next(s for s in dataset.all_samples() if s.text.startswith("苗族银角头饰"))
    with PageProblems(chromium, uri(out, "index.html")) as p:  # the search box of every page
        p.page.fill("header input[name=q]", "银角头饰")
        p.page.press("header input[name=q]", "Enter")
        p.page.wait_for_selector(".results.samples .hit")
        hits = p.page.locator(".results.samples .hit a")
        assert any("银角头饰" in t for t in hits.all_inner_texts())
        hits.first.click()
        p.page.wait_for_load_state("load")
        assert p.page.inner_text(".quote") == sample.text
        # typing refines the results in place
        p.page.goto(uri(out, "search.html"))
        p.page.fill("#q", "剪纸")
        p.page.wait_for_selector(".results.entities .hit")
        assert all("剪纸" in t for t in p.page.locator(".results.entities .hit a").all_inner_texts())
        assert p.errors == []


def test_pagination(chromium, site):
    out, dataset, _ = site
    train = [s for s in dataset.samples["train"] if s.augmented_from is None]
    with PageProblems(chromium, uri(out, "train.html")) as p:

        def cards():
            return [a.get_attribute("href") for a in p.page.locator(".grid .card .text a").all()]

        first = cards()
        assert len(first) == SMALL.per_page
        assert p.page.inner_text(".pager .range").startswith(f"1–{SMALL.per_page} of {len(train)}")
        p.page.locator(".pager a.next").first.click()
        p.page.wait_for_load_state("load")
        assert p.page.url.endswith("train-p2.html")
        second = cards()
        assert len(second) == SMALL.per_page and set(second).isdisjoint(first)
        assert p.page.inner_text(".pager span.current") == "2"
        last = -(-len(train) // SMALL.per_page)
        p.page.locator(f".pager a:text-is('{last}')").first.click()
        p.page.wait_for_load_state("load")
        assert p.page.locator("a.next").count() == 0 and p.page.locator("a.prev").count() == 2
        seen = len(p.page.locator(".grid .card").all())
        assert seen == len(train) - (last - 1) * SMALL.per_page
        assert p.errors == []


def test_rejects_gallery_shows_the_duplicate_pair(chromium, site):
    out, dataset, _ = site
    dupes = [r for r in dataset.rejects if r.reason == "near_duplicate_image"]
    with PageProblems(chromium, uri(out, "rejects/near_duplicate_image.html")) as p:
        boxes = p.page.locator(".pair-box")
        assert boxes.count() == min(SMALL.groups_per_page, len(dupes))
        first = boxes.first
        images = [img["src"] for img in p.images()]
        assert len(images) == 2 * boxes.count() and all("thumbs/" in src for src in images)  # both sides are real images
        assert all(i["width"] > 0 for i in p.images())
        kept = first.locator(".card").nth(1).locator(".text a")
        assert kept.get_attribute("href") == f"../sample/{dupes[0].duplicate_of}.html"
        kept.click()
        p.page.wait_for_load_state("load")
        assert "Rejected as duplicates of this sample" in p.page.inner_text("main")
        assert p.errors == []


def test_predictions_and_relations(chromium, site, built):
    out, dataset, _ = site
    sample = min(dataset.samples["test"], key=lambda s: s.id)
    with PageProblems(chromium, uri(out, f"sample/{sample.id}.html")) as p:
        text = p.page.inner_text("#predictions").lower()  # headers are upper-cased by CSS
        assert "mcr" in text and "clip-zeroshot" in text and "visual" in text
        gold = dataset.entities[sample.entity_id].label
        rows = p.page.locator("#predictions tr.gold").all_inner_texts()
        assert all(gold in r for r in rows)
        assert p.page.locator("#candidates li.gold").inner_text().startswith(gold)
    with PageProblems(chromium, uri(out, f"entity/{entity_id(dataset, '春节(查干萨日)')}.html")) as p:
        facts = p.page.inner_text("table.kv")
        assert re.search(r"variant of\s+春节", facts) and "民俗" in facts
        p.page.get_by_role("link", name="春节", exact=True).first.click()
        p.page.wait_for_load_state("load")
        assert p.page.inner_text("h1") == "春节" and "春节(查干萨日)" in p.page.inner_text("table.kv")  # variants, reversed
    with PageProblems(chromium, uri(out, "results/mcr.html")) as p:  # the hardest queries first
        ranks = [10**9 if r == "–" else int(r) for r in p.page.locator("tbody tr td:nth-child(6)").all_inner_texts()]
        assert ranks and ranks == sorted(ranks, reverse=True)


def test_deterministic_and_thumbnails_reused(built, site, tmp_path):
    _, raw, dataset, run = built
    out, _, _ = site
    again = build_site(dataset, tmp_path / "again", results=run, sources=[raw], options=SMALL).out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (again / rel).read_bytes(), rel
    thumb = next(p for p in (again / "thumbs").rglob("*.jpg")).relative_to(again)
    inode = (again / thumb).stat().st_ino
    build_site(dataset, again, results=run, sources=[raw], options=SMALL, overwrite=True)
    assert (again / thumb).stat().st_ino == inode  # taken over from the site it replaced, not made again


def test_overwrite_replaces_only_a_site(built, tmp_path, capsys):
    dataset = built[2]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["view", str(dataset), "--out", str(mine), "--overwrite"]) == 2
    assert "refusing to replace a folder emmel did not write" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"
    for bad, why in ((dataset, "input itself"), (dataset / "site", "must be outside"), (dataset.parent, "holds the input")):
        assert main(["view", str(dataset), "--out", str(bad), "--overwrite"]) == 2
        assert why in capsys.readouterr().err
    site = tmp_path / "site"
    assert main(["view", str(dataset), "--out", str(site)]) == 0
    assert main(["view", str(dataset), "--out", str(site)]) == 2
    assert "use --overwrite" in capsys.readouterr().err
    assert main(["view", str(dataset), "--out", str(site), "--overwrite"]) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_cli_prints_where_the_site_is(built, tmp_path):
    _, raw, dataset, run = built
    result = run_emmel("view", dataset, "--results", run, "--sources", raw, "--out", tmp_path / "s", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"open {(tmp_path / 's' / 'index.html').resolve().as_uri()}" in result.stdout
    assert "pages" in result.stdout and "thumbnails" in result.stdout


def test_thumbnails_are_small_oriented_jpegs():
    """Thumbnails go through emmel's one image opener: EXIF orientation applied, large JPEGs decoded reduced."""
    import io

    from PIL import Image

    from pages.thumbs import SIZE, render_thumbnail

    image = Image.new("RGB", (1600, 1000), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned by 90°: portrait
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    thumb = Image.open(io.BytesIO(render_thumbnail(buffer.getvalue())))
    assert thumb.format == "JPEG" and thumb.size == (SIZE * 1000 // 1600, SIZE)
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))  # transparent: composited on white
    buffer = io.BytesIO()
    rgba.save(buffer, format="PNG")
    assert Image.open(io.BytesIO(render_thumbnail(buffer.getvalue()))).getpixel((5, 5))[0] > 240


def test_suspect_scores_have_room_on_sample_pages():
    """A sample flagged by a mismatch model (an optional ``suspect`` field, added by the build later) gets a badge and its scores."""
    from emmel.schema import Sample
    from pages.site_samples import suspect_section

    sample = Sample(id="S1", image="images/x.jpg", text="t", entity_id="E1", split="test")
    assert suspect_section(sample) is None
    sample.suspect = {"image_text": 0.123456, "image_label": 0.2, "entity_median": 0.71, "note": "<b>x</b>"}
    html = suspect_section(sample)
    assert "0.123" in html and "0.710" in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html
