"""Load the encoders from local checkpoints (never from the network), or build them from a preset.

- ``--text-model DIR``: any transformers BERT / RoBERTa / XLM-R folder (``config.json`` + weights +
  its own tokenizer: WordPiece ``vocab.txt``, byte-level BPE ``vocab.json`` + ``merges.txt``,
  SentencePiece, or ``tokenizer.json``), e.g. hfl/chinese-roberta-wwm-ext or roberta-base saved locally.
- ``--clip-model``: a transformers ``ChineseCLIPModel`` folder (e.g. OFA-Sys/chinese-clip-vit-base-patch16),
  a transformers ``CLIPModel`` folder (openai/clip-vit-base-patch32, clip-vit-large-patch14: CLIP's
  BPE tokenizer, ``vocab.json`` + ``merges.txt``) or an original Chinese-CLIP checkpoint file
  (``clip_cn_vit-b-16.pt``, read with ``torch.load(weights_only=True)`` and converted, see :mod:`baseline.cnclip`).

A folder or file of the wrong architecture, a tokenizer that is incomplete or of another family than
its model (:func:`check_text_tokenizer`, :func:`check_clip_tokenizer`) is refused with a one-line ``EmmelError``.

Every transformers ``from_pretrained`` of emmel goes through :func:`baseline.safe_load.pretrained`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from baseline.runtime import quiet_transformers
from baseline.safe_load import pretrained
from emmel.errors import EmmelError

TEXT_TYPES = ("bert", "roberta", "xlm-roberta")
# model types whose position ids are counted from the pad token (padding_idx): their tokenizer must pad with it
PAD_POSITIONED = ("roberta", "xlm-roberta")
# model_type of a CLIP folder → (transformers class, how the report names it)
CLIP_TYPES = {"chinese_clip": ("ChineseCLIPModel", "transformers ChineseCLIPModel folder"),
              "clip": ("CLIPModel", "transformers CLIPModel folder")}
CLIP_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def _model_type(folder: Path, what: str) -> str:
    from transformers import AutoConfig

    if not (folder / "config.json").is_file():
        raise EmmelError(f"{what}: no config.json in the folder (expected a transformers checkpoint folder)", path=folder)
    try:
        config = pretrained(AutoConfig, folder, what)
    except EmmelError:
        raise
    except Exception as exc:
        raise EmmelError(f"{what}: unreadable config.json ({type(exc).__name__}: {exc})", path=folder) from None
    return config.model_type


def load_text_encoder(path: str | os.PathLike):
    """``(encoder, tokenizer)`` of a BERT/RoBERTa checkpoint folder; the pooler is not used."""
    from transformers import AutoModel

    from baseline.vocab import load_tokenizer

    folder = Path(path)
    if not folder.is_dir():
        raise EmmelError("--text-model must be a checkpoint folder (config.json, weights, vocab.txt)", path=folder)
    kind = _model_type(folder, "--text-model")
    if kind not in TEXT_TYPES:
        raise EmmelError(f"--text-model: expected a BERT/RoBERTa checkpoint, found model_type {kind!r}", path=folder)
    try:
        with quiet_transformers():
            encoder = pretrained(AutoModel, folder, "--text-model", add_pooling_layer=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise weights_error("--text-model", folder, exc, AutoModel) from None
    tokenizer = load_tokenizer(folder, "--text-model")
    if tokenizer is None:
        raise EmmelError("--text-model: the folder has no tokenizer (tokenizer.json, vocab.txt, vocab.json + merges.txt)", path=folder)
    check_text_tokenizer(encoder.config, tokenizer, folder)
    return encoder, tokenizer


def weights_error(what: str, folder: Path, exc: Exception, loader) -> EmmelError:
    """One line for weights transformers refused; for weights that do not fit config.json, the first tensor whose
    shape differs (transformers prints that report through its logger, which emmel keeps quiet)."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    mismatch = _first_shape_mismatch(folder, loader) if "mismatch" in str(exc) else None
    if mismatch:
        key, stored, expected = mismatch
        return EmmelError(f"{what}: the weights do not fit config.json: {key} is {list(stored)} in the weights but {list(expected)} "
                          "by the config (config.json must describe the model the weights were saved from)", path=folder)
    return EmmelError(f"{what}: cannot load the weights ({type(exc).__name__}: {line})", path=folder)


