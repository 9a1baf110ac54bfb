"""Tiny random-initialised checkpoints in the real on-disk formats, for the MCR tests.

- a transformers BERT folder laid out like hfl/chinese-roberta-wwm-ext (BertForMaskedLM weights,
  vocab.txt + tokenizer files),
- a transformers ChineseCLIPModel folder like OFA-Sys/chinese-clip-vit-base-patch16,
- an original Chinese-CLIP checkpoint like clip_cn_vit-b-16.pt, built with cn_clip's own model
  class (imported behind a temporary torchvision stand-in, removed right after the import) and
  saved the way cn_clip's trainer saves it: ``{"epoch", "step", "name", "state_dict": {"module.…"}}``
  in fp16.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import torch

from baseline.vocab import cnclip_vocab_path, tokenizer_from_vocab

HAVE_CNCLIP = importlib.util.find_spec("cn_clip") is not None


def vocab_tokenizer():
    return tokenizer_from_vocab(cnclip_vocab_path())


def tiny_bert_folder(folder: Path, *, hidden: int = 32, seed: int = 0) -> Path:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=21128, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=160)
    BertForMaskedLM(config).save_pretrained(str(folder))
    tokenizer = vocab_tokenizer()
    tokenizer.save_pretrained(str(folder))
    (Path(folder) / "vocab.txt").write_text(cnclip_vocab_path().read_text(encoding="utf-8"), encoding="utf-8")
    return Path(folder)


def tiny_hf_clip_folder(folder: Path, *, seed: int = 0) -> Path:
    from transformers import ChineseCLIPConfig, ChineseCLIPModel

    torch.manual_seed(seed)
    config = ChineseCLIPConfig(
        text_config=dict(vocab_size=21128, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8),
        projection_dim=16,
    )
    ChineseCLIPModel(config).save_pretrained(str(folder))
    vocab_tokenizer().save_pretrained(str(folder))
    return Path(folder)


def import_cnclip_model():
    """``cn_clip.clip.model`` with torchvision stubbed for the import only (cn_clip/clip/utils.py needs it)."""
    transforms = types.ModuleType("torchvision.transforms")
    for name in ("Compose", "ToTensor", "Normalize", "Resize"):
        setattr(transforms, name, object)
    transforms.InterpolationMode = types.SimpleNamespace(BICUBIC="bicubic")
    vision = types.ModuleType("torchvision")
    vision.transforms = transforms
    saved = {name: sys.modules.get(name) for name in ("torchvision", "torchvision.transforms")}
    sys.modules.update({"torchvision": vision, "torchvision.transforms": transforms})
    try:
        return importlib.import_module("cn_clip.clip.model")
    finally:  # left in place, the stand-in breaks transformers (torchvision.__spec__ is None)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def tiny_cnclip(seed: int = 0):
    """A tiny ``cn_clip.clip.model.CLIP`` (ViT 2x128 / BERT 2x128; 64-wide heads as in every release)."""
    model_module = import_cnclip_model()
    torch.manual_seed(seed)
    return model_module.CLIP(
        embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128, vision_patch_size=8, vocab_size=21128,
        text_attention_probs_dropout_prob=0.0, text_hidden_act="gelu", text_hidden_dropout_prob=0.0, text_hidden_size=128,
        text_initializer_range=0.02, text_intermediate_size=256, text_max_position_embeddings=64, text_num_attention_heads=2,
        text_num_hidden_layers=2, text_type_vocab_size=2,
    ).eval()


def save_cnclip_checkpoint(model, path: Path) -> Path:
    """Save like cn_clip's trainer (DDP ``module.`` prefix, fp16 weights as in the released files)."""
    state = {"module." + k: v.detach().half() for k, v in model.state_dict().items()}
    torch.save({"epoch": 1, "step": 10, "name": "tiny", "state_dict": state}, str(path))
    return Path(path)
