"""Hostile inputs to `emmel view`: markup and script in every text field, ids that are paths,
missing/broken/unsafe images, odd output paths, malformed run folders, a kill mid-run."""

from __future__ import annotations

import json
import shutil

import pytest

from emmel.cli import main
from emmel.dataset import Dataset
from emmel.io import stable_id
from emmel.schema import Entity, Reject
from pages.dataset_site import SiteOptions, build_site, safe_name
from tests.dataset_factory import build_dataset
from tests.view_fixtures import PageProblems, write_run

EVIL_LABEL = '春节<script>alert("label")</script>'
EVIL_TEXT = "图为</script><img src=x onerror=alert('text')>春节\u2028'&amp;"
EVIL_ALIAS = '"><svg onload=alert(1)>'
EVIL_ENTITY_ID = "E<b>x</b>/../../1"
EVIL_SAMPLE_ID = 'S"><script>alert(5)</script>'
EVIL_REASON = "<i>odd_reason</i>"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A valid dataset whose strings are hostile, then three images damaged on disk."""
    root = tmp_path_factory.mktemp("hostile")
    staging = root / "staging"
    staging.mkdir()
    ds = build_dataset(staging, n_entities=6, samples_per_entity=3, lam=4)
    old_id = ds.kb[0].id
    evil = Entity(id=EVIL_ENTITY_ID, label=EVIL_LABEL, aliases=[EVIL_ALIAS], category='"/><svg onload=alert(2)>',
                  region="贵州省</title><script>alert(3)</script>县", description=EVIL_TEXT,
                  source_urls=["javascript:alert(6)", "https://example.org/a\"onmouseover=alert(7)"])
    ds.kb[0] = evil
    for split in ds.samples.values():
        for s in split:
            if s.entity_id == old_id:
                s.entity_id = EVIL_ENTITY_ID
    for cands in ds.candidates.values():
        for sid, ids in cands.items():
            cands[sid] = [EVIL_ENTITY_ID if e == old_id else e for e in ids]
    target = ds.samples["test"][0]
    for cands in ds.candidates.values():
        if target.id in cands:
            cands[EVIL_SAMPLE_ID] = cands.pop(target.id)
    target.id, target.text = EVIL_SAMPLE_ID, EVIL_TEXT
    target.source = {"name": "raw", "url": "javascript:alert(8)", "note": "<script>alert(9)</script>"}
    ds.rejects.append(Reject(record="raw/records.jsonl:99</script>", reason=EVIL_REASON, detail=EVIL_TEXT, source="raw",
                             duplicate_of=EVIL_SAMPLE_ID))
    ds.meta["input_records"] += 1
    ds.meta["name"] = 'EMMEL "<b>hostile</b>"'
    folder = ds.save(root / "EMMEL")
    shutil.rmtree(staging)
    # damage three images of train samples after the fact: deleted, garbage bytes, a path that leaves the folder
    train = sorted((s for s in Dataset.load(folder).samples["train"] if s.augmented_from is None), key=lambda s: s.id)
    (folder / train[0].image).unlink()
    (folder / train[1].image).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    lines = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()
    lines = [line.replace(train[2].image, "../../../etc/passwd") if train[2].id in line else line for line in lines]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder, train[:3]


@pytest.fixture(scope="module")
def hostile_site(hostile, tmp_path_factory):
    folder, damaged = hostile
    report = build_site(folder, tmp_path_factory.mktemp("hsite") / "site", options=SiteOptions(workers=1))
    return report, Dataset.load(folder), damaged


def test_markup_in_the_data_stays_text(chromium, hostile_site):
    report, _, _ = hostile_site
    out = report.out
    pages = ["index.html", "entities.html", f"entity/{safe_name(EVIL_ENTITY_ID)}.html", f"sample/{safe_name(EVIL_SAMPLE_ID)}.html",
             "test.html", "graph.html", "rejects.html", f"rejects/{safe_name(EVIL_REASON)}.html", "duplicates.html",
             "search.html?q=" + "%3Cscript%3E"]
    assert safe_name(EVIL_ENTITY_ID).startswith("_") and "/" not in safe_name(EVIL_ENTITY_ID)
    with PageProblems(chromium, (out / "index.html").as_uri()) as p:
        for rel in pages:
            path, _, query = rel.partition("?")
            p.goto((out / path).as_uri() + (f"?{query}" if query else ""))
            checks = p.page.evaluate("""() => ({
                inline: document.querySelectorAll('script:not([src])').length,
                srcs: [...document.scripts].map(s => s.getAttribute('src')),
                handlers: document.querySelectorAll('[onerror],[onload],[onmouseover]').length,
                js_links: document.querySelectorAll('a[href^="javascript:" i]').length,
                injected: document.querySelectorAll('main i, svg, img[src="x"], b > b').length,
            })""")
            assert checks["inline"] == 0 and checks["handlers"] == 0 and checks["js_links"] == 0 and checks["injected"] == 0, (rel, checks)
            assert all("assets/" in s for s in checks["srcs"]), checks
            assert "<script>alert" not in p.page.content()
            assert p.errors == [], (rel, p.errors)
        p.goto((out / "entity" / f"{safe_name(EVIL_ENTITY_ID)}.html").as_uri())
        assert p.page.inner_text("h1") == EVIL_LABEL
        assert EVIL_ALIAS in p.page.inner_text("table.kv") and "javascript:alert(6)" in p.page.inner_text("table.kv")
        p.goto((out / "sample" / f"{safe_name(EVIL_SAMPLE_ID)}.html").as_uri())
        assert p.page.inner_text(".quote") == EVIL_TEXT.replace("\u2028", "\n") or p.page.inner_text(".quote").startswith("图为</script>")
        assert p.page.title().startswith("图为</script>")


def test_search_index_is_inert_and_finds_hostile_labels(chromium, hostile_site):
    report, _, _ = hostile_site
    index = (report.out / "assets" / "search-index.js").read_text(encoding="utf-8")
    assert "<" not in index and ">" not in index and "\u2028" not in index
    with PageProblems(chromium, (report.out / "search.html").as_uri()) as p:
        p.page.fill("#q", "alert(\"label")
        p.page.wait_for_selector(".results.entities .hit")
        assert p.page.locator(".results.entities .hit a").first.inner_text() == EVIL_LABEL
        p.page.fill("#q", "onerror")
        p.page.wait_for_selector(".results.samples .hit")
        assert p.page.locator(".results.samples .hit a").first.inner_text().startswith("图为</script><img")
        assert p.errors == []


def test_missing_broken_and_unsafe_images_get_placeholders(chromium, hostile_site):
    report, _, damaged = hostile_site
    assert report.placeholders == 3
    assert any("3 sample image(s) missing or unreadable" in w for w in report.warnings)
    assert any("unsafe image path" in w for w in report.warnings)
    assert not (report.out / "etc").exists() and not any("passwd" in p.name for p in report.out.rglob("*"))
    expected = {damaged[0].id: "missing.svg", damaged[1].id: "unreadable.svg", damaged[2].id: "missing.svg"}
    with PageProblems(chromium, (report.out / "index.html").as_uri()) as p:
        for sid, placeholder in expected.items():
            p.goto((report.out / "sample" / f"{safe_name(sid)}.html").as_uri())
            images = p.images()
            assert images[0]["src"].endswith(placeholder) and images[0]["width"] > 0, images
            assert p.errors == []


@pytest.mark.parametrize("name", ["my site #1 %41 (copy) 中文", "-dash", "a'b\"c"])
def test_odd_output_paths(chromium, hostile, tmp_path, capsys, name):
    folder, _ = hostile
    out = tmp_path / "odd dir" / name
    assert main(["view", str(folder), f"--out={out}"]) == 0
    printed = capsys.readouterr().out
    index = out / "index.html"
    assert index.as_uri() in printed
    with PageProblems(chromium, index.as_uri()) as p:
        assert all(img["width"] > 0 for img in p.images())
        p.page.click("header nav a:text-is('Entities')")
        p.page.wait_for_load_state("load")
        assert p.page.url.endswith("entities.html") and p.page.locator("table tbody tr").count() > 0
        assert p.errors == []


def _prediction(dataset, k: int = 0, **change) -> dict:
    sample = sorted(dataset.samples["test"], key=lambda s: s.id)[k]
    row = {"sample_id": sample.id, "gold": sample.entity_id, "gold_rank": 1, "protocol": "candidates",
           "ranked": [{"id": sample.entity_id, "score": 0.9, "scores": {"visual": 0.5, "text": 0.7}}]}
    row.update(change)
    return row


BAD_LINES = {
    "invalid JSON": lambda d: "{not json",
    "a line must hold a JSON object": lambda d: "[1, 2]",
    "'gold_rank' must be a positive integer": lambda d: json.dumps(_prediction(d, gold_rank=0)),
    "'gold_rank' must be a positive": lambda d: json.dumps(_prediction(d, gold_rank="1")),
    "'ranked' must be a list": lambda d: json.dumps(_prediction(d, ranked={"id": "E1"})),
    "ranked[1] must be an object": lambda d: json.dumps(_prediction(d, ranked=[{"score": 1}])),
    "ranked[1].score must be a finite number": lambda d: json.dumps(_prediction(d)).replace("0.9", "NaN"),
    "'protocol' must be one of": lambda d: json.dumps(_prediction(d, protocol="<script>")),
    "is not in this dataset": lambda d: json.dumps(_prediction(d, sample_id="S-elsewhere")),
    "but ranked[1] is": lambda d: json.dumps(_prediction(d, gold="E-other")),
    "not UTF-8": lambda d: b"\xff\xfe{}",
}


@pytest.mark.parametrize("reason", list(BAD_LINES))
def test_malformed_predictions_are_one_line_errors(hostile, tmp_path, capsys, reason):
    folder, _ = hostile
    dataset = Dataset.load(folder)
    run = write_run(tmp_path / "run", folder, models=("mcr",))
    good = json.dumps(_prediction(dataset, 1))
    bad = BAD_LINES[reason](dataset)
    bad = bad if isinstance(bad, bytes) else bad.encode("utf-8")
    (run / "predictions" / "mcr.jsonl").write_bytes(good.encode() + b"\n" + bad + b"\n")
    assert main(["view", str(folder), "--results", str(run), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("emmel view: error: ") and "mcr.jsonl:line 2" in err[0] and reason in err[0], err
    assert not (tmp_path / "site").exists()


def test_broken_run_folders(hostile, tmp_path, capsys):
    folder, _ = hostile
    cases = []
    cases.append((tmp_path / "nothing", "results folder not found"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "no results.json"))
    (tmp_path / "badjson").mkdir()
    (tmp_path / "badjson" / "results.json").write_text("{oops", encoding="utf-8")
    cases.append((tmp_path / "badjson", "invalid JSON"))
    for run, message in cases:
        assert main(["view", str(folder), "--results", str(run), "--out", str(tmp_path / "site")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert main(["view", str(tmp_path / "no-dataset"), "--out", str(tmp_path / "site")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["view", str(folder), "--sources", str(tmp_path / "no-raw"), "--out", str(tmp_path / "site")]) == 2
    assert "raw source not found" in capsys.readouterr().err


def test_killed_mid_run_leaves_the_old_site(hostile, tmp_path, monkeypatch, capsys):
    folder, _ = hostile
    out = tmp_path / "site"
    assert main(["view", str(folder), "--out", str(out)]) == 0
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    import pages.site_samples

    def killed(site):
        raise KeyboardInterrupt

    monkeypatch.setattr(pages.site_samples, "write", killed)
    assert main(["view", str(folder), "--out", str(out), "--overwrite"]) == 130
    assert main(["view", str(folder), "--out", str(tmp_path / "fresh")]) == 130
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert not (tmp_path / "fresh").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]  # no temporary folder left behind


def test_samples_ids_never_name_paths():
    names = set()
    for evil in ("../../x", "a/b", "..", ".hidden", "S1-p2", "", "\x00", "E" * 200, "a\\b", "C:x"):
        name = safe_name(evil)
        assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".") and len(name) <= 80, (evil, name)
        names.add(name)
    assert len(names) == 10  # distinct ids, distinct files; S1-p2 is hashed so it cannot shadow page 2 of S1
    assert safe_name("S0123abcdef9") == "S0123abcdef9" and safe_name("S1-rotate0") == "S1-rotate0"
    assert stable_id("E", "x") == safe_name(stable_id("E", "x"))