def _first_shape_mismatch(folder: Path, loader) -> tuple[str, tuple, tuple] | None:
    """``(name, shape in the safetensors files, shape config.json implies)`` of the first tensor that differs, or None."""
    from safetensors import safe_open
    from transformers import AutoConfig

    try:
        config = pretrained(AutoConfig, folder, "checkpoint")
        with torch.device("meta"):
            model = loader.from_config(config) if hasattr(loader, "from_config") else loader(config)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        prefix = f"{getattr(model, 'base_model_prefix', '')}."
        for file in sorted(Path(folder).glob("*.safetensors")):
            with safe_open(str(file), "pt") as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    shape = tuple(handle.get_slice(key).get_shape())
                    name = key if key in expected else key[len(prefix):] if key.startswith(prefix) else key
                    if name in expected and expected[name] != shape:
                        return name, shape, expected[name]
    except Exception:  # the report is a courtesy: never hide the original error behind another
        return None
    return None


def check_text_tokenizer(config, tokenizer, folder: Path, what: str = "--text-model") -> None:
    """The tokenizer fits the text model: its ids exist in the model, the pair starts with a token the
    cross-encoder can read ([CLS] / <s>), and RoBERTa-style models pad with the id they count positions from."""
    from baseline.pairs import Template

    if len(tokenizer) > config.vocab_size:
        raise EmmelError(f"{what}: the tokenizer has {len(tokenizer)} tokens but the model only {config.vocab_size} "
                         "(a tokenizer of another model?)", path=folder)
    template = Template.of(tokenizer)
    if not template.prefix:
        raise EmmelError(f"{what}: the tokenizer ({type(tokenizer).__name__}) puts no start token ([CLS] or <s>) before a pair; "
                         "the cross-encoder scores that position", path=folder)
    if config.model_type in PAD_POSITIONED and config.pad_token_id is not None and template.pad != config.pad_token_id:
        raise EmmelError(f"{what}: the tokenizer ({type(tokenizer).__name__}) pads with id {template.pad} but this {config.model_type} "
                         f"model counts positions from pad id {config.pad_token_id} (a tokenizer of another family?)", path=folder)


def load_clip(path: str | os.PathLike):
    """``(model, tokenizer, form)``: a ``ChineseCLIPModel`` or ``CLIPModel`` folder, or an original Chinese-CLIP ``.pt``
    converted to a ``ChineseCLIPModel``; ``form`` says which, for the report."""
    import transformers

    from baseline.vocab import cnclip_vocab_path, load_tokenizer, tokenizer_from_vocab

    path = Path(path)
    if path.is_dir():
        kind = _model_type(path, "--clip-model")
        if kind not in CLIP_TYPES:
            raise EmmelError(f"--clip-model: expected a ChineseCLIPModel or CLIPModel checkpoint, found model_type {kind!r}", path=path)
        class_name, form = CLIP_TYPES[kind]
        tokenizer = load_tokenizer(path, "--clip-model")  # before the weights: an incomplete tokenizer fails fast
        try:
            with quiet_transformers():
                model = pretrained(getattr(transformers, class_name), path, "--clip-model")
        except (OSError, ValueError, RuntimeError) as exc:
            raise weights_error("--clip-model", path, exc, getattr(transformers, class_name)) from None
        if tokenizer is None and kind == "clip":
            raise EmmelError("--clip-model: a CLIPModel folder needs its tokenizer (vocab.json + merges.txt, or tokenizer.json)", path=path)
    elif path.is_file():
        if path.suffix.lower() not in CLIP_FILE_SUFFIXES:
            raise EmmelError(f"--clip-model: expected a folder or a {'/'.join(CLIP_FILE_SUFFIXES)} checkpoint file", path=path)
        from baseline.cnclip import model_from_state_dict, unwrap_state_dict

        model = model_from_state_dict(unwrap_state_dict(read_checkpoint(path), path), path)
        tokenizer = None
        form = "original Chinese-CLIP checkpoint (converted)"
    else:
        raise EmmelError("--clip-model not found", path=path)
    if tokenizer is None:
        vocab = cnclip_vocab_path()
        if vocab is None:
            raise EmmelError("--clip-model has no tokenizer and cn_clip (which ships the Chinese vocab) is not installed; "
                             "`pip install --no-deps cn_clip` or put vocab.txt beside the checkpoint", path=path)
        tokenizer = tokenizer_from_vocab(vocab)
    check_clip_tokenizer(model.config, tokenizer, path)
    return model.eval(), tokenizer, form


