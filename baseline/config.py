"""Configs of the MCR baseline as dataclasses: training settings, presets, the saved-model config.

Every trained model folder holds an ``emmel_model.json`` written from :class:`ModelConfig`, so a
folder says which modules it has, how their scores are fused, and which KB it was trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from emmel.errors import EmmelError

MODEL_FILE = "emmel_model.json"
FORMAT_VERSION = 1

# The models `emmel benchmark --models` knows, in the order of the paper's Table 3.
MODEL_NAMES = ("clip-zeroshot", "clip-finetuned", "image-only", "text-only", "mcr")
DISPLAY = {
    "clip-zeroshot": "CN-CLIP zero-shot",
    "clip-finetuned": "CN-CLIP fine-tuned",
    "image-only": "MCR w/o text-text (visual-text only)",
    "text-only": "MCR w/o visual-text (text-text only)",
    "mcr": "MCR (text-text + visual-text)",
}
# Which trained modules each model uses.
MODULES = {
    "clip-zeroshot": ("visual",),
    "clip-finetuned": ("visual",),
    "image-only": ("visual",),
    "text-only": ("text",),
    "mcr": ("text", "visual"),
}
# Reported Top-1/5/10 (%) on EMMEL, Table 3 of the EMMEL paper: reference only, never reproduced here.
PAPER_TABLE3 = {
    "mcr": (77.8, 96.4, 100.0),
    "clip-finetuned": (40.4, 77.5, 82.6),
    "clip-zeroshot": (28.5, 55.7, 66.8),
    "image-only": (63.4, 79.6, 85.3),
    "text-only": (70.3, 93.4, 97.6),
}
NORMALIZATIONS = ("softmax", "zscore", "minmax", "none")


@dataclass
class TrainConfig:
    """Optimisation settings shared by both modules (paper, Table 2: lr 1e-5, wd 0.001, batch 64)."""

    epochs: int = 5
    lr: float = 1e-5
    weight_decay: float = 1e-3
    batch_size: int = 64
    warmup: float = 0.1  # fraction of the steps with a linear warm-up
    text_negatives: int = 7  # negatives per sample for the cross-encoder's listwise loss
    clip_negatives: int = 3  # hard candidate negatives per image, on top of the in-batch ones
    hard_pool: int = 16  # hardest KB look-alikes each negative is drawn from
    max_grad_norm: float = 1.0
    eval_batch: int = 1024  # cross-encoder pairs per forward pass in evaluation
    seed: int = 13
    device: str = "cpu"
    bf16: bool = True  # autocast to bfloat16 on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the encoders (CUDA)


@dataclass
class Preset:
    """A built-in model size for training from scratch when no checkpoints are given."""

    name: str
    text: dict  # BertConfig keyword arguments of the cross-encoder
    clip_text: dict  # ChineseCLIPTextConfig keyword arguments
    clip_vision: dict  # ChineseCLIPVisionConfig keyword arguments
    projection_dim: int
    train: dict  # TrainConfig overrides that suit this size
    restrict_vocab: bool = False  # keep only the vocabulary rows the dataset uses (see baseline.vocab.restrict)

    def describe(self, module: str, *, head: bool = True) -> str:
        """One line for the report: which random-initialised model a module was built from."""
        head = f"preset '{self.name}' (random init, trained from scratch): " if head else ""
        if module == "text":
            t = self.text
            return head + f"BERT {t['num_hidden_layers']} layers x {t['hidden_size']}"
        v, t = self.clip_vision, self.clip_text
        return head + (f"Chinese-CLIP-style ViT {v['num_hidden_layers']} layers x {v['hidden_size']}, patch {v['patch_size']}, "
                       f"{v['image_size']} px + text BERT {t['num_hidden_layers']} layers x {t['hidden_size']}")


def _bert(hidden: int, layers: int, heads: int, positions: int, dropout: float = 0.1) -> dict:
    return dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * hidden,
                max_position_embeddings=positions, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
                hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


PRESETS = {
    # Small enough to train on a laptop CPU in seconds; learns the synthetic dataset.
    "tiny": Preset(
        name="tiny",
        text=_bert(64, 2, 2, 160),
        clip_text=_bert(64, 2, 2, 64),
        clip_vision=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                         image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=64,
        train=dict(epochs=30, lr=3e-3, batch_size=32, weight_decay=1e-3, text_negatives=15, clip_negatives=3),
        restrict_vocab=True,
    ),
    # The paper's sizes (RoBERTa-wwm-ext base + Chinese-CLIP ViT-B/16), random init: for speed checks.
    "base": Preset(
        name="base",
        text=_bert(768, 12, 12, 512),
        clip_text=_bert(768, 12, 12, 512),
        clip_vision=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         image_size=224, patch_size=16, hidden_act="quick_gelu", layer_norm_eps=1e-5),
        projection_dim=512,
        train=dict(epochs=5, lr=1e-5, batch_size=64, weight_decay=1e-3),
    ),
}


@dataclass
class ModelConfig:
    """What a saved model folder is (``emmel_model.json``)."""

    name: str  # one of MODEL_NAMES
    modules: list[str]  # "text" and/or "visual"
    alpha: float = 0.5  # weight of the visual-text score in y = α·S_v + (1 − α)·S_t
    normalization: str = "softmax"  # how scores are brought to one scale before mixing
    visual_scale: float = 100.0  # CLIP logit scale 1/τ applied to cosine similarities before normalising
    text_max_length: int = 128  # [CLS] label [SEP] description [SEP]
    label_max_length: int = 32  # label tokens kept in the cross-encoder pair
    clip_label_length: int = 52  # CLIP text context (Chinese-CLIP uses 52)
    image_size: int = 224
    image_mean: list[float] = field(default_factory=lambda: [0.48145466, 0.4578275, 0.40821073])  # CLIP's
    image_std: list[float] = field(default_factory=lambda: [0.26862954, 0.26130258, 0.27577711])
    text_source: str = ""  # where the cross-encoder's initial weights came from
    clip_source: str = ""  # where the CLIP weights came from
    dataset: str = ""  # name of the dataset it was trained on
    kb_sha256: str = ""  # sha256 of the kb.jsonl saved beside it
    kb_size: int = 0
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.normalization not in NORMALIZATIONS:
            raise EmmelError(f"unknown normalization {self.normalization!r} (choose from {', '.join(NORMALIZATIONS)})")
        unknown = set(self.modules) - {"text", "visual"}
        if unknown or not self.modules:
            raise EmmelError(f"a model needs modules 'text' and/or 'visual', got {self.modules}")

    def save(self, folder: Path) -> None:
        from emmel.io import write_json

        write_json(Path(folder) / MODEL_FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> ModelConfig:
        path = Path(folder) / MODEL_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EmmelError(f"not a saved emmel model (no {MODEL_FILE})", path=folder) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmmelError(f"unreadable model config ({exc})", path=path) from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise EmmelError(f"unsupported model format version {data.get('format_version') if isinstance(data, dict) else None!r}", path=path)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise EmmelError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)
