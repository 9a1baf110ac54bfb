"""Property tests of the round trip (hypothesis): no edits give the same bytes; any edits give a
dataset that passes ``emmel stats --check`` and says exactly what the annotators decided."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.config import NIL, NIL_REASON, REJECTED_REASON, reject_reasons
from annotation.images import ImageURLs
from annotation.roundtrip import import_file, make_tasks
from emmel.dataset import Dataset
from emmel.errors import EmmelError
from emmel.integrity import check
from tests.dataset_factory import make_dataset
from tests.ls_export import entity, json_export, json_min_export, note, reject, write

SETTINGS = settings(max_examples=int(os.environ.get("EMMEL_HYPOTHESIS_EXAMPLES", "20")), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

datasets = st.fixed_dictionaries({
    "n_entities": st.integers(2, 9),
    "samples_per_entity": st.integers(1, 4),
    "lam": st.integers(1, 6),
    "seed": st.integers(0, 10_000),
    "augment": st.booleans(),
    "build_rejects": st.integers(0, 3),
})
splits = st.lists(st.sampled_from(["train", "dev", "test"]), min_size=1, max_size=3, unique=True)


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def export_for(folder: Path, chosen: list[str], mode: str) -> list[dict]:
    images = {"http": ImageURLs(mode="http", prefix="https://h.example/d"),
              "local-files": ImageURLs(mode="local-files", document_root=str(folder.parent)),
              "inline": ImageURLs(mode="inline")}[mode]
    originals = {s.split for s in Dataset.load(folder).all_samples()}
    return make_tasks(Dataset.load(folder), splits=[s for s in chosen if s in originals] or sorted(originals), images=images)


@SETTINGS
@given(spec=datasets, chosen=splits, mode=st.sampled_from(["http", "local-files", "inline"]), fmt=st.sampled_from(["JSON", "JSON_MIN"]), data=st.data())
def test_round_trip_without_edits_reproduces_the_dataset(spec, chosen, mode, fmt, data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = make_dataset(tmp / "ds", **spec)
        tasks = export_for(folder, chosen, mode)
        annotations = {}
        for task in tasks:
            current = task["predictions"][0]["result"][0]["value"]["choices"][0]
            kinds = data.draw(st.lists(st.sampled_from(["confirm", "cancelled", "empty"]), max_size=3))
            annotations[task["data"]["sample_id"]] = [
                [entity(current)] if kind == "confirm" else [] if kind == "empty" else {"result": [reject("other"), note("skip")], "was_cancelled": True}
                for kind in kinds
            ]
        export = json_export(tasks, annotations)
        if fmt == "JSON_MIN":
            export = json_min_export(export, tmp / "min")
        outcome = import_file(folder, write(tmp / "export.json", export), tmp / "out")
        assert not outcome.edited
        assert files_of(tmp / "out") == files_of(folder)


@SETTINGS
@given(spec=datasets, chosen=splits, fmt=st.sampled_from(["JSON", "JSON_MIN"]), data=st.data())
def test_any_edits_give_a_valid_dataset_that_records_them(spec, chosen, fmt, data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = make_dataset(tmp / "ds", **spec)
        before = Dataset.load(folder)
        tasks = export_for(folder, chosen, "http")
        expected, annotations = {}, {}
        for task in tasks:
            sid = task["data"]["sample_id"]
            offered = [c["value"] for c in task["data"]["candidates"]]
            kind = data.draw(st.sampled_from(["none", "link", "nil", "reject", "note"]))
            if kind == "link":
                target = data.draw(st.sampled_from([e for e in offered if e != NIL]))
                annotations[sid], expected[sid] = [[entity(target)]], ("link", target)
            elif kind == "nil":
                annotations[sid], expected[sid] = [[entity(NIL)]], ("gone", NIL_REASON)
            elif kind == "reject":
                reasons = data.draw(st.lists(st.sampled_from(reject_reasons()), min_size=1, max_size=3, unique=True))
                annotations[sid], expected[sid] = [[reject(*reasons), note("bad")]], ("gone", REJECTED_REASON)
            elif kind == "note":
                annotations[sid] = [[note(data.draw(st.text(min_size=1, max_size=20).filter(str.strip)))]]
        export = json_export(tasks, annotations)
        if fmt == "JSON_MIN":
            export = json_min_export(export, tmp / "min")
        path = write(tmp / "export.json", export)
        if all(expected.get(s.id, ("",))[0] == "gone" for s in before.all_samples() if s.augmented_from is None):
            with pytest.raises(EmmelError, match="rejects every sample"):
                import_file(folder, path, tmp / "out")
            assert not (tmp / "out").exists()
            return
        outcome = import_file(folder, path, tmp / "out")
        assert check(tmp / "out") == []
        after = Dataset.load(tmp / "out")
        samples = {s.id: s for s in after.all_samples()}
        old = {s.id: s for s in before.all_samples()}
        reasons = {r.record.split(":", 1)[1]: r.reason for r in after.rejects if r.reason in (NIL_REASON, REJECTED_REASON)}
        for sid, sample in old.items():
            want = expected.get(sample.augmented_from or sid)
            if want and want[0] == "gone":
                assert sid not in samples
                if sample.augmented_from is None:
                    assert reasons[sid] == want[1]
            elif want:
                assert samples[sid].entity_id == want[1]
            else:
                assert samples[sid] == sample
        counts = after.counts()
        assert counts["input_records"] == before.counts()["input_records"] == counts["kept"] + counts["rejected"]
        assert outcome.edited == bool(outcome.report["changed"] or outcome.report["rejected"] or outcome.report["nil"] or outcome.report["notes"])
        if not outcome.edited:
            assert files_of(tmp / "out") == files_of(folder)
