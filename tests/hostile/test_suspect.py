"""`emmel flag` and `emmel build --clip-model` against hostile inputs: checkpoints that are not checkpoints or
ask to run their own code, datasets with missing images or malformed suspect fields, outputs that would
replace the input. Every failure is one line, exit 2, and writes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from emmel.cli import main
from emmel.integrity import check
from tests.dataset_factory import make_dataset
from tests.hostile.remote_code import arm
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_hf_clip_folder
from tests.synth.swapped import write_swapped_source

pytestmark = pytest.mark.usefixtures("restore_torch_threads")  # the tests run CLIP with --threads 1
needs_vocab = pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip (the Chinese vocab of the tiny checkpoint) not installed")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("hostile suspect") / "EMMEL 数据", n_entities=6, samples_per_entity=3, lam=3, seed=4)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return tiny_hf_clip_folder(tmp_path_factory.mktemp("hostile clip") / "clip")


def cli(*argv, stdin: str = "") -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), _stdin(stdin):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


@contextlib.contextmanager
def _stdin(text: str):
    import sys

    saved, sys.stdin = sys.stdin, io.StringIO(text)  # what a "run the custom code? [y/N]" prompt would read
    try:
        yield
    finally:
        sys.stdin = saved


def one_line(code: int, err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"emmel {command}: error: "), err
    return lines[0]


def test_clip_model_that_is_not_a_checkpoint(dataset_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model", encoding="utf-8")
    fake = tmp_path / "clip.pt"
    fake.write_bytes(b"this is not a torch file")
    folder = tmp_path / "empty folder"
    folder.mkdir()
    cases = {notes: "expected a folder or a .pt/.pth/.bin/.ckpt/.safetensors checkpoint file",
             fake: "cannot read the checkpoint safely with torch.load(weights_only=True)",
             folder: "--clip-model: no config.json in the folder", dataset_dir: "--clip-model: no config.json in the folder",
             tmp_path / "missing": "--clip-model not found"}
    for path, message in cases.items():
        line = one_line(*cli("flag", dataset_dir, "--clip-model", path, "--out", tmp_path / "out"), "flag")
        assert message in line and str(path) in line, line
        assert not (tmp_path / "out").exists()


@needs_vocab
def test_checkpoint_code_is_refused_even_when_the_user_answers_yes(dataset_dir, tmp_path):
    sentinel = tmp_path / "sentinel"
    armed = arm(tiny_hf_clip_folder(tmp_path / "armed clip"), sentinel)
    write_swapped_source(tmp_path / "raw", 1)
    for argv in (("flag", dataset_dir, "--out", tmp_path / "out"), ("build", tmp_path / "raw", "--out", tmp_path / "out")):
        line = one_line(*cli(*argv, "--clip-model", armed, "--fit-epochs", "1", stdin="y\ny\n"), argv[0])
        assert f"{armed / 'config.json'}: --clip-model: config.json asks to run code shipped with the checkpoint (auto_map: " in line
    assert not sentinel.exists() and not (tmp_path / "out").exists()


@needs_vocab
def test_build_checks_the_checkpoint_before_reading_any_image(clip, tmp_path):
    """A bad --clip-model fails in a second with nothing written, however large the sources."""
    write_swapped_source(tmp_path / "raw", 1)
    (tmp_path / "raw" / "records.jsonl").write_text("{broken\n", encoding="utf-8")  # reading it would reject, not fail
    line = one_line(*cli("build", tmp_path / "raw", "--out", tmp_path / "out", "--clip-model", tmp_path / "raw"), "build")
    assert "--clip-model: no config.json in the folder" in line and not (tmp_path / "out").exists()
    line = one_line(*cli("build", tmp_path / "raw", "--out", tmp_path / "raw", "--clip-model", clip), "build")
    assert "refusing to write over the input itself" in line


@needs_vocab
def test_dataset_with_a_missing_image_fails_before_the_fit(dataset_dir, clip, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(dataset_dir, broken)
    sample = json.loads((broken / "dev.jsonl").read_text(encoding="utf-8").splitlines()[0])
    (broken / sample["image"]).unlink()
    line = one_line(*cli("flag", broken, "--clip-model", clip, "--fit-epochs", "50", "--out", tmp_path / "out"), "flag")
    assert f"image {sample['image']!r} of sample {sample['id']} is missing" in line and str(broken) in line
    assert not (tmp_path / "out").exists()


@needs_vocab
def test_outputs_that_would_replace_an_input_are_refused(dataset_dir, clip, tmp_path):
    before = sorted(p.name for p in dataset_dir.iterdir())
    cases = {dataset_dir: "refusing to write over the input itself", dataset_dir.parent: "refusing to replace a folder that holds the input",
             clip: "refusing to write over the input itself"}
    for out, message in cases.items():
        line = one_line(*cli("flag", dataset_dir, "--clip-model", clip, "--out", out, "--overwrite"), "flag")
        assert message in line, line
    assert sorted(p.name for p in dataset_dir.iterdir()) == before and check(dataset_dir) == []
    mine = tmp_path / "my notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me", encoding="utf-8")
    line = one_line(*cli("flag", dataset_dir, "--clip-model", clip, "--out", mine, "--overwrite"), "flag")
    assert "refusing to replace a folder emmel did not write" in line and (mine / "thesis.tex").read_text(encoding="utf-8") == "keep me"


def test_flag_needs_a_model_and_sane_settings(dataset_dir, tmp_path):
    assert "give --clip-model" in one_line(*cli("flag", dataset_dir, "--out", tmp_path / "out"), "flag")
    line = one_line(*cli("flag", dataset_dir, "--out", tmp_path / "out", "--clip-model", "x", "--suspect-threshold", "-1"), "flag")
    assert "suspect.threshold must be > 0" in line
    line = one_line(*cli("flag", dataset_dir, "--out", tmp_path / "out", "--clip-model", "x", "--set", "suspect.fit_lr=fast"), "flag")
    assert "suspect.fit_lr: cannot read 'fast' as a number" in line


def test_malformed_suspect_fields_are_named(dataset_dir, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(dataset_dir, folder)
    path = folder / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0]["suspect"] = "yes"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    line = one_line(*cli("flag", folder, "--clip-model", "x", "--out", tmp_path / "out"), "flag")
    assert "train.jsonl:line 1: field 'suspect' must be dict, got str" in line
    rows[0]["suspect"] = {"image_text": "high", "flagged": True}
    original = next(r for r in rows if r.get("augmented_from"))
    original["suspect"] = {"image_text": 0.1, "image_label": 0.2, "z_text": 0, "z_label": 0, "z": 0, "flagged": False}
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    problems = [p for p in check(folder) if "suspect" in p]
    assert f"train.jsonl: sample {rows[0]['id']}: suspect: 'image_text' must be a number" in problems
    assert f"train.jsonl: sample {original['id']}: suspect: on an augmented copy (only originals are scored)" in problems


def test_unknown_export_order_is_one_line(dataset_dir, tmp_path):
    line = one_line(*cli("annotate", "export", dataset_dir, "--out", tmp_path / "t.json", "--order", "suspect,loudest"), "annotate")
    assert "unknown task order 'loudest'; choose from dataset, suspect" in line and not (tmp_path / "t.json").exists()


@needs_vocab
def test_a_fit_that_diverges_is_an_error_not_a_flag(dataset_dir, clip, tmp_path):
    code, err = cli("flag", dataset_dir, "--clip-model", clip, "--fit-epochs", "2", "--fit-lr", "1e30", "--threads", "1", "--out", tmp_path / "out")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("emmel flag: error: the model gave a non-finite score to sample S"), err
    assert "learning rate too high" in last and not (tmp_path / "out").exists()
