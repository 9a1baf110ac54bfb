"""Hostile inputs for `emmel import`, per format: escaping paths, missing and malformed files, bad
encodings, odd records, fake images, dangerous --out folders, a kill mid-run.

Whole-file problems end in one line on stderr (exit 2) naming the file; record problems become
rejects with a reason, and the accounting identity still holds; nothing outside SOURCE is read and
nothing in SOURCE is changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emmel.cli import main
from emmel.dataset import Dataset
from emmel.integrity import check
from importers import ImportConfig, run_import
from tests.benchmark_layouts import (
    image_bytes,
    write_coco_cn,
    write_ghmfc,
    write_mimic,
    write_wikidiverse,
)
from tests.helpers import ROOT


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("emmel import: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def imported(layout_root: Path, out: Path, fmt: str = "mimic", **config) -> Dataset:
    report = run_import(fmt, layout_root, out, ImportConfig(plots=False, **config))
    assert report.counts["input_records"] == report.counts["kept"] + report.counts["rejected"]
    assert check(out) == []
    return Dataset.load(out)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def reasons(dataset: Dataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in dataset.rejects:
        out.setdefault(r.reason, []).append(r.record_id)
    return out


# ------------------------------------------------------------------------------------- MIMIC
@pytest.fixture
def mimic(tmp_path):
    return write_mimic(tmp_path / "WikiMEL", quirks=False, entities=6, mentions=(6, 2, 2))


def test_mimic_escaping_paths_and_links(mimic, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes(77))
    (mimic.root / "mention_image" / "linked.jpg").symlink_to(secret)

    def change(rows):
        rows[0]["imgPath"] = "../../secret.jpg"
        rows[1]["imgPath"] = str(secret)
        rows[2]["imgPath"] = "..\\..\\secret.jpg"
        rows[3]["imgPath"] = "folder/linked.png"  # resolves to a link leaving mention_image/

    edit_json(mimic.root / "WIKIMEL_train.json", change)
    edit_json(mimic.root / "kb_entity.json", lambda kb: kb[0].update(image_list=["../../secret.jpg", "/etc/hostname"]))
    before = tree_digest(mimic.root)
    dataset = imported(mimic.root, tmp_path / "out")
    found = reasons(dataset)
    assert sorted(found["unsafe_path"]) == ["WIKIMEL_train.json:1", "WIKIMEL_train.json:2", "WIKIMEL_train.json:3", "WIKIMEL_train.json:4"]
    kb_images = dataset.meta["import"]["kb"]["images"]
    assert kb_images["unsafe_path"] == 2
    sha_secret = hashlib.sha256(secret.read_bytes()).hexdigest()
    assert not any(sha_secret in p.name for p in (tmp_path / "out").rglob("*"))  # nothing from outside was read in
    assert tree_digest(mimic.root) == before


def test_mimic_link_out_of_the_folder_is_unsafe(mimic, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes(78))
    (mimic.root / "mention_image" / "00001.jpg").unlink()
    (mimic.root / "mention_image" / "00001.jpg").symlink_to(secret)
    dataset = imported(mimic.root, tmp_path / "out")
    assert reasons(dataset)["unsafe_path"] == ["WIKIMEL_train.json:1"]


def test_mimic_bad_records_each_rejected(mimic, tmp_path):
    def change(rows):
        rows[0]["answer"] = "Q999999"  # not in the KB
        rows[1] = ["not", "an", "object"]
        rows[2].pop("sentence")
        rows[3]["answer"] = 42
        rows[4]["answer"] = "NIL"

    edit_json(mimic.root / "WIKIMEL_train.json", change)
    dataset = imported(mimic.root, tmp_path / "out")
    found = reasons(dataset)
    assert found["unknown_entity"] == ["WIKIMEL_train.json:1"] and found["nil_answer"] == ["WIKIMEL_train.json:5"]
    assert found["malformed_record"] == ["WIKIMEL_train.json:2", "WIKIMEL_train.json:4"] and found["missing_field"] == ["WIKIMEL_train.json:3"]
    assert dataset.counts()["input_records"] == 10 and dataset.counts()["kept"] == 5


def test_mimic_fake_images(mimic, tmp_path):
    folder = mimic.root / "mention_image"
    (folder / "00001.jpg").write_text("this is not an image")
    (folder / "00002.jpg").write_bytes(b"")
    (folder / "00003.jpg").write_bytes(image_bytes(3)[:60])  # truncated JPEG
    (mimic.root / "kb_image" / "Q1000_0.jpg").write_bytes(b"GIF89a but not really")
    dataset = imported(mimic.root, tmp_path / "out")
    found = reasons(dataset)
    assert found["not_an_image"] == ["WIKIMEL_train.json:1"] and found["empty_file"] == ["WIKIMEL_train.json:2"]
    assert found["truncated_image"] == ["WIKIMEL_train.json:3"]
    assert dataset.meta["import"]["kb"]["images"]["not_an_image"] == 1


def test_mimic_qid2id_shapes(mimic, tmp_path, capsys):
    path = mimic.root / "qid2id.json"
    mapping = json.loads(path.read_text())
    path.write_text(json.dumps(mapping, indent=2))  # not on one line: still one JSON object
    assert imported(mimic.root, tmp_path / "pretty").counts()["kept"] == 10
    path.write_text(json.dumps(mapping) + "\n{trailing garbage\n")  # MIMIC reads the first line only
    assert imported(mimic.root, tmp_path / "firstline").counts()["kept"] == 10
    path.write_text('{"Q1000": 0,\n "Q1001": ')
    code, _, err = cli(capsys, "import", "mimic", mimic.root, "--out", tmp_path / "broken")
    assert code == 2
    one_line_error(err, "qid2id.json", "invalid JSON")
    path.write_text('{"Q1000": 0, "Q1001": 0, "Q1000": 3, "Q1002": 2, "Q1003": 3, "Q1004": 4, "Q1005": 5}')  # a repeated QID, a shared id
    dataset = imported(mimic.root, tmp_path / "dupes")
    notes = " ".join(dataset.meta["notes"])
    assert "repeats 1 QID" in notes and "already taken" in notes
    assert {e.wikidata for e in dataset.kb} >= {"Q1000", "Q1002"} and "Q1001" not in {e.wikidata for e in dataset.kb}


def test_mimic_duplicate_entity_ids(mimic, tmp_path):
    edit_json(mimic.root / "kb_entity.json", lambda kb: kb.append({**kb[0], "entity_name": "Impostor"}))
    dataset = imported(mimic.root, tmp_path / "out")
    kb = dataset.meta["import"]["kb"]
    assert kb["rejected_by_reason"] == {"duplicate_entity": 1} and kb["records"] == 7 and kb["entities"] == 6
    assert "Impostor" not in {e.label for e in dataset.kb}


@pytest.mark.parametrize("damage,needle", [
    (lambda root: (root / "kb_entity.json").write_text('[{"id": 0, "entity_name": "A"'), "kb_entity.json: invalid JSON"),
    (lambda root: (root / "WIKIMEL_dev.json").write_bytes('[{"mentions": "Caf\u00e9"}]'.encode("latin-1")), "WIKIMEL_dev.json: not UTF-8"),
    (lambda root: (root / "kb_entity.json").write_text('{"not": "a list"}'), "expected a JSON list of entities"),
    (lambda root: (root / "qid2id.json").unlink(), "qid2id.json: file not found"),
    (lambda root: (root / "WIKIMEL_test.json").unlink(), "no <PREFIX>_train/_dev/_test.json split files"),
    (lambda root: __import__("shutil").rmtree(root / "mention_image"), "no mention_image/ (or mention_images/) folder"),
])
def test_mimic_unreadable_files_are_one_line_errors(mimic, tmp_path, capsys, damage, needle):
    damage(mimic.root)
    code, _, err = cli(capsys, "import", "mimic", mimic.root, "--out", tmp_path / "out", "--no-plots")
    assert code == 2 and not (tmp_path / "out").exists()
    one_line_error(err, needle)


def test_out_must_not_be_the_source_its_parent_or_inside_it(mimic, tmp_path, capsys):
    before = tree_digest(mimic.root)
    for out in (mimic.root, mimic.root.parent, mimic.root / "emmel", mimic.root / "kb_image"):
        code, _, err = cli(capsys, "import", "mimic", mimic.root, "--out", out, "--overwrite", "--no-plots")
        assert code == 2
        one_line_error(err, "--out must lie outside the benchmark folder")
    assert tree_digest(mimic.root) == before


def test_kill_mid_run_leaves_no_output(tmp_path):
    layout = write_mimic(tmp_path / "WikiMEL", quirks=False, entities=300, mentions=(1500, 300, 300))
    before = tree_digest(layout.root)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "emmel", "import", "mimic", str(layout.root), "--out", str(out)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith(".out.tmp-") for p in tmp_path.iterdir()):
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    assert not out.exists()  # never a half-written dataset
    assert tree_digest(layout.root) == before
    report = run_import("mimic", layout.root, out, ImportConfig(plots=False))  # a rerun works despite the leftover temp folder
    assert report.counts["kept"] == 2100


# ------------------------------------------------------------------------------------- GHMFC
def test_ghmfc_hostile_records(tmp_path):
    layout = write_ghmfc(tmp_path / "Richpedia-MEL")
    text = (layout.root / "train.json").read_text()
    first_key = next(iter(json.loads(text)))
    # a repeated key (json.load would silently keep the last), an unknown answer, a list that is no list
    text = text.rstrip().rstrip("}") + f', "{first_key}": {{"id": "{first_key}", "sentence": "s", "mentions": "m", "answer": "Q200"}}}}'
    (layout.root / "train.json").write_text(text)
    edit_json(layout.root / "test.json", lambda d: next(iter(d.values())).update(answer="Q31337"))
    edit_json(layout.root / "search_top100.json", lambda d: d.update({next(iter(d)): "Q200"}))
    (layout.root / "images" / "Q201.jpg").write_text("<html>not an image</html>")
    dataset = imported(layout.root, tmp_path / "out", "ghmfc")
    found = reasons(dataset)
    assert found["duplicate_record"] == [first_key] and found["unknown_entity"] == ["Q212"] and found["not_an_image"] == ["Q201"]
    assert any("not lists of QIDs" in note for note in dataset.meta["notes"])
    assert dataset.counts()["input_records"] == 19


def test_ghmfc_bad_dev_fraction_and_missing_names(tmp_path, capsys):
    layout = write_ghmfc(tmp_path / "Richpedia-MEL")
    code, _, err = cli(capsys, "import", "ghmfc", layout.root, "--out", tmp_path / "o", "--dev-fraction", "1.5")
    assert code == 2
    one_line_error(err, "--dev-fraction must be between 0 and 1")
    (layout.root / "qid2ne.json").write_text("[]")
    code, _, err = cli(capsys, "import", "ghmfc", layout.root, "--out", tmp_path / "o")
    assert code == 2
    one_line_error(err, "qid2ne.json", "expected one JSON object")


# ------------------------------------------------------------------------------------- WikiDiverse
def test_wikidiverse_hostile_records(tmp_path):
    layout = write_wikidiverse(tmp_path / "WikiDiverse")
    with open(layout.root / "entity2desc.tsv", "ab") as handle:
        handle.write(b"no separator on this line\n" + "Caf\u00e9@@@@latin-1".encode("latin-1") + b"\n")

    def change(rows):
        rows[1] = {"not": "a list"}
        rows[2][6] = "https://en.wikipedia.org/wiki/Nobody_Knows_This_Page"
        rows[3][1] = "https://upload.wikimedia.org/x/../../../../etc/passwd"

    edit_json(layout.root / "wikidiverse_w_cands" / "train_w_10cands.json", change)
    dataset = imported(layout.root, tmp_path / "out", "wikidiverse")
    found = reasons(dataset)
    assert found["malformed_record"] == ["train_w_10cands.json:2"] and found["unknown_entity"] == ["train_w_10cands.json:3"]
    assert found["missing_image"] == ["train_w_10cands.json:4"]  # a URL names an md5 file name, never a path
    assert dataset.meta["import"]["kb"]["rejected_by_reason"] == {"bad_encoding": 1, "malformed_record": 1}


# ------------------------------------------------------------------------------------- COCO-CN
def test_coco_cn_hostile_lines(tmp_path):
    layout = write_coco_cn(tmp_path / "coco-cn")
    captions = layout.root / "imageid.human-written-caption.txt"
    lines = captions.read_bytes().splitlines()
    first = lines[0].split(b"#")[0]
    lines[0] = first + b"#0\t" + "一个男人".encode("gbk")  # not UTF-8
    captions.write_bytes(b"\n".join(lines) + b"\n")
    train = layout.root / "coco-cn_train.txt"
    ids = train.read_text().split()
    train.write_text("\n".join([*ids, ids[3], "../../../etc/passwd"]) + "\n")  # a repeated id, an id that is a path
    (layout.root / "train2014" / f"{ids[6]}.jpg").unlink()
    dataset = imported(layout.root, tmp_path / "out", "coco-cn")
    found = reasons(dataset)
    assert found["bad_encoding"] == [first.decode()] and found["duplicate_record"] == [ids[3]]
    assert found["empty_text"] == ["../../../etc/passwd"] and found["missing_image"] == [ids[6]]
    assert dataset.counts()["input_records"] == 17
