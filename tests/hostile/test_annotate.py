"""`emmel annotate` against hostile inputs: an export whose candidates were edited, outputs that would
replace the dataset, the export or the user's files, and cut-off exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from annotation.candidates import NeighbourIndex
from annotation.config import NIL
from annotation.images import ImageURLs
from annotation.roundtrip import make_tasks
from emmel.cli import main
from emmel.dataset import Dataset
from emmel.integrity import check
from emmel.io import read_json
from emmel.schema import Sample
from tests.dataset_factory import make_dataset
from tests.ls_export import entity, json_export, write


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    # a KB of more than 20 entities, so a train sample is offered a subset of it
    return make_dataset(tmp_path_factory.mktemp("hostile annotate") / "数据 集", n_entities=24, samples_per_entity=3, lam=4, seed=11)


def tasks_of(folder: Path) -> dict[str, dict]:
    tasks = make_tasks(Dataset.load(folder), images=ImageURLs(mode="http", prefix="https://img.example.org/emmel"))
    return {t["data"]["sample_id"]: t for t in tasks}


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("emmel annotate: error: ") and "Traceback" not in "\n".join(err)
    return err[-1]


def test_edited_export_candidates_never_relink(dataset_dir, tmp_path, capsys):
    dataset = Dataset.load(dataset_dir)
    tasks = tasks_of(dataset_dir)
    dev = dataset.samples["dev"][0]
    train = next(s for s in dataset.samples["train"] if s.augmented_from is None)
    honest = dataset.samples["test"][0]
    never_dev = next(e.id for e in dataset.kb if e.id not in dataset.candidates["dev"][dev.id])
    never_train = next(e.id for e in dataset.kb if e.id not in NeighbourIndex(dataset.kb).neighbours(train.entity_id))
    for sample, stranger in ((dev, never_dev), (train, never_train)):  # a reviewer (or anyone) edits the export
        tasks[sample.id]["data"]["candidates"].insert(0, {"value": stranger, "html": "看起来很合理"})
    good = next(e for e in dataset.candidates["test"][honest.id] if e != honest.entity_id)
    export = write(tmp_path / "export.json", json_export(list(tasks.values()), {
        dev.id: [[entity(never_dev)]], train.id: [[entity(never_train)]], honest.id: [[entity(good)]]}))
    out = tmp_path / "v2"
    assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(out), "--report", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    report = read_json(tmp_path / "r.json")
    problems = {p["sample_id"]: p["problem"] for p in report["invalid"]}
    assert set(problems) == {dev.id, train.id}
    assert "not among the candidates the dataset offers" in problems[dev.id] and "candidates/dev.jsonl" in problems[dev.id]
    assert "nearest KB entities" in problems[train.id] and "data.candidates is not trusted" in problems[train.id]
    assert sum(1 for line in err.splitlines() if "(skipped)" in line) == 2
    new = Dataset.load(out)
    linked = {s.id: s.entity_id for s in new.all_samples()}
    assert linked[dev.id] == dev.entity_id and linked[train.id] == train.entity_id and linked[honest.id] == good
    assert report["changed"] == 1 and check(out) == []
    counts = new.counts()
    assert counts["input_records"] == counts["kept"] + counts["rejected"] == dataset.counts()["input_records"]


def ranked_line(sample, ranked: list[tuple[str, float]], gold: str | None = None) -> str:
    gold = gold or sample.entity_id
    ids = [eid for eid, _ in ranked]
    return json.dumps({"sample_id": sample.id, "gold": gold, "gold_rank": ids.index(gold) + 1 if gold in ids else None,
                       "protocol": "kb", "ranked": [{"id": eid, "score": score, "scores": {"text": score}} for eid, score in ranked]})


def export_cli(dataset_dir, predictions, out, *extra) -> int:
    return main(["annotate", "export", str(dataset_dir), "--out", str(out), "--predictions", str(predictions),
                 "--images", "http", "--image-prefix", "http://h", *map(str, extra)])


def test_predictions_never_add_unoffered_choices(dataset_dir, tmp_path, capsys):
    """A whole-KB ranking names entities the task does not offer: they are left out, one warning line each."""
    dataset = Dataset.load(dataset_dir)
    sample = dataset.samples["dev"][1]
    outside = next(e.id for e in dataset.kb if e.id not in dataset.candidates["dev"][sample.id])
    inside = next(e for e in dataset.candidates["dev"][sample.id] if e != sample.entity_id)
    path = tmp_path / "mcr.kb.jsonl"
    path.write_text(ranked_line(sample, [(outside, 0.9), (inside, 0.5)]) + "\n", encoding="utf-8")
    [task] = make_tasks(dataset, splits=("dev",), images=ImageURLs(mode="http", prefix="http://h"), predictions=path)[1:2]
    offered = [c["value"] for c in task["data"]["candidates"]]
    assert outside not in offered and offered[0] == inside and sorted(offered) == sorted([*dataset.candidates["dev"][sample.id], NIL])
    assert task["predictions"][0]["result"][0]["value"]["choices"] == [inside] and task["predictions"][0]["score"] == 0.5
    assert task["predictions"][0]["model_version"] == "mcr-kb"
    assert export_cli(dataset_dir, path, tmp_path / "t.json", "--split", "dev") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"emmel annotate: warning: {path}: line 1: sample {sample.id}: entity {outside} is not among the task's candidates (left out)"]


def test_mismatched_predictions_files(dataset_dir, tmp_path, capsys):
    """Another dataset's file, an unknown sample among known ones, a cut-off last line, a stale gold, a binary file."""
    dataset = Dataset.load(dataset_dir)
    dev = sorted(dataset.samples["dev"], key=lambda s: s.id)
    foreign = Sample(id="Sffffffffffff", image="images/x.jpg", text="别的数据集", entity_id="Effffffffffff", split="dev")  # another dataset's
    cases = {
        "wrong dataset": (ranked_line(foreign, [(foreign.entity_id, 1.0)]) + "\n", "none of the 1 predictions is about a sample of this dataset"),
        "unknown sample": (ranked_line(dev[0], [(dev[0].entity_id, 1.0)]) + "\n" + ranked_line(foreign, [(foreign.entity_id, 1.0)]) + "\n",
                           f"line 2: unknown sample id {foreign.id!r}"),
        "cut off": (ranked_line(dev[0], [(dev[0].entity_id, 1.0)]) + "\n" + ranked_line(dev[1], [(dev[1].entity_id, 1.0)])[:40],
                    "line 2: invalid JSON: the line is cut off"),
        "twice": (ranked_line(dev[0], [(dev[0].entity_id, 1.0)]) + "\n" + ranked_line(dev[0], [(dev[0].entity_id, 1.0)]) + "\n",
                  f"line 2: second prediction for sample {dev[0].id}"),
        "unsorted": (ranked_line(dev[0], [(dev[0].entity_id, 0.1), (dev[1].entity_id, 0.9)]) + "\n", "line 1: 'ranked' must be sorted"),
        "binary": ("\x00\xff\xfe garbage", "line 1: not UTF-8"),
        "array": ("[1, 2]\n", "line 1: a line must hold a JSON object"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(text.encode("utf-8", "surrogateescape") if name != "binary" else b"\x00\xff\xfe garbage\n")
        out = tmp_path / f"{name}.json"
        assert export_cli(dataset_dir, path, out) == 2, name
        error = last_error(capsys)
        assert message in error and str(path) in error and len(error.splitlines()) == 1, (name, error)
        assert not out.exists(), name
    # a stale gold (the sample was relinked since the run) is reported and the ranking still used
    other = next(e for e in dataset.candidates["dev"][dev[0].id] if e != dev[0].entity_id)
    path = tmp_path / "stale.jsonl"
    path.write_text(ranked_line(dev[0], [(other, 0.8)], gold=other) + "\n", encoding="utf-8")
    assert export_cli(dataset_dir, path, tmp_path / "stale.json", "--split", "dev") == 0
    err = capsys.readouterr().err
    assert f"line 1: sample {dev[0].id}: the predictions' gold {other} is not its current link {dev[0].entity_id}" in err
    assert main(["annotate", "export", str(dataset_dir), "--out", str(tmp_path / "x.json"), "--predictions", str(tmp_path / "nope.jsonl")]) == 2
    assert "file not found" in last_error(capsys)


@pytest.mark.parametrize("where, message", [
    ("dataset", "refusing to write over the input itself"),
    ("parent", "refusing to replace a folder that holds the input"),
    ("user folder", "emmel did not write"),
])
def test_import_out_that_would_lose_data(dataset_dir, tmp_path, capsys, where, message):
    export = write(tmp_path / "export.json", json_export(list(tasks_of(dataset_dir).values())))
    user = tmp_path / "mine"
    user.mkdir()
    (user / "paper.tex").write_text("\\documentclass{article}")
    out = {"dataset": dataset_dir, "parent": dataset_dir.parent, "user folder": user}[where]
    before = files_of(dataset_dir.parent), files_of(user)
    assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(out), "--overwrite"]) == 2
    assert message in last_error(capsys)
    assert (files_of(dataset_dir.parent), files_of(user)) == before


