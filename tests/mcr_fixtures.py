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


# ---------------------------------------------------------------- English / multilingual checkpoints
# A small English corpus the tiny tokenizers are trained on (plus whatever text a test adds), so that
# every word of the test data splits into known pieces, as with a real vocabulary.
ENGLISH = ("a photo of the Eiffel Tower in Paris", "Barack Obama speaks in Washington", "George Washington resigned his commission",
           "Otto Weininger was an Austrian philosopher", "the red dog runs across the park", "a picture of an image showing a photograph",
           "a good close-up photo", "Entity number 0123456789 Wikidata item")


def _bpe(corpus, *, end_of_word: str | None, specials: list[str], size: int):
    """A byte-level BPE trained with the tokenizers library: ``(vocab dict, merges list)``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    model = models.BPE(end_of_word_suffix=end_of_word) if end_of_word else models.BPE()
    tok = Tokenizer(model)
    if end_of_word:  # CLIP lower-cases
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    extra = {"end_of_word_suffix": end_of_word} if end_of_word else {}
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, **extra)
    tok.train_from_iterator(list(corpus) * 3, trainer)
    import json

    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return state["vocab"], merges


def _write_bpe_files(folder: Path, vocab: dict, merges: list) -> None:
    """vocab.json + merges.txt exactly as released BPE checkpoints ship them."""
    import json

    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")


def tiny_clip_folder(folder: Path, corpus=(), *, layout: str = "b32", seed: int = 0, tokenizer_json: bool = False) -> Path:
    """A transformers ``CLIPModel`` folder laid out like openai/clip-vit-base-patch32 (``layout="b32"``) or
    clip-vit-large-patch14 (``"l14"``: patch 14, wider vision than text tower): config.json with the legacy
    ``eos_token_id`` 2 (CLIP then pools at the largest id), safetensors weights, CLIP's BPE tokenizer as
    ``vocab.json`` + ``merges.txt`` (``</w>`` word ends, ``<|startoftext|>``/``<|endoftext|>`` last in the
    vocabulary as in the release), tokenizer_config.json, special_tokens_map.json, preprocessor_config.json."""
    import json

    from transformers import CLIPConfig, CLIPModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = _bpe([*ENGLISH, *corpus], end_of_word="</w>", specials=[], size=400)
    from tokenizers.pre_tokenizers import ByteLevel

    tokens = sorted(vocab, key=vocab.get)
    tokens += [c + "</w>" for c in sorted(ByteLevel.alphabet()) if c + "</w>" not in vocab]  # every byte as a word end, as in CLIP's
    vocab = {t: i for i, t in enumerate(tokens)}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    _write_bpe_files(folder, vocab, merges)
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, "errors": "replace",
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}), encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": 32, "do_center_crop": True, "do_normalize": True, "do_resize": True, "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": list(CLIP_MEAN_STD[0]), "image_std": list(CLIP_MEAN_STD[1]), "resample": 3, "size": 32}), encoding="utf-8")
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    if layout == "l14":
        vision.update(hidden_size=48, intermediate_size=96, image_size=28, patch_size=14)
    torch.manual_seed(seed)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(str(folder))
    if tokenizer_json:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(folder)).save_pretrained(str(folder))
    return folder


CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))


def tiny_roberta_folder(folder: Path, corpus=(), *, seed: int = 0) -> Path:
    """A ``RobertaForMaskedLM`` folder laid out like roberta-base: pad id 1 (positions count from it), one
    token type, a byte-level BPE tokenizer (``vocab.json`` + ``merges.txt`` + tokenizer.json)."""
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = _bpe([*ENGLISH, *corpus], end_of_word=None, specials=["<s>", "<pad>", "</s>", "<unk>"], size=400)
    vocab["<mask>"] = len(vocab)
    _write_bpe_files(folder, vocab, merges)
    RobertaTokenizer(vocab=vocab, merges=merges).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=162, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    RobertaForMaskedLM(config).save_pretrained(str(folder))
    return folder


def tiny_xlmr_folder(folder: Path, corpus=(), *, seed: int = 0) -> Path:
    """An ``XLMRobertaForMaskedLM`` folder with a SentencePiece-style unigram tokenizer (trained with the
    tokenizers library, ``▁`` word starts; saved as tokenizer.json, as converted XLM-R checkpoints are)."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False)
    tok.train_from_iterator([*ENGLISH, *corpus] * 3, trainer)
    pieces = [tuple(p) for p in json.loads(tok.to_str())["model"]["vocab"]] + [("<mask>", 0.0)]
    XLMRobertaTokenizer(vocab=pieces).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                              max_position_embeddings=162, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    XLMRobertaForMaskedLM(config).save_pretrained(str(folder))
    return folder
