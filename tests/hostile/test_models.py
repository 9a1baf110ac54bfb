"""English/multilingual checkpoints and prompt files against hostile inputs: each is a one-line error naming the
file (a CLIP folder missing merges.txt, weights that do not fit their config, a tokenizer of another family, a
CLIPModel folder asking to run its own code, --prompts files that are empty, lack or repeat {}, or are not UTF-8)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from baseline.checkpoints import load_clip, load_text_encoder
from baseline.vocab import corpus_vocab, tokenizer_from_vocab
from emmel.cli import main
from emmel.errors import EmmelError
from tests.benchmark_layouts import NAMES
from tests.dataset_factory import make_dataset
from tests.hostile.remote_code import arm
from tests.mcr_fixtures import ENGLISH, tiny_clip_folder, tiny_roberta_folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return tiny_clip_folder(tmp_path_factory.mktemp("clip") / "clip-vit-base-patch32", NAMES)


@pytest.fixture
def clip_copy(clip, tmp_path) -> Path:
    return Path(shutil.copytree(clip, tmp_path / "clip copy"))


def _error(call) -> str:
    with pytest.raises(EmmelError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def test_clip_folder_without_merges_names_the_missing_file(clip_copy):
    (clip_copy / "merges.txt").unlink()
    message = _error(lambda: load_clip(clip_copy))
    assert f"{clip_copy / 'merges.txt'}: --clip-model: the BPE tokenizer is incomplete: vocab.json without merges.txt" in message


@pytest.mark.parametrize(("section", "key", "value", "tensor"), [
    ("vision_config", "image_size", 40, "vision_model.embeddings.position_embedding.weight is [17, 32] in the weights but [26, 32]"),
    ("text_config", "hidden_size", 48, "text_model.embeddings.position_embedding.weight is [77, 32] in the weights but [77, 48]"),
])
def test_config_that_does_not_fit_the_weights_names_the_tensor(clip_copy, section, key, value, tensor):
    _edit(clip_copy / "config.json", lambda c: c[section].__setitem__(key, value))
    message = _error(lambda: load_clip(clip_copy))
    assert f"{clip_copy}: --clip-model: the weights do not fit config.json: {tensor}" in message


def test_vision_and_text_towers_of_different_projection_sizes_are_refused(clip_copy):
    _edit(clip_copy / "config.json", lambda c: c.__setitem__("projection_dim", 24))
    message = _error(lambda: load_clip(clip_copy))
    assert "the weights do not fit config.json: " in message and "_projection.weight is [16, 32] in the weights but [24, 32]" in message


def test_clip_with_a_wordpiece_tokenizer_is_another_family(clip_copy):
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (clip_copy / name).unlink()
    tokenizer_from_vocab(corpus_vocab(ENGLISH)).save_pretrained(str(clip_copy))  # a BERT tokenizer, small enough to fit the ids
    message = _error(lambda: load_clip(clip_copy))
    assert "--clip-model: CLIP pools the text at its largest token id, but the tokenizer (BertTokenizer) ends a text with id 3" in message
    assert "a tokenizer of another family" in message


def test_roberta_with_a_wordpiece_tokenizer_is_another_family(tmp_path):
    folder = tiny_roberta_folder(tmp_path / "roberta", NAMES)
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink(missing_ok=True)
    tokenizer_from_vocab(corpus_vocab(ENGLISH)).save_pretrained(str(folder))
    message = _error(lambda: load_text_encoder(folder))
    assert "--text-model: the tokenizer (BertTokenizer) pads with id 0 but this roberta model counts positions from pad id 1" in message


def test_clip_model_folder_asking_for_its_code_is_refused(clip_copy, tmp_path):
    sentinel = tmp_path / "sentinel"
    arm(clip_copy, sentinel)
    assert "--clip-model: config.json asks to run code shipped with the checkpoint (auto_map: " in _error(lambda: load_clip(clip_copy))
    assert not sentinel.exists()


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("hostile prompts") / "EMMEL", n_entities=6, samples_per_entity=3, lam=3, seed=2)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file holds no template"),
    (b"# only a comment\n\n", "the file holds no template"),
    (b"a photo of {}.\na photo of it.\n", ":line 2: --prompts: template 'a photo of it.' must hold {} exactly once"),
    (b"{} and {}\n", ":line 1: --prompts: template '{} and {}' must hold {} exactly once"),
    (b"a {label} photo of {}\n", ":line 1: --prompts: template 'a {label} photo of {}' has a brace field other than {}"),
    ("一张{}的照片。".encode("gb18030"), "--prompts: not UTF-8 text"),
])
def test_bad_prompt_files_are_one_line_errors_before_any_training(dataset_dir, tmp_path, content, expected):
    path = tmp_path / "prompts.txt"
    path.write_bytes(content)
    code, err = _cli("benchmark", dataset_dir, "--prompts", path, "--models", "clip-zeroshot", "--out", tmp_path / "out")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"emmel benchmark: error: {path}"), err
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_prompt_set_is_a_one_line_error(dataset_dir, tmp_path):
    code, err = _cli("benchmark", dataset_dir, "--prompts", "klingon", "--models", "clip-zeroshot", "--out", tmp_path / "out")
    assert code == 2 and "klingon: --prompts: neither a prompt set (auto, en, zh, none) nor a file" in err
