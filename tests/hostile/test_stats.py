"""`emmel stats --check` against datasets that must not pass: no samples, stray files, a missing
manifest; the output marker is not a stray file."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from emmel.cli import main
from emmel.dataset import Dataset
from emmel.io import MARKER
from emmel.schema import Reject
from tests.dataset_factory import build_dataset, make_dataset


def stats(folder: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["stats", "--check", str(folder)])
    return code, out.getvalue(), err.getvalue()


def test_marker_is_not_a_stray_file_but_others_are(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3, lam=2)
    assert (folder / MARKER).is_file() and stats(folder)[0] == 0
    (folder / "images" / "extra.jpg").write_bytes(b"x")
    code, out, _ = stats(folder)
    assert code == 1 and "images/extra.jpg: file not listed in the manifest" in out


def test_a_dataset_without_samples_fails_the_check(tmp_path):
    staging = tmp_path / "staging"
    dataset = build_dataset(staging, n_entities=3, samples_per_entity=3, lam=2)
    rejected = [Reject(record=f"raw/records.jsonl:{k}", reason="bad_encoding", detail="not UTF-8", source="raw") for k in range(1, 6)]
    empty = Dataset(root=staging, kb=dataset.kb, samples={}, candidates={}, rejects=rejected,
                    meta={**dataset.meta, "input_records": len(rejected)})
    folder = empty.save(tmp_path / "empty", plots=False)
    code, out, _ = stats(folder)
    assert code == 1 and "the dataset holds no samples" in out


def test_an_interrupted_build_is_not_a_dataset(tmp_path):
    folder = make_dataset(tmp_path / "ds", n_entities=3, samples_per_entity=3, lam=2)
    (folder / "manifest.json").unlink()
    code, _, err = stats(folder)
    assert code == 2 and err.strip().splitlines() == [f"emmel stats: error: {folder}: not a finished dataset (no manifest.json); was the build interrupted?"]