def test_import_side_files_are_guarded_before_any_work(dataset_dir, tmp_path, capsys):
    export = write(tmp_path / "export.json", json_export(list(tasks_of(dataset_dir).values())))
    exported = export.read_bytes()
    out = tmp_path / "v2"
    assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(out), "--report", str(export), "--overwrite"]) == 2
    assert "input itself" in last_error(capsys) and export.read_bytes() == exported and not out.exists()
    (tmp_path / "notes.json").write_text('{"mine": true}')
    assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(out), "--report", str(tmp_path / "notes.json"), "--overwrite"]) == 2
    assert "not a review report emmel wrote" in last_error(capsys) and not out.exists()
    for _ in range(2):  # a version and a report emmel wrote are replaced
        assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(out), "--report", str(tmp_path / "r.json"), "--overwrite"]) == 0
    assert check(out) == [] and read_json(tmp_path / "r.json")["tasks_seen"] == len(tasks_of(dataset_dir))


def test_export_and_config_never_clobber_user_files(dataset_dir, tmp_path, capsys):
    mine = tmp_path / "tasks.json"
    mine.write_text("my own tasks, not JSON", encoding="utf-8")
    args = ["annotate", "export", str(dataset_dir), "--images", "http", "--image-prefix", "http://h/ds", "--out"]
    assert main([*args, str(mine)]) == 2 and "exists (use --overwrite" in last_error(capsys)
    assert main([*args, str(mine), "--overwrite"]) == 2 and "not a task list emmel wrote" in last_error(capsys)
    assert mine.read_text(encoding="utf-8") == "my own tasks, not JSON"
    manifest = (dataset_dir / "manifest.json").read_bytes()
    assert main([*args, str(dataset_dir / "manifest.json"), "--overwrite"]) == 2 and "not a task list" in last_error(capsys)
    assert (dataset_dir / "manifest.json").read_bytes() == manifest
    ours = tmp_path / "out" / "任务 列表.json"
    assert main([*args, str(ours)]) == 0 and main([*args, str(ours), "--overwrite"]) == 0
    assert len(json.loads(ours.read_text(encoding="utf-8"))) == len(tasks_of(dataset_dir))
    capsys.readouterr()
    config = tmp_path / "label.xml"
    config.write_text("<html>my page</html>")
    assert main(["annotate", "config", "--out", str(config), "--overwrite"]) == 2 and "not a labeling config" in last_error(capsys)
    assert main(["annotate", "config", "--out", str(tmp_path / "cfg.xml")]) == 0
    assert main(["annotate", "config", "--out", str(tmp_path / "cfg.xml"), "--overwrite"]) == 0


def test_cut_off_export_is_one_clear_line(dataset_dir, tmp_path, capsys):
    export = write(tmp_path / "export.json", json_export(list(tasks_of(dataset_dir).values())))
    text = export.read_text(encoding="utf-8")
    export.write_text(text[: len(text) // 2], encoding="utf-8")
    assert main(["annotate", "import", str(dataset_dir), str(export), "--out", str(tmp_path / "v2")]) == 2
    line = last_error(capsys)
    assert f"{export}:line 1: not a Label Studio export: invalid JSON: the text is cut off (" in line
    assert re.search(r"at column \d+\)$", line)
    assert not (tmp_path / "v2").exists()
