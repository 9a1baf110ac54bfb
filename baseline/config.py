"""Configs of the MCR baseline as data: model kinds, module recipes, training settings, presets, the
benchmark run, evaluation batch sizes and the saved-model config.

Every constant the baseline's training, evaluation and ``emmel link`` share lives here once (image
mean/std, max lengths, batch sizes of inference); the CLI's help texts read their defaults from
these objects. Every trained model folder holds an ``emmel_model.json`` written from
:class:`ModelConfig`, so a folder says which modules it has, how their scores are fused, and which
KB it was trained with.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

from emmel.errors import EmmelError

MODEL_FILE = "emmel_model.json"
FORMAT_VERSION = 1

# Chinese-CLIP's (= OpenAI CLIP's) image normalisation.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
NORMALIZATIONS = ("softmax", "zscore", "minmax", "none")
# The scoring modules a model can hold (see baseline.scorers.SCORERS).
SLOTS = ("text", "visual", "lexical")
LEXICAL_FIELDS = ("label", "aliases", "description")  # entity fields a lexical document can be made of
DEFAULT_DEVICE = "cpu"
LINK_TOP_K = 5  # entities `emmel link` lists
LINK_MODEL = "mcr"  # the model of a benchmark output `emmel link` uses


@dataclass(frozen=True)
class Recipe:
    """How `emmel benchmark` obtains one scoring module."""

    key: str  # the module's name in results.json["training"] and in the log
    slot: str  # which kind of module: one of SLOTS
    trained: bool = True  # False: used as given (zero-shot)
    negatives: str | None = None  # the TrainConfig field giving its hard negatives per sample; None: in-batch only
    seed_offset: int = 0  # its training seed is TrainConfig.seed + seed_offset
    prompts: bool = False  # embeds KB labels inside the prompt templates (zero-shot CLIP, baseline.prompts)


# In training order; the seed offsets keep each module's random stream independent of which others are trained.
RECIPES = {r.key: r for r in (
    Recipe("bm25", "lexical", trained=False),
    Recipe("text-text", "text", negatives="text_negatives", seed_offset=10),
    Recipe("clip-zeroshot", "visual", trained=False, prompts=True),
    Recipe("visual-text", "visual", negatives="clip_negatives", seed_offset=20),
    Recipe("clip-finetuned", "visual", seed_offset=30),
)}


@dataclass(frozen=True)
class ModelKind:
    """A row of the benchmark table: which module scores each slot, and the paper's numbers for it.

    A kind with one module ranks by that module's own score; with a text and a visual module it
    ranks by their fusion y = α·N(S_v) + (1 − α)·N(S_t) (baseline.fusion).
    """

    name: str
    display: str  # the row's label in the table
    modules: dict  # slot → key of the RECIPES entry that provides it
    paper: tuple[float, float, float] | None = None  # Top-1/5/10 (%) of the EMMEL paper's Table 3: reference only

    @property
    def fused(self) -> bool:
        return len(self.modules) > 1


# The models `emmel benchmark --models` knows: the trivial lexical baseline, then the order of the paper's
# Table 3. The ablations use the modules of the same trained MCR, as in the paper.
MODEL_KINDS = {k.name: k for k in (
    ModelKind("lexical", "Lexical (BM25 over character n-grams)", {"lexical": "bm25"}),
    ModelKind("clip-zeroshot", "CN-CLIP zero-shot", {"visual": "clip-zeroshot"}, (28.5, 55.7, 66.8)),
    ModelKind("clip-finetuned", "CN-CLIP fine-tuned", {"visual": "clip-finetuned"}, (40.4, 77.5, 82.6)),
    ModelKind("image-only", "MCR w/o text-text (visual-text only)", {"visual": "visual-text"}, (63.4, 79.6, 85.3)),
    ModelKind("text-only", "MCR w/o visual-text (text-text only)", {"text": "text-text"}, (70.3, 93.4, 97.6)),
    ModelKind("mcr", "MCR (text-text + visual-text)", {"text": "text-text", "visual": "visual-text"}, (77.8, 96.4, 100.0)),
)}
MODEL_NAMES = tuple(MODEL_KINDS)


@dataclass(frozen=True)
class LexicalConfig:
    """The lexical baseline (:mod:`baseline.lexical`): BM25's parameters and what an entity's document is made of."""

    k1: float = 1.2  # term-frequency saturation
    b: float = 0.75  # document-length normalisation
    ngrams: tuple[int, ...] = (1, 2)  # character n-gram sizes
    fields: tuple[str, ...] = ("label", "aliases")  # entity fields that make its document (any of LEXICAL_FIELDS)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "ngrams", tuple(int(n) for n in self.ngrams))
            object.__setattr__(self, "fields", tuple(str(f) for f in self.fields))
            k1, b = float(self.k1), float(self.b)
        except (TypeError, ValueError) as exc:
            raise EmmelError(f"bad lexical settings ({exc})") from None
        if not self.ngrams or any(n < 1 for n in self.ngrams):
            raise EmmelError(f"lexical n-gram sizes must be positive integers, got {list(self.ngrams)}")
        unknown = [f for f in self.fields if f not in LEXICAL_FIELDS]
        if unknown or not self.fields:
            raise EmmelError(f"lexical fields must be among {', '.join(LEXICAL_FIELDS)}, got {list(self.fields)}")
        if not (math.isfinite(k1) and k1 >= 0) or not 0.0 <= b <= 1.0:
            raise EmmelError(f"BM25 needs k1 ≥ 0 and b in [0, 1], got k1={self.k1}, b={self.b}")

    def to_dict(self) -> dict:
        return {"k1": self.k1, "b": self.b, "ngrams": list(self.ngrams), "fields": list(self.fields)}

    @classmethod
    def from_dict(cls, data: dict) -> LexicalConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise EmmelError(f"unknown lexical setting {unknown[0]!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise EmmelError(f"bad lexical settings ({exc})") from None

    def describe(self) -> str:
        grams = "+".join(str(n) for n in self.ngrams)
        return f"BM25 (k1 {self.k1}, b {self.b}) over character {grams}-grams of {' + '.join(self.fields)}; no training"


@dataclass
class TrainConfig:
    """Optimisation settings shared by both modules (paper, Table 2: lr 1e-5, wd 0.001, batch 64).

    These defaults are the paper's, for pretrained checkpoints; :meth:`for_preset` gives the
    settings that suit a built-in preset trained from scratch.
    """

    epochs: int = 5
    lr: float = 1e-5
    weight_decay: float = 1e-3
    batch_size: int = 64
    warmup: float = 0.1  # fraction of the steps with a linear warm-up
    text_negatives: int = 7  # negatives per sample for the cross-encoder's listwise loss
    clip_negatives: int = 3  # hard candidate negatives per image, on top of the in-batch ones
    hard_pool: int = 16  # hardest KB look-alikes each negative is drawn from
    max_grad_norm: float = 1.0
    seed: int = 13
    device: str = DEFAULT_DEVICE
    bf16: bool = True  # autocast to bfloat16 on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the encoders (CUDA)

    @classmethod
    def for_preset(cls, preset: str | None, **overrides) -> TrainConfig:
        """The settings that suit preset ``preset`` (None: the paper's, for checkpoints), then ``overrides``."""
        if preset is not None and preset not in PRESETS:
            raise EmmelError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise EmmelError(f"unknown training setting {unknown[0]!r}; choose from {', '.join(sorted(known))}")
        values = dict(PRESETS[preset].train) if preset is not None else {}
        values.update(overrides)
        return cls(**values)


@dataclass
class EvalBatches:
    """Batch sizes of inference (evaluation and `emmel link`): they bound memory; results change only by float rounding."""

    pairs: int = 1024  # cross-encoder (label, text) pairs per forward pass
    labels: int = 1024  # KB labels per CLIP text-encoder pass
    images: int = 256  # images per CLIP image-encoder pass
    chunk_pairs: int = 1 << 20  # (query, candidate) scores per chunk of queries: bounds index tensors and buffers
    lexical: int = 1 << 20  # BM25 scores (query × KB entity) per chunk of queries: bounds the postings a chunk adds up (English
    # character unigrams touch most of a 110k-entity KB: 2^23 peaked near 3 GB, 2^20 under 1 GB, and was faster)


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
    alpha: float = 0.5  # weight of the visual-text score in y = α·N(S_v) + (1 − α)·N(S_t); a one-module model ranks by its own score
    normalization: str = "softmax"  # how scores are brought to one scale before mixing
    shortlist: int = 50  # whole-KB ranking: top K of each retriever (lexical, the visual bi-encoder) the cross-encoder reranks
    lexical: dict = field(default_factory=dict)  # BM25 settings of the whole-KB lexical retriever (LexicalConfig.to_dict(); {}: defaults)
    visual_scale: float = 100.0  # CLIP logit scale 1/τ applied to cosine similarities before normalising
    text_max_length: int = 128  # [CLS] label [SEP] description [SEP]
    label_max_length: int = 32  # label tokens kept in the cross-encoder pair
    clip_label_length: int = 52  # CLIP text context (Chinese-CLIP uses 52; capped at the text tower's positions, 77 for CLIP)
    prompts: list[str] = field(default_factory=list)  # zero-shot CLIP's templates ("a photo of {}."), ensembled; empty: the bare label
    image_size: int = 224
    image_crop: bool = False  # shorter side to image_size + centre crop (OpenAI CLIP); False: resize to the square (Chinese-CLIP)
    image_mean: list[float] = field(default_factory=lambda: list(CLIP_MEAN))
    image_std: list[float] = field(default_factory=lambda: list(CLIP_STD))
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
        unknown = set(self.modules) - set(SLOTS)
        if unknown or not self.modules:
            raise EmmelError(f"a model needs modules among {', '.join(map(repr, SLOTS))}, got {self.modules}")
        check_shortlist(self.shortlist)

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


def check_shortlist(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise EmmelError(f"--shortlist must be a positive number of entities per retriever, got {k}")
    return k


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise EmmelError(f"alpha must be in [0, 1], got {alpha}")
    return float(alpha)


@dataclass
class BenchmarkConfig:
    """One benchmark run. ``train`` resolves to a TrainConfig in ``__post_init__``:

    - None: the settings of :attr:`train_preset` (the preset's when no checkpoint is given, the
      paper's with ``text_model``/``clip_model``), see :meth:`TrainConfig.for_preset`;
    - a mapping (what the CLI's flags set): those settings with these fields replaced;
    - a TrainConfig: used as given.
    """

    dataset: str
    models: list[str] = field(default_factory=lambda: list(MODEL_NAMES))
    alpha: str | float = "auto"
    normalization: str = "softmax"
    text_model: str | None = None
    clip_model: str | None = None
    preset: str = "tiny"
    full_kb: bool = False  # also H@1/3/5/10/20, MR and MRR over the whole KB (MIMIC protocol)
    shortlist: int = ModelConfig.shortlist  # --full-kb: top K per retriever that a cross-encoder model reranks (baseline.retrieval)
    prompts: str = "auto"  # zero-shot CLIP's templates: auto (by the dataset's language), a name of baseline.prompts.PROMPT_SETS, or a file
    out: str | None = None
    overwrite: bool = False
    save_models: bool = True
    progress: bool = True
    threads: int | None = None  # torch CPU threads (1 avoids OpenMP spin-waits on a busy shared machine)
    text_max_length: int = ModelConfig.text_max_length
    label_max_length: int = ModelConfig.label_max_length
    clip_label_length: int = ModelConfig.clip_label_length
    train: TrainConfig | Mapping | None = None
    lexical: LexicalConfig = field(default_factory=LexicalConfig)  # the lexical baseline's BM25 settings
    eval_batches: EvalBatches = field(default_factory=EvalBatches)  # batch sizes of scoring (memory, not results)
    distributed: bool = False  # data-parallel over the ranks torchrun started (RANK/WORLD_SIZE/LOCAL_RANK)
    seeds: int = 1  # runs with seeds train.seed, train.seed + 1, …: the table shows mean ± standard deviation

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODEL_KINDS]
        if unknown or not self.models:
            raise EmmelError(f"unknown model {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(MODEL_NAMES)}")
        if self.alpha != "auto":
            self.alpha = check_alpha(self.alpha)
        if self.normalization not in NORMALIZATIONS:
            raise EmmelError(f"unknown normalization {self.normalization!r}; choose from {', '.join(NORMALIZATIONS)}")
        if self.preset not in PRESETS:
            raise EmmelError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        check_shortlist(self.shortlist)
        if not isinstance(self.train, TrainConfig):
            self.train = TrainConfig.for_preset(self.train_preset, **dict(self.train or {}))
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise EmmelError(f"--seeds must be a positive integer, got {self.seeds!r}")
        if not isinstance(self.lexical, LexicalConfig):
            self.lexical = LexicalConfig.from_dict(dict(self.lexical))

    @property
    def inputs(self) -> list:
        """What the output folder must never replace: the dataset and the checkpoints."""
        return [self.dataset, self.text_model, self.clip_model]

    @property
    def seed_list(self) -> list[int]:
        """The seeds of the runs: ``train.seed`` and the next ``seeds − 1`` integers."""
        return [self.train.seed + i for i in range(self.seeds)]

    def for_seed(self, seed: int) -> BenchmarkConfig:
        """This run with training seed ``seed`` (one run of a multi-seed benchmark)."""
        return replace(self, train=replace(self.train, seed=seed), seeds=1)

    @property
    def train_preset(self) -> str | None:
        """Whose training settings are the default: the preset's when it builds every module, else (None) the paper's."""
        return None if (self.text_model or self.clip_model) else self.preset

    @classmethod
    def default(cls, name: str):
        """The default of field ``name`` (what the CLI's help texts show)."""
        spec = next(f for f in fields(cls) if f.name == name)
        return spec.default_factory() if spec.default_factory is not MISSING else spec.default
