"""The generated site mirror (tests.synth.mirror) and its server (crawlers.mirror_server)."""

from __future__ import annotations

import csv
import http.client
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawlers.mirror_server import Routes, serve_mirror
from tests.synth.mirror import NOTE, MirrorConfig, generate, generate_mirror

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "mirror"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_and_seeded():
    files_a, manifest_a = generate(MirrorConfig.for_tests())
    files_b, _ = generate(MirrorConfig.for_tests())
    assert files_a == files_b
    files_c, manifest_c = generate(MirrorConfig.for_tests(seed=8))
    assert files_c != files_a and manifest_c["sites"]["ihchina"]["entities"] != manifest_a["sites"]["ihchina"]["entities"]


def test_bundled_mirror_is_what_the_generator_writes(tmp_path):
    """data/mirror is reproducible with `python -m tests.synth.mirror --out data/mirror`."""
    generate_mirror(tmp_path / "m", MirrorConfig())
    assert _files(tmp_path / "m") == _files(BUNDLED)


def test_bundled_mirror_content():
    manifest = json.loads((BUNDLED / "manifest.json").read_text(encoding="utf-8"))
    total = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024
    entities = [e for site in manifest["sites"].values() for e in site["entities"]]
    assert len(entities) == 40
    titles = [e["title"] for e in entities]
    assert sum(t.startswith("剪纸（") for t in titles) >= 5 and sum(t.startswith("龙舞（") for t in titles) >= 5
    assert titles.count("剪纸（广东剪纸）") == 3  # same name, three regions
    groups = {e["ethnic_group"] for e in entities}
    assert {"鄂温克族", "蒙古族", "苗族", "侗族"} <= groups
    # entity names, categories and regions are real: every one is a row of the national list
    with open(ROOT / "data" / "ihchina_national_list.csv", encoding="utf-8", newline="") as handle:
        rows = {(r["name"].replace("\xa0", " ").strip(), r["category"], r["region"]) for r in csv.DictReader(handle)}
    for e in entities:
        assert (e["title"], e["category"], e["region"]) in rows
    kinds = defaultdict(int)
    for e in entities:
        normal = [p for p in e["pictures"] if p["kind"] == "ok"]
        assert 3 <= len(normal) <= 6
        for pic in e["pictures"]:
            kinds[pic["kind"]] += 1
            if pic["caption"]:
                assert 8 <= len(pic["caption"]) <= 20
            if pic["kind"] == "ok":
                with Image.open(BUNDLED / pic["path"]) as image:
                    assert image.format == "JPEG" and all(256 <= side <= 640 for side in image.size)
    assert kinds["tiny"] == kinds["truncated"] == kinds["near_duplicate"] == 1
    assert "broken" not in kinds and "oversized" not in kinds  # test-only faults stay out of the bundle
    for e in entities:  # every page says what is generated, in its own encoding
        raw = (BUNDLED / e["page"]).read_bytes()
        text = raw.decode("gbk") if e["page"].startswith("guizhou/") else raw.decode("utf-8")
        assert NOTE in text and e["title"] in text
        if e["page"].startswith("guizhou/"):
            assert "charset=gb2312" in text
    readme = (BUNDLED / "README.md").read_text(encoding="utf-8")
    assert "generated" in readme and "python -m tests.synth.mirror --out data/mirror" in readme


def _features(path: Path) -> np.ndarray:
    """A joint 4x4x4 RGB histogram (square-rooted): palette, not layout."""
    with Image.open(path) as image:
        small = np.asarray(image.convert("RGB").resize((48, 48))) // 64
    index = small[..., 0] * 16 + small[..., 1] * 4 + small[..., 2]
    hist = np.bincount(index.ravel(), minlength=64).astype(np.float32)
    return np.sqrt(hist / hist.sum())


def test_pictures_of_one_entity_share_a_visual_signature():
    """A nearest-centroid classifier on colour histograms recognises the entity of a held-out
    picture far above chance: the images carry a learnable per-entity signal."""
    manifest = json.loads((BUNDLED / "manifest.json").read_text(encoding="utf-8"))
    feats, labels = [], []
    for site in manifest["sites"].values():
        for e in site["entities"]:
            for pic in e["pictures"]:
                if pic["kind"] == "ok":
                    feats.append(_features(BUNDLED / pic["path"]))
                    labels.append(e["page"])
    feats, labels = np.stack(feats), np.array(labels)
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        names = sorted(set(labels[keep]))
        centroids = np.stack([feats[keep][labels[keep] == n].mean(0) for n in names])
        guess = names[int(np.argmin(((centroids - feats[i]) ** 2).sum(1)))]
        correct += guess == labels[i]
    accuracy = correct / len(labels)
    assert accuracy > 0.7, accuracy  # chance is 1/40


def _get(server, target: str, method: str = "GET", host: str | None = None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request(method, target, headers={"Host": host} if host else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def test_server_routes_files_queries_faults_and_refuses_escapes(tmp_path):
    manifest = generate_mirror(tmp_path / "m", MirrorConfig.for_tests())
    with serve_mirror(tmp_path / "m") as server:
        status, headers, body = _get(server, "/" + manifest["sites"]["ihchina"]["start"])
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["links"]["total_pages"] == 2
        page2 = "/ihchina/getProject.html?province=&keywords=&category_id=16&limit=10&p=2"
        assert [_get(server, page2)[0] for _ in range(3)] == [429, 429, 200]
        status, headers, _ = _get(server, "/ihchina/project_details/90002.html")
        assert status == 302 and headers["Location"] == f"http://localhost:{server.port}/elsewhere/90002.html"
        status, headers, body = _get(server, "/guizhou/fwzml/index.html", method="HEAD")
        assert status == 200 and body == b"" and headers["Content-Type"] == "text/html"
        assert _get(server, "/robots.txt")[2].decode().startswith("User-agent: *")
        assert _get(server, "/nope.html")[0] == 404
        assert _get(server, "/../../etc/passwd")[0] in (400, 404)
        assert _get(server, "/%2e%2e/%2e%2e/etc/passwd")[0] in (400, 404)
        assert server.count("robots.txt") == 1 and server.count("nope.html", 404) == 1
    with serve_mirror(tmp_path / "m", routes=Routes()) as plain:  # routes off: no faults
        assert _get(plain, page2)[0] == 200
    image = next(p for p in manifest["sites"]["ihchina"]["entities"][2]["pictures"] if p["kind"] == "ok")
    with Image.open(io.BytesIO((tmp_path / "m" / image["path"]).read_bytes())) as im:
        assert im.format == "JPEG"


def test_server_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        serve_mirror(tmp_path / "absent")
