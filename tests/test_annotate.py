"""`emmel annotate` without a server: labeling config, export, import, bad input."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from annotation.candidates import NeighbourIndex
from annotation.config import CURRENT_LINK_MODEL, NIL, NIL_REASON, REJECTED_REASON, label_config, reject_reasons
from annotation.images import ImageURLs
from annotation.roundtrip import import_file, make_tasks
from annotation.tasks import read_tasks
from emmel.cli import main
from emmel.dataset import Dataset
from emmel.errors import EmmelError
from emmel.integrity import check
from emmel.io import read_json, read_jsonl, write_jsonl
from tests.dataset_factory import make_dataset
from tests.ls_export import entity, json_export, json_min_export, note, reject, write


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("annotate") / "ds", n_entities=8, samples_per_entity=4, lam=5, seed=3)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def http_tasks(folder: Path, **kwargs) -> list[dict]:
    return make_tasks(Dataset.load(folder), images=ImageURLs(mode="http", prefix="https://img.example.org/emmel"), **kwargs)


def by_sample(tasks: list[dict]) -> dict[str, dict]:
    return {t["data"]["sample_id"]: t for t in tasks}


def values(task: dict) -> list[str]:
    return [c["value"] for c in task["data"]["candidates"]]


# --------------------------------------------------------------------------- config
def test_label_config_offers_dynamic_candidates_nil_reasons_and_note():
    root = ET.fromstring(label_config())
    controls = {c.get("name"): c for c in root.iter() if c.get("name")}
    assert controls["entity"].tag == "Choices" and controls["entity"].get("value") == "$candidates"
    assert controls["reject"].get("choice") == "multiple"
    assert controls["note"].tag == "TextArea"
    assert {"image_text_mismatch", "bad_image", "other"} <= set(reject_reasons())
    for variable in ("$image", "$text", "$candidates", "$link", "$sample_id"):
        assert variable in label_config()


def test_cli_config_prints_the_xml(capsys):
    assert main(["annotate", "config"]) == 0
    assert capsys.readouterr().out == label_config()


# --------------------------------------------------------------------------- export
def test_export_tasks_hold_candidates_display_labels_and_current_link(base):
    dataset = Dataset.load(base)
    tasks = http_tasks(base)
    originals = [s for s in dataset.all_samples() if s.augmented_from is None]
    assert sorted(by_sample(tasks)) == sorted(s.id for s in originals)  # augmented copies are not tasks
    entities = dataset.entities
    for sample in originals:
        task = by_sample(tasks)[sample.id]
        ids = values(task)
        assert ids[-1] == NIL and sample.entity_id in ids
        if sample.split != "train":
            assert ids[:-1] == dataset.candidates[sample.split][sample.id]
        for option in task["data"]["candidates"][:-1]:
            assert option["html"] == entities[option["value"]].display
        assert task["data"]["link"] == entities[sample.entity_id].display
        assert task["data"]["image"] == f"https://img.example.org/emmel/{sample.image}"
        [prediction] = task["predictions"]
        assert prediction["model_version"] == CURRENT_LINK_MODEL and prediction["score"] == 1.0
        assert prediction["result"][0]["value"]["choices"] == [sample.entity_id]


def test_train_candidates_put_same_base_name_first(base):
    dataset = Dataset.load(base)
    labels = {e.label: e.id for e in dataset.kb}
    index = NeighbourIndex(dataset.kb)
    assert index.neighbours(labels["春节"], 3)[:2] == [labels["春节"], labels["春节(查干萨日)"]]
    assert index.neighbours(labels["萨满舞"], 3)[:2] == [labels["萨满舞"], labels["萨满舞(鄂温克族萨满舞)"]]
    assert len(index.neighbours(labels["春节"], 50)) == len(dataset.kb)
    assert index.neighbours(labels["春节"], 4) == NeighbourIndex(list(reversed(dataset.kb))).neighbours(labels["春节"], 4)


def test_export_is_deterministic_and_splits_filter(base, tmp_path):
    args = ["annotate", "export", str(base), "--images", "http", "--image-prefix", "http://h/x", "--split", "dev,test"]
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.json")]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert {t["data"]["split"] for t in read_tasks(tmp_path / "a.json")} == {"dev", "test"}


def test_local_files_urls_are_relative_to_the_document_root(base, tmp_path):
    dataset = Dataset.load(base)
    tasks = make_tasks(dataset, images=ImageURLs(mode="local-files", document_root=str(base.parent)))
    sample = dataset.samples["dev"][0]
    assert by_sample(tasks)[sample.id]["data"]["image"] == f"/data/local-files/?d={base.name}/{sample.image}"
    with pytest.raises(EmmelError, match="document root itself"):
        make_tasks(dataset, images=ImageURLs(mode="local-files", document_root=str(base)))
    with pytest.raises(EmmelError, match="not inside the Label Studio document root"):
        make_tasks(dataset, images=ImageURLs(mode="local-files", document_root=str(tmp_path)))


def test_inline_images_are_data_urls_with_the_image_bytes(base):
    dataset = Dataset.load(base)
    tasks = by_sample(make_tasks(dataset, splits=("dev",), images=ImageURLs(mode="inline")))
    sample = dataset.samples["dev"][0]
    header, payload = tasks[sample.id]["data"]["image"].split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    assert base64.b64decode(payload) == (base / sample.image).read_bytes()
    with pytest.raises(EmmelError, match="inline images exceed"):
        make_tasks(dataset, images=ImageURLs(mode="inline", inline_limit=1000))


def test_http_prefix_must_be_plain(base):
    for prefix in ("ftp://h/x", "https://user:pw@h/x", "https://h/x?a=1", "images/"):
        with pytest.raises(ValueError, match="plain http"):
            ImageURLs(mode="http", prefix=prefix)


def prediction(sample, ranked: list[tuple[str, float]], gold: str | None = None, **scores) -> dict:
    """A line of `emmel benchmark`'s predictions file (emmel.predictions) ranking ``ranked`` (id, fused score)."""
    gold = gold or sample.entity_id
    ids = [eid for eid, _ in ranked]
    return {"sample_id": sample.id, "gold": gold, "gold_rank": ids.index(gold) + 1 if gold in ids else None, "protocol": "candidates",
            "ranked": [{"id": eid, "score": score, "scores": {k: v[i] for k, v in scores.items()}} for i, (eid, score) in enumerate(ranked)]}


