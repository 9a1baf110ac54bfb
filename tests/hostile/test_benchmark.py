"""`emmel benchmark` against hostile inputs: checkpoints that ask to run their own code (answered "y"
on stdin), and output folders that would replace the dataset, its parent or the user's files."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from baseline.checkpoints import load_clip, load_text_encoder
from emmel.cli import main
from emmel.errors import EmmelError
from tests.dataset_factory import make_dataset
from tests.helpers import run_emmel
from tests.hostile.remote_code import arm, runs_when_trusted
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_bert_folder, tiny_hf_clip_folder

needs_vocab = pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip (the Chinese vocab of the tiny checkpoints) not installed")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("hostile bench") / "EMMEL", n_entities=6, samples_per_entity=3, lam=3, seed=2)


def one_error_line(result, command: str = "benchmark") -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"emmel {command}: error: "), result.stderr
    return lines[0]


@needs_vocab
def test_armed_checkpoint_is_live(tmp_path):
    """Control: the payload does run when transformers is told to trust the folder."""
    folder = arm(tiny_bert_folder(tmp_path / "bert"), tmp_path / "sentinel")
    assert runs_when_trusted(folder, tmp_path / "sentinel", tmp_path / "modules")


@needs_vocab
def test_checkpoint_code_is_refused_even_when_the_user_answers_yes(dataset_dir, tmp_path):
    sentinel = tmp_path / "sentinel"
    folder = arm(tiny_bert_folder(tmp_path / "checkpoint 模型"), sentinel)
    result = run_emmel("benchmark", dataset_dir, "--text-model", folder, "--models", "text-only", "--epochs", "1",
                       "--out", tmp_path / "out", input="y\ny\n", timeout=300)
    line = one_error_line(result)
    assert f"{folder / 'config.json'}: --text-model: config.json asks to run code shipped with the checkpoint (auto_map: " in line
    assert not sentinel.exists() and not (tmp_path / "out").exists()


@needs_vocab
def test_clip_model_code_is_refused_in_process_too(dataset_dir, tmp_path, monkeypatch):
    sentinel = tmp_path / "sentinel"
    folder = arm(tiny_hf_clip_folder(tmp_path / "clip"), sentinel)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\ny\n"))  # what transformers' prompt would read
    code, err = _cli("benchmark", dataset_dir, "--clip-model", folder, "--models", "image-only", "--epochs", "1", "--out", tmp_path / "out")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--clip-model: config.json asks to run code" in lines[0], err
    assert not sentinel.exists() and not (tmp_path / "out").exists()


@needs_vocab
def test_every_loader_refuses_auto_map_wherever_it_hides(tmp_path):
    sentinel = tmp_path / "sentinel"
    tokenizer = arm(tiny_bert_folder(tmp_path / "bert"), sentinel, file="tokenizer_config.json")
    with pytest.raises(EmmelError, match="tokenizer_config.json: --text-model: tokenizer_config.json asks to run code"):
        load_text_encoder(tokenizer)
    nested = arm(tiny_hf_clip_folder(tmp_path / "clip"), sentinel, nested="text_config")
    with pytest.raises(EmmelError, match="--clip-model: config.json asks to run code"):
        load_clip(nested)
    assert not sentinel.exists()


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


@pytest.mark.parametrize("where, message", [
    ("dataset", "refusing to write over the input itself"),
    ("parent", "refusing to replace a folder that holds the input"),
    ("user folder", "emmel did not write"),
    ("dataset kind", "refusing to replace an emmel dataset folder with a benchmark"),
])
def test_out_that_would_lose_data_is_refused_before_training(dataset_dir, tmp_path, where, message):
    user = tmp_path / "results of last year"
    user.mkdir()
    (user / "table.csv").write_text("model,top1\nmine,99\n")
    other = make_dataset(tmp_path / "other", n_entities=3, samples_per_entity=3, lam=2) if where == "dataset kind" else None
    out = {"dataset": dataset_dir, "parent": dataset_dir.parent, "user folder": user, "dataset kind": other}[where]
    code, err = _cli("benchmark", dataset_dir, "--out", out, "--overwrite", "--epochs", "1", "--threads", "1")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert (user / "table.csv").read_text() == "model,top1\nmine,99\n" and (dataset_dir / "manifest.json").exists()
