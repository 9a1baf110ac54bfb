"""`emmel link MODEL` against a saved model folder whose checkpoints ask to run their own code, and
model paths that are not model folders."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from baseline.config import ModelConfig
from baseline.data import KBIndex
from emmel.cli import main
from emmel.dataset import Dataset
from tests.dataset_factory import make_dataset
from tests.hostile.remote_code import arm
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_bert_folder, tiny_hf_clip_folder

pytestmark = pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip (the Chinese vocab of the tiny checkpoints) not installed")


def saved_model(folder: Path, kb, modules: list[str]) -> Path:
    """A model folder as ``emmel benchmark`` saves it (emmel_model.json, kb.jsonl, text/ and/or clip/)."""
    index = KBIndex.from_entities(kb)
    folder.mkdir(parents=True)
    ModelConfig(name="mcr" if len(modules) == 2 else "text-only" if modules == ["text"] else "image-only", modules=modules,
                image_size=32, kb_sha256=index.sha256, kb_size=len(index)).save(folder)
    (folder / "kb.jsonl").write_text(index.text, encoding="utf-8")
    if "text" in modules:
        tiny_bert_folder(folder / "text")
    if "visual" in modules:
        tiny_hf_clip_folder(folder / "clip")
    return folder


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return Dataset.load(make_dataset(tmp_path_factory.mktemp("hostile link") / "ds", n_entities=4, samples_per_entity=3, lam=2)).kb


def link(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["link", *map(str, argv), "--threads", "1"])
    return code, out.getvalue(), err.getvalue()


def test_clean_model_links(kb, tmp_path):
    folder = saved_model(tmp_path / "模型 mcr", kb, ["text"])
    code, out, err = link(folder, "--text", "春节活动", "-k", "2", "--json")
    assert code == 0 and len(out.splitlines()) == 2, err


@pytest.mark.parametrize("module, file", [("text", "config.json"), ("clip", "config.json"), ("clip", "tokenizer_config.json")])
def test_model_folder_code_is_refused_even_when_the_user_answers_yes(kb, tmp_path, monkeypatch, module, file):
    sentinel = tmp_path / "sentinel"
    folder = saved_model(tmp_path / "model", kb, ["text", "visual"])
    arm(folder / module, sentinel, file=file)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\ny\n"))  # what transformers' prompt would read
    code, _, err = link(folder, "--text", "春节活动")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"emmel link: error: {folder / module / file}: "), err
    assert f"{file} asks to run code shipped with the checkpoint" in lines[0] and not sentinel.exists()


def test_a_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "photos").mkdir()
    code, _, err = link(tmp_path / "photos", "--text", "春节")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no trained 'mcr' model found" in err