def test_predictions_reorder_candidates_and_pre_annotate(base, tmp_path):
    dataset = Dataset.load(base)
    sample = dataset.samples["test"][0]
    ids = dataset.candidates["test"][sample.id]
    wrong = next(e for e in ids if e != sample.entity_id)
    path = tmp_path / "mcr.jsonl"
    write_jsonl(path, [prediction(sample, [(wrong, 0.7), (sample.entity_id, 0.2)], text=[1.5, -0.25], visual=[0.3, 0.1])])
    tasks = by_sample(make_tasks(dataset, splits=("test",), images=ImageURLs(mode="http", prefix="http://h"), predictions=path))
    task = tasks[sample.id]
    assert values(task)[:2] == [wrong, sample.entity_id]
    assert sorted(values(task)) == sorted([*ids, NIL])
    assert task["data"]["candidates"][0]["hint"].startswith("rank 1 · score 0.700 (text 1.500, visual 0.300)")
    [pre] = task["predictions"]
    assert (pre["model_version"], pre["score"], pre["result"][0]["value"]["choices"]) == ("mcr", 0.7, [wrong])
    other = next(t for sid, t in tasks.items() if sid != sample.id)
    assert other["predictions"][0]["model_version"] == CURRENT_LINK_MODEL


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "line 1: invalid JSON"),
        ('{"sample_id": "%s", "gold": "%s", "gold_rank": 1, "ranked": [{"id": "%s", "sco', "line 1: invalid JSON: the line is cut off"),
        ('{"sample_id": "Snope", "gold": "%s", "gold_rank": null, "ranked": []}', "line 1: none of the 1 predictions is about a sample "
                                                                                 "of this dataset"),
        ('{"sample_id": "%s", "gold": "%s", "gold_rank": 1, "ranked": [{"id": "Enope", "score": 1}]}', "gold_rank 1 but ranked"),
        ('{"sample_id": "%s", "gold": "%s", "gold_rank": null, "ranked": [{"id": "Enope", "score": 1}]}', "unknown entity id 'Enope'"),
        ('{"sample_id": "%s", "gold": "%s", "gold_rank": 1, "ranked": [{"id": "%s", "score": "high"}]}', "ranked.1..score must be a finite"),
        ('{"sample_id": "%s", "gold": "%s", "gold_rank": 0, "ranked": []}', "'gold_rank' must be a positive integer"),
        ('{"sample_id": "%s", "ranking": [{"entity_id": "%s", "score": 1}]}', "not a predictions file of `emmel benchmark`"),
    ],
)
def test_bad_predictions_file_names_file_and_line(base, tmp_path, line, message):
    dataset = Dataset.load(base)
    sample = dataset.samples["dev"][0]
    text = line.replace("%s", sample.id, 1).replace("%s", sample.entity_id)
    path = tmp_path / "p.jsonl"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(EmmelError, match=message) as info:
        make_tasks(dataset, images=ImageURLs(mode="http", prefix="http://h"), predictions=path)
    assert str(path) in str(info.value)