def check_clip_tokenizer(config, tokenizer, path: Path) -> None:
    """The tokenizer fits the CLIP text tower: its ids exist in the model, and the token the tower pools
    is where the tokenizer puts it (Chinese-CLIP: the first token, [CLS]; CLIP: the end token, found as
    ``eos_token_id`` or, in configs older than transformers PR #24773 (``eos_token_id`` 2), as the
    largest id of the sequence, so the end token must be the vocabulary's last)."""
    from baseline.pairs import Template

    text = config.text_config
    if len(tokenizer) > text.vocab_size:
        raise EmmelError(f"--clip-model: tokenizer has {len(tokenizer)} tokens but the model only {text.vocab_size}", path=path)
    template = Template.of(tokenizer)
    name = type(tokenizer).__name__
    if config.model_type == "chinese_clip":
        if not template.single_prefix:
            raise EmmelError(f"--clip-model: the tokenizer ({name}) puts no [CLS] token first; Chinese-CLIP pools there "
                             "(a tokenizer of another family?)", path=path)
        return
    end = template.single_suffix[-1] if template.single_suffix else None
    eos = getattr(text, "eos_token_id", None)
    if eos == 2:  # legacy configs: CLIP pools at the largest id of the sequence
        if end is None or end != len(tokenizer) - 1 or template.pad > end:
            raise EmmelError(f"--clip-model: CLIP pools the text at its largest token id, but the tokenizer ({name}) ends a text with "
                             f"id {end} of {len(tokenizer)} (a tokenizer of another family?)", path=path)
    elif eos is not None and end != eos:
        raise EmmelError(f"--clip-model: CLIP pools the text at its end token (id {eos}), but the tokenizer ({name}) ends a text with "
                         f"id {end} (a tokenizer of another family?)", path=path)


def center_crop(path: str | os.PathLike) -> bool:
    """Whether a checkpoint folder's image processor crops the centre (``do_center_crop`` in preprocessor_config.json,
    as OpenAI CLIP's); files and folders without one resize to the square, as Chinese-CLIP does."""
    import json

    config = Path(path) / "preprocessor_config.json"
    if not config.is_file():
        return False
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EmmelError(f"--clip-model: unreadable preprocessor_config.json ({exc})", path=config) from None
    return bool(data.get("do_center_crop", False)) if isinstance(data, dict) else False


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's content: safetensors, or a torch file with ``weights_only=True`` (no pickle code)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise EmmelError(f"unreadable safetensors file ({exc})", path=path) from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError, zipfile errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EmmelError(f"cannot read the checkpoint safely with torch.load(weights_only=True): {first}", path=path) from None


def build_text_encoder(preset, vocab_size: int, seed: int):
    """A random-initialised BERT of the preset's size (seeded)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=vocab_size, pad_token_id=0, **preset.text), add_pooling_layer=False)


def build_clip(preset, vocab_size: int, seed: int):
    """A random-initialised ChineseCLIPModel of the preset's size (seeded)."""
    from transformers import ChineseCLIPConfig, ChineseCLIPModel

    torch.manual_seed(seed)
    config = ChineseCLIPConfig(text_config=dict(vocab_size=vocab_size, **preset.clip_text), vision_config=dict(preset.clip_vision),
                               projection_dim=preset.projection_dim)
    return ChineseCLIPModel(config)
