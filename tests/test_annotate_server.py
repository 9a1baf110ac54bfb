"""`emmel annotate push/pull` against a real Label Studio server (started once per session)."""

from __future__ import annotations

import httpx
import pytest

from annotation.config import NIL, NIL_REASON, REJECTED_REASON
from annotation.roundtrip import import_file
from annotation.server import fetch_export
from emmel.cli import main
from emmel.dataset import Dataset
from emmel.integrity import check
from emmel.io import read_json, read_jsonl, write_jsonl
from tests.dataset_factory import make_dataset
from tests.ls_export import entity, note, reject
from tests.ls_server import label_studio  # noqa: F401  (session fixture)

pytestmark = pytest.mark.server


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def sdk(server, token=None):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=server.url, api_key=token or server.token)


def push(server, folder, capsys, *extra) -> int:
    assert main(["annotate", "push", str(folder), "--url", server.url, "--document-root", str(server.document_root), *extra]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert out.startswith("project ") and "cannot show the images" not in captured.err
    return int(out.split()[1])


def project_tasks(ls, project: int) -> dict[str, object]:
    return {t.data["sample_id"]: t for t in ls.tasks.list(project=project, fields="all")}


@pytest.fixture
def legacy_token(label_studio, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    return label_studio.token


def test_push_annotate_pull(label_studio, legacy_token, tmp_path, capsys):  # noqa: F811
    server = label_studio
    folder = make_dataset(server.document_root / "review" / "ds", n_entities=8, samples_per_entity=4, lam=5, seed=11)
    dataset = Dataset.load(folder)
    project = push(server, folder, capsys, "--title", "EMMEL review test")
    ls = sdk(server)
    tasks = project_tasks(ls, project)
    originals = {s.id: s for s in dataset.all_samples() if s.augmented_from is None}
    assert sorted(tasks) == sorted(originals)
    assert all(t.total_predictions == 1 for t in tasks.values())
    [storage] = ls.import_storage.local.list(project=project)
    assert storage.path == str(folder.resolve())

    # the server serves the task's image from the local-files storage
    sample = dataset.samples["dev"][0]
    response = httpx.get(server.url + tasks[sample.id].data["image"], headers={"Authorization": f"Token {legacy_token}"})
    assert response.status_code == 200 and response.content == (folder / sample.image).read_bytes()

    # annotators at work
    def annotate(sid, *results, cancelled=False):
        ls.annotations.create(id=tasks[sid].id, result=list(results), was_cancelled=cancelled)

    def offered(sid):
        return [c["value"] for c in tasks[sid].data["candidates"]]

    dev, test = dataset.samples["dev"], dataset.samples["test"]
    train = sorted((s for s in dataset.samples["train"] if s.augmented_from is None), key=lambda s: s.id)
    relinked = dev[0]
    target = next(e for e in offered(relinked.id) if e not in (relinked.entity_id, NIL))
    annotate(relinked.id, entity(target), note("应为相邻项目"))
    annotate(relinked.id, entity(target))
    annotate(relinked.id, entity(relinked.entity_id))
    rejected = train[0]
    annotate(rejected.id, reject("image_text_mismatch", "bad_image"), note("图文不符"))
    annotate(test[0].id, entity(NIL))
    tie = dev[1]
    annotate(tie.id, entity(tie.entity_id))
    annotate(tie.id, entity(next(e for e in offered(tie.id) if e not in (tie.entity_id, NIL))))
    annotate(dev[2].id, entity(dev[2].entity_id))  # confirmed
    annotate(test[1].id, entity("ZZZ"))  # the server accepts it; import must not
    annotate(test[2].id, reject("duplicate"), cancelled=True)  # skipped: ignored

    out = tmp_path / "v2"
    assert main(["annotate", "pull", str(project), "--url", server.url, "--dataset", str(folder), "--out", str(out),
                 "--save-export", str(tmp_path / "export.json"), "--report", str(tmp_path / "report.json")]) == 0
    captured = capsys.readouterr()
    assert "not among the candidates the dataset offers" in captured.err and "changed 1" in captured.out
    report = read_json(tmp_path / "report.json")
    assert report["tasks_seen"] == len(originals) and report["format"] == "JSON"
    assert (report["changed"], report["rejected"], report["nil"], report["conflicting"], report["confirmed"]) == (1, 1, 1, 1, 1)
    assert [p["sample_id"] for p in report["invalid"]] == [test[1].id]
    assert check(out) == []
    new = Dataset.load(out)
    samples = {s.id: s for s in new.all_samples()}
    assert samples[relinked.id].entity_id == target and target in new.candidates["dev"][relinked.id]
    assert samples[tie.id].entity_id == tie.entity_id and samples[test[1].id].entity_id == test[1].entity_id
    assert rejected.id not in samples and test[0].id not in samples
    assert {r.reason for r in new.rejects if r.record.endswith((rejected.id, test[0].id))} == {REJECTED_REASON, NIL_REASON}
    assert sorted(n["note"] for n in read_jsonl(out / "annotation" / "notes.jsonl")) == ["图文不符", "应为相邻项目"]
    assert new.meta["annotation"]["rounds"][0]["source"] == f"label-studio project {project}"
    assert check(folder) == []  # the pushed dataset is untouched

    # the server's JSON_MIN export of the same project gives the same dataset
    (tmp_path / "min.json").write_bytes(fetch_export(project, server.url, "JSON_MIN"))
    outcome = import_file(folder, tmp_path / "min.json", tmp_path / "v2-min")
    assert outcome.report["format"] == "JSON_MIN"
    for key in ("changed", "rejected", "nil", "conflicting", "confirmed", "notes"):
        assert outcome.report[key] == report[key]
    for name in ("kb.jsonl", "train.jsonl", "dev.jsonl", "test.jsonl", "rejects.jsonl", "candidates/dev.jsonl", "candidates/test.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "v2-min" / name).read_bytes()


def test_pull_without_edits_is_identical(label_studio, legacy_token, tmp_path, capsys):  # noqa: F811
    folder = make_dataset(label_studio.document_root / "noedit" / "ds", n_entities=5, samples_per_entity=3, lam=3, seed=4, plots=True)
    dataset = Dataset.load(folder)
    sample = dataset.samples["dev"][0]
    rival = next(e for e in dataset.candidates["dev"][sample.id] if e != sample.entity_id)
    write_jsonl(tmp_path / "mcr.jsonl", [{"sample_id": sample.id, "gold": sample.entity_id, "gold_rank": None, "protocol": "candidates",
                                          "ranked": [{"id": rival, "score": 0.75, "scores": {"text": 1.5}}]}])  # emmel.predictions
    project = push(label_studio, folder, capsys, "--split", "dev", "--split", "test", "--predictions", str(tmp_path / "mcr.jsonl"))
    task = project_tasks(sdk(label_studio), project)[sample.id]
    [prediction] = sdk(label_studio).predictions.list(task=task.id)
    assert (prediction.model_version, prediction.score, prediction.result[0]["value"]["choices"]) == ("mcr", 0.75, [rival])
    assert main(["annotate", "pull", str(project), "--url", label_studio.url, "--dataset", str(folder), "--out", str(tmp_path / "same")]) == 0
    assert "identical to the input" in capsys.readouterr().out
    assert files_of(tmp_path / "same") == files_of(folder)


def test_personal_access_token(label_studio, tmp_path, monkeypatch, capsys):  # noqa: F811
    response = httpx.post(label_studio.url + "/api/token/", headers={"Authorization": f"Token {label_studio.token}"})
    assert response.status_code in (200, 201), response.text
    pat = response.json()["token"]
    assert pat.count(".") == 2  # a JWT (refresh token), sent by the SDK as Bearer access tokens
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", pat)
    folder = make_dataset(label_studio.document_root / "pat" / "ds", n_entities=4, samples_per_entity=3, lam=3, seed=8)
    project = push(label_studio, folder, capsys, "--images", "inline", "--split", "dev")
    sample = Dataset.load(folder).samples["dev"][0]
    task = project_tasks(sdk(label_studio, pat), project)[sample.id]
    assert task.data["image"].startswith("data:image/")
    sdk(label_studio, pat).annotations.create(id=task.id, result=[entity(NIL)])
    assert main(["annotate", "pull", str(project), "--url", label_studio.url, "--dataset", str(folder), "--out", str(tmp_path / "v2")]) == 0
    assert "nil 1" in capsys.readouterr().out and check(tmp_path / "v2") == []

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "0" * 40)
    assert main(["annotate", "pull", str(project), "--url", label_studio.url, "--dataset", str(folder), "--out", str(tmp_path / "v3")]) == 2
    err = capsys.readouterr().err
    assert "refused the token in LABEL_STUDIO_API_KEY (HTTP 401)" in err and "0" * 40 not in err
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    assert main(["annotate", "pull", str(project), "--url", label_studio.url, "--dataset", str(folder), "--out", str(tmp_path / "v3")]) == 2
    assert "set LABEL_STUDIO_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "v3").exists()


def test_push_refuses_bad_local_files_layout_and_pull_unknown_project(label_studio, legacy_token, tmp_path, capsys):  # noqa: F811
    ls = sdk(label_studio)
    before = len(list(ls.projects.list()))
    outside = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3)
    assert main(["annotate", "push", str(outside), "--url", label_studio.url, "--document-root", str(label_studio.document_root)]) == 2
    assert "not inside the Label Studio document root" in capsys.readouterr().err
    assert main(["annotate", "push", str(outside), "--url", label_studio.url, "--document-root", str(outside)]) == 2
    assert "document root itself" in capsys.readouterr().err
    assert len(list(ls.projects.list())) == before
    # URLs made for another document root: pushed, but the reviewer is warned that images will not show
    inside = make_dataset(label_studio.document_root / "wrongroot" / "ds", n_entities=3, samples_per_entity=3)
    assert main(["annotate", "push", str(inside), "--url", label_studio.url, "--document-root", str(inside.parent), "--split", "dev"]) == 0
    assert "cannot show the images (HTTP 404" in capsys.readouterr().err
    assert main(["annotate", "pull", "987654", "--url", label_studio.url, "--dataset", str(outside), "--out", str(tmp_path / "x")]) == 2
    assert "exporting project 987654: HTTP 404" in capsys.readouterr().err