def test_uncertainty_order_and_round_trip_through_import(base, tmp_path, capsys):
    """Export with a model's predictions, least sure first; the export comes back through the existing import unchanged."""
    dataset = Dataset.load(base)
    test = sorted(dataset.samples["test"], key=lambda s: s.id)
    lines = []
    for i, sample in enumerate(test[:3]):  # margins 0.3, 0.1, 0.5: the second sample is the least sure
        other = next(e for e in dataset.candidates["test"][sample.id] if e != sample.entity_id)
        top = (0.6, 0.55, 0.7)[i]
        lines.append(prediction(sample, [(sample.entity_id, top), (other, top - (0.3, 0.1, 0.5)[i])], lexical=[2.0, 1.0]))
    alone = test[3]  # one offered entity ranked: no margin, after those with one
    lines.append(prediction(alone, [(alone.entity_id, 0.9)], lexical=[3.0]))
    path = tmp_path / "predictions" / "lexical.jsonl"
    path.parent.mkdir()
    write_jsonl(path, lines)
    out = tmp_path / "tasks.json"
    assert main(["annotate", "export", str(base), "--out", str(out), "--split", "test", "--predictions", str(path), "--order", "uncertainty",
                 "--images", "http", "--image-prefix", "http://h"]) == 0
    assert "least sure first" in capsys.readouterr().out
    tasks = read_tasks(out)
    order = [t["data"]["sample_id"] for t in tasks]
    assert order[:4] == [test[1].id, test[0].id, test[2].id, alone.id] and order[4:] == [s.id for s in test[4:]]
    assert all(t["predictions"][0]["model_version"] == "lexical" for t in tasks[:4])
    assert tasks[0]["data"]["candidates"][0]["hint"].startswith("rank 1 · score 0.550 (lexical 2.000)")
    # the reviewer accepts the model's pre-annotation everywhere: the import confirms and changes nothing
    export = write(tmp_path / "export.json", json_export(tasks, {t["data"]["sample_id"]: [t["predictions"][0]["result"]] for t in tasks}))
    outcome = import_file(base, export, tmp_path / "v2")
    assert not outcome.edited and outcome.report["confirmed"] == len(tasks) and files_of(tmp_path / "v2") == files_of(base)
    # the dataset order is the default; uncertainty without predictions is refused
    assert main(["annotate", "export", str(base), "--out", str(tmp_path / "plain.json"), "--split", "test", "--predictions", str(path),
                 "--images", "http", "--image-prefix", "http://h"]) == 0
    assert [t["data"]["sample_id"] for t in read_tasks(tmp_path / "plain.json")] == [s.id for s in test]
    assert main(["annotate", "export", str(base), "--out", str(tmp_path / "x.json"), "--order", "uncertainty"]) == 2
    assert "--order uncertainty needs --predictions" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["../outside.png", "/etc/passwd", "images/../../x.png"])
