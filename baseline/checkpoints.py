"""Load the encoders from local checkpoints (never from the network), or build them from a preset.

- ``--text-model DIR``: any transformers BERT/RoBERTa folder (``config.json`` + weights + vocab),
  e.g. hfl/chinese-roberta-wwm-ext saved locally.
- ``--clip-model``: a transformers ``ChineseCLIPModel`` folder (e.g. OFA-Sys/chinese-clip-vit-base-patch16)
  or an original Chinese-CLIP checkpoint file (``clip_cn_vit-b-16.pt``, read with
  ``torch.load(weights_only=True)`` and converted, see :mod:`baseline.cnclip`).
A folder or file of the wrong architecture is refused with a one-line ``EmmelError``.

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
        raise EmmelError(f"--text-model: cannot load the weights ({type(exc).__name__}: {str(exc).splitlines()[0]})", path=folder) from None
    tokenizer = load_tokenizer(folder)
    if tokenizer is None:
        raise EmmelError("--text-model: the folder has no tokenizer (vocab.txt or tokenizer.json)", path=folder)
    return encoder, tokenizer


def load_clip(path: str | os.PathLike):
    """``(ChineseCLIPModel, tokenizer, kind)`` of a transformers folder or an original ``.pt`` checkpoint."""
    from baseline.vocab import cnclip_vocab_path, load_tokenizer, tokenizer_from_vocab

    path = Path(path)
    if path.is_dir():
        from transformers import ChineseCLIPModel

        kind = _model_type(path, "--clip-model")
        if kind != "chinese_clip":
            raise EmmelError(f"--clip-model: expected a ChineseCLIPModel checkpoint, found model_type {kind!r}", path=path)
        try:
            with quiet_transformers():
                model = pretrained(ChineseCLIPModel, path, "--clip-model")
        except (OSError, ValueError, RuntimeError) as exc:
            raise EmmelError(f"--clip-model: cannot load the weights ({type(exc).__name__}: {str(exc).splitlines()[0]})", path=path) from None
        tokenizer = load_tokenizer(path)
        form = "transformers ChineseCLIPModel folder"
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
    if tokenizer.vocab_size > model.config.text_config.vocab_size:
        raise EmmelError(f"--clip-model: tokenizer has {tokenizer.vocab_size} tokens but the model only {model.config.text_config.vocab_size}", path=path)
    return model.eval(), tokenizer, form


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