def test_export_refuses_image_paths_that_leave_the_dataset(base, tmp_path, bad):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    rows = read_jsonl(folder / "dev.jsonl")
    rows[0]["image"] = bad
    write_jsonl(folder / "dev.jsonl", rows)
    with pytest.raises(EmmelError, match=rf"sample {rows[0]['id']}: image"):
        http_tasks(folder)
    assert main(["annotate", "export", str(folder), "--out", str(tmp_path / "t.json"), "--images", "inline"]) == 2
    assert not (tmp_path / "t.json").exists()


def test_image_symlinks_out_of_the_dataset_are_refused(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    sample = Dataset.load(folder).samples["test"][0]
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    (folder / sample.image).unlink()
    (folder / sample.image).symlink_to(secret)
    with pytest.raises(EmmelError, match=rf"sample {sample.id}: image path .* leaves its folder"):
        make_tasks(Dataset.load(folder), images=ImageURLs(mode="inline"))


def test_export_escapes_html_in_labels(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    rows = read_jsonl(folder / "kb.jsonl")
    rows[0]["label"] = "<img src=x onerror=alert(1)>"
    write_jsonl(folder / "kb.jsonl", rows)
    shown = [o["html"] for t in http_tasks(folder) for o in t["data"]["candidates"]]
    assert "&lt;img src=x onerror=alert(1)&gt; — 民俗" in shown and not any("<" in html for html in shown)


# --------------------------------------------------------------------------- import
def roundtrip(folder: Path, tmp_path: Path, annotations: dict | None = None, *, fmt: str = "JSON", name: str = "out", **kwargs):
    tasks = http_tasks(folder)
    export = json_export(tasks, annotations)
    if fmt == "JSON_MIN":
        export = json_min_export(export, tmp_path / f"min-{name}")
    path = write(tmp_path / f"export-{name}.json", export)
    outcome = import_file(folder, path, tmp_path / name, **kwargs)
    return outcome, tmp_path / name


@pytest.mark.parametrize("fmt", ["JSON", "JSON_MIN"])
def test_round_trip_without_edits_is_byte_identical(base, tmp_path, fmt):
    dataset = Dataset.load(base)
    confirm = {s.id: [[entity(s.entity_id)]] for s in dataset.samples["dev"]}  # pre-annotation accepted as is
    skip = {dataset.samples["test"][0].id: [{"result": [reject("other")], "was_cancelled": True}]}
    outcome, out = roundtrip(base, tmp_path, {**confirm, **skip}, fmt=fmt)
    assert not outcome.edited and outcome.report["confirmed"] == len(confirm)
    assert files_of(out) == files_of(base)


def test_edits_relink_reject_nil_and_notes(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=8, samples_per_entity=4, lam=5, seed=5)
    dataset = Dataset.load(folder)
    tasks = by_sample(http_tasks(folder))
    dev, test = dataset.samples["dev"], dataset.samples["test"]
    train = sorted((s for s in dataset.samples["train"] if s.augmented_from is None), key=lambda s: s.id)
    augmented = {s.augmented_from: s for s in dataset.samples["train"] if s.augmented_from}
    # a dev sample relinked to another entity of its candidate set
    relink_dev = dev[0]
    inside = next(e for e in dataset.candidates["dev"][relink_dev.id] if e != relink_dev.entity_id)
    # a train sample with an augmented copy, relinked to a train candidate
    relink_train = next(s for s in train if s.id in augmented)
    train_target = values(tasks[relink_train.id])[1]
    rejected = next(s for s in train if s.id in augmented and s is not relink_train)
    nil = test[0]
    annotations = {
        relink_dev.id: [[entity(inside)], [entity(inside), note("标签应为另一个项目")], [entity(relink_dev.entity_id)]],
        relink_train.id: [[entity(train_target)]],
        rejected.id: [[reject("bad_image", "image_text_mismatch"), note("拼图")], [reject("bad_image")]],
        nil.id: [[entity(NIL)]],
        test[1].id: [[note("only a note")]],
    }
    path = write(tmp_path / "export.json", json_export(list(tasks.values()), annotations))
    before = files_of(folder)
    outcome = import_file(folder, path, tmp_path / "v2")
    report = outcome.report
    assert (report["changed"], report["rejected"], report["nil"], report["conflicting"], report["notes"]) == (2, 1, 1, 0, 3)
    assert check(tmp_path / "v2") == []
    new = Dataset.load(tmp_path / "v2")
    samples = {s.id: s for s in new.all_samples()}
    assert samples[relink_dev.id].entity_id == inside
    assert new.candidates["dev"][relink_dev.id] == dataset.candidates["dev"][relink_dev.id]  # old gold kept as a hard negative
    assert samples[relink_train.id].entity_id == train_target
    assert samples[augmented[relink_train.id].id].entity_id == train_target  # the augmented copy follows
    assert rejected.id not in samples and augmented[rejected.id].id not in samples
    assert nil.id not in samples and nil.id not in new.candidates["test"]
    rejects = {r.record: r for r in new.rejects}
    assert rejects[f"train.jsonl:{rejected.id}"].reason == REJECTED_REASON
    assert "bad_image, image_text_mismatch" in rejects[f"train.jsonl:{rejected.id}"].detail and "拼图" in rejects[f"train.jsonl:{rejected.id}"].detail
    assert rejects[f"test.jsonl:{nil.id}"].reason == NIL_REASON
    assert rejects[f"test.jsonl:{nil.id}"].record_id == nil.source["record_id"]
    counts = new.counts()
    old = Dataset.load(folder).counts()
    assert counts["input_records"] == old["input_records"] == counts["kept"] + counts["rejected"]
    assert counts["kept"] == old["kept"] - 2 and counts["augmented"] == old["augmented"] - 1
    notes = read_jsonl(tmp_path / "v2" / "annotation" / "notes.jsonl")
    assert sorted(n["note"] for n in notes) == sorted(["标签应为另一个项目", "拼图", "only a note"])
    assert read_json(tmp_path / "v2" / "annotation" / "round-001.json")["changes"][0]["sample_id"] in (relink_dev.id, relink_train.id)
    [summary] = new.meta["annotation"]["rounds"]
    assert summary["round"] == 1 and summary["changed"] == 2 and summary["report"] == "annotation/round-001.json"
    assert files_of(folder) == before  # the input folder is untouched

    # a second round on the new version: notes and round files are carried forward
    second = {s.id: [[note("second look")]] for s in new.samples["dev"][:1]}
    outcome2, out2 = roundtrip(tmp_path / "v2", tmp_path, second, name="v3")
    assert outcome2.report["round"] == 2 and check(out2) == []
    assert (out2 / "annotation" / "round-001.json").read_bytes() == (tmp_path / "v2" / "annotation" / "round-001.json").read_bytes()
    assert len(read_jsonl(out2 / "annotation" / "notes.jsonl")) == 4
    assert [r["round"] for r in Dataset.load(out2).meta["annotation"]["rounds"]] == [1, 2]


def test_majority_and_ties(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=6, samples_per_entity=3, lam=4, seed=9)
    dataset = Dataset.load(folder)
    tasks = by_sample(http_tasks(folder))
    a, b = dataset.samples["dev"][:2]
    other_a = [e for e in values(tasks[a.id]) if e not in (a.entity_id, NIL)]
    other_b = [e for e in values(tasks[b.id]) if e not in (b.entity_id, NIL)]
    annotations = {
        a.id: [[entity(other_a[0])], [entity(other_a[0])], [entity(a.entity_id)], [note("no choice: abstains")]],
        b.id: [[entity(other_b[0])], [entity(b.entity_id)], [reject("duplicate")], [entity(NIL)]],
    }
    outcome, out = roundtrip(folder, tmp_path, annotations)
    report = outcome.report
    assert report["changed"] == 1 and report["changes"][0]["to"] == other_a[0]
    assert report["conflicting"] == 1 and report["conflicts"][0]["sample_id"] == b.id
    assert report["conflicts"][0]["votes"] == {f"link:{other_b[0]}": 1, f"link:{b.entity_id}": 1, "nil": 1, "reject": 1}
    assert {s.id: s.entity_id for s in Dataset.load(out).samples["dev"]}[b.id] == b.entity_id
    assert check(out) == []


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "content, message",
    [
        (b"{oops", "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"tasks": []}', "expected a JSON array"),
        (b"[1, 2]", "item 1: not a Label Studio export"),
        (b'[{"id": 1, "foo": 2}]', "neither 'data'"),
    ],
)
def test_malformed_export_is_refused_and_writes_nothing(base, tmp_path, content, message):
    path = tmp_path / "export.json"
    path.write_bytes(content)
    with pytest.raises(EmmelError, match=message) as info:
        import_file(base, path, tmp_path / "out")
    assert str(path) in str(info.value)
    assert not (tmp_path / "out").exists()


def test_empty_export_changes_nothing(base, tmp_path):
    outcome = import_file(base, write(tmp_path / "export.json", []), tmp_path / "out")
    assert outcome.report["tasks_seen"] == 0 and not outcome.edited
    assert files_of(tmp_path / "out") == files_of(base)


def test_unknown_and_invalid_tasks_are_reported_and_skipped(tmp_path, capsys):
    folder = make_dataset(tmp_path / "ds", n_entities=5, samples_per_entity=3, lam=3, seed=2)
    dataset = Dataset.load(folder)
    tasks = http_tasks(folder)
    tasks_by = by_sample(tasks)
    dev, test = dataset.samples["dev"], dataset.samples["test"]
    augmented = next(s for s in dataset.samples["train"] if s.augmented_from)
    stranger = dict(tasks[0], data=dict(tasks[0]["data"], sample_id="Sdoesnotexist"))
    copy_task = dict(tasks[0], data=dict(tasks[0]["data"], sample_id=augmented.id))
    traversal = dict(tasks_by[test[0].id], data=dict(tasks_by[test[0].id]["data"], image="/data/local-files/?d=ds/../../etc/passwd"))
    encoded = dict(tasks_by[test[1].id], data=dict(tasks_by[test[1].id]["data"], image="/data/local-files/?d=%252e%252e/" + test[1].image))
    good_relink = [e for e in values(tasks_by[dev[1].id]) if e not in (dev[1].entity_id, NIL)][0]
    annotations = {
        dev[0].id: [[entity("Enotacandidate")]],
        dev[1].id: [[entity(good_relink)]],
        test[0].id: [[entity(NIL)]],
        test[1].id: [[entity(NIL)]],
        dev[2].id: [[reject("not-a-reason")]],
    }
    export = json_export([t for t in tasks if t["data"]["sample_id"] not in (test[0].id, test[1].id)] + [traversal, encoded, stranger, copy_task], annotations)
    path = write(tmp_path / "export.json", export)
    assert main(["annotate", "import", str(folder), str(path), "--out", str(tmp_path / "v2"), "--report", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    report = read_json(tmp_path / "r.json")
    assert [u["sample_id"] for u in report["unknown_ids"]] == ["Sdoesnotexist"]
    problems = {p["sample_id"]: p["problem"] for p in report["invalid"]}
    assert "not among the candidates the dataset offers" in problems[dev[0].id]
    assert "unknown reject reason 'not-a-reason'" in problems[dev[2].id]
    assert "leaves its folder" in problems[test[0].id]
    assert "not a plain relative path" in problems[test[1].id]
    assert "augmented copy" in problems[augmented.id]
    assert "unknown sample id 'Sdoesnotexist'" in err and "Enotacandidate" in err
    new = Dataset.load(tmp_path / "v2")
    assert {s.id: s.entity_id for s in new.all_samples()}[dev[1].id] == good_relink  # the valid task still counts
    assert test[0].id in {s.id for s in new.samples["test"]} and test[1].id in {s.id for s in new.samples["test"]}
    assert check(tmp_path / "v2") == []

    # --strict refuses the whole export and writes nothing
    assert main(["annotate", "import", str(folder), str(path), "--out", str(tmp_path / "v3"), "--strict"]) == 2
    assert "refused (--strict)" in capsys.readouterr().err and not (tmp_path / "v3").exists()


@pytest.mark.parametrize(
    "url, message",
    [
        ("../images/x.png", "leaves its folder"),
        ("/abs/images/x.png", "is absolute"),
        ("images/ab/{other_name}", "does not name the image"),
        ("file:///etc/passwd", "unsupported scheme"),
        ("https://user:pw@evil.example/{image}", "credentials"),
        ("https://h/x/..%2f..%2f{image}", "leaves its folder"),
        ("/data/local-files/?d=ds/{image}&d=../x", "exactly one 'd'"),
        ("/data/local-files/?d=C:/{image}", "absolute"),
        ("data:image/png;base64,AAAA", "not the image of sample"),
        ("https://h/x/{other}", "does not name the image"),
    ],
)
def test_image_url_tricks_are_refused(base, tmp_path, url, message):
    dataset = Dataset.load(base)
    sample, other = dataset.samples["dev"][:2]
    task = by_sample(http_tasks(base))[sample.id]
    task = dict(task, data=dict(task["data"], image=url.format(image=sample.image, other=other.image, other_name=Path(other.image).name)))
    path = write(tmp_path / "export.json", json_export([task], {sample.id: [[entity(NIL)]]}))
    outcome = import_file(base, path, tmp_path / "out")
    [problem] = outcome.report["invalid"]
    assert message in problem["problem"]
    assert files_of(tmp_path / "out") == files_of(base)


def test_all_unknown_ids_means_wrong_dataset(base, tmp_path):
    tasks = [dict(t, data=dict(t["data"], sample_id="X" + t["data"]["sample_id"])) for t in http_tasks(base)]
    path = write(tmp_path / "export.json", json_export(tasks))
    with pytest.raises(EmmelError, match="wrong dataset"):
        import_file(base, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_never_writes_in_place(base, tmp_path, capsys):
    path = write(tmp_path / "export.json", json_export(http_tasks(base)))
    assert main(["annotate", "import", str(base), str(path), "--out", str(base), "--overwrite"]) == 2
    assert "the input itself" in capsys.readouterr().err
    assert check(base) == []


def test_import_refuses_a_dataset_with_unsafe_image_paths(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    path = write(tmp_path / "export.json", json_export(http_tasks(folder)))
    rows = read_jsonl(folder / "train.jsonl")
    rows[0]["image"] = "../../secret.png"
    write_jsonl(folder / "train.jsonl", rows)
    with pytest.raises(EmmelError, match=rf"train.jsonl:sample {rows[0]['id']}: image path .* leaves its folder"):
        import_file(folder, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
