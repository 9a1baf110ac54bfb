"""The scoring modules a model is made of, each with its tokenizer, input lengths and preprocessing.

A scorer turns queries (texts and/or images) and candidate KB positions into a ``Q×C`` matrix of
its own raw score (CPU, ``-inf`` on padding): :class:`TextScorer` the cross-encoder's logit
S(x_l, x_d), :class:`VisualScorer` CLIP's cosine S(x_l, x_v), :class:`LexicalScorer` the BM25 score
of the description against the entity's label and aliases (:mod:`baseline.lexical`, no training).
The same objects hand training its
inputs (the tokenised KB side, the image batches, the loss), so training, evaluation and
`emmel link` share one tokenisation and one preprocessing. :data:`SCORERS` maps each slot of a
model config (``ModelConfig.modules``) to its class; :class:`baseline.model.MCRModel` holds one
scorer per slot and fuses their scores.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from baseline.config import EvalBatches, LexicalConfig, ModelConfig
from baseline.data import KBIndex
from baseline.images import ImageSource, Normaliser
from baseline.lexical import BM25Index
from baseline.modules import CrossEncoder, VisualText
from baseline.negatives import NegativeSampler
from baseline.pairs import LabelSide, Template, TextSide, TokenTable, query_table, single_table, token_table
from baseline.scoring import candidate_cosines, image_embeddings, label_embeddings, pair_scores, query_chunks
from baseline.train import text_loss_fn, visual_loss_fn
from emmel.errors import EmmelError

EMB_FILE = "kb_embeddings.safetensors"


@dataclass
class Queries:
    """What a model scores: Q texts and/or Q images, and the mention of each text where known.

    ``images`` is a uint8 ``N×3×S×S`` tensor (host or device) decoded at the model's image size;
    query i is ``images[image_rows[i]]``, or ``images[i]`` when ``image_rows`` is None (so a
    benchmark passes its whole image bank once and each split's rows). ``mentions`` (the linked
    span inside each text, ``""`` where unknown) join the cross-encoder's input
    (:func:`baseline.pairs.query_table`) and are the lexical retriever's query.
    """

    texts: list[str] | None = None
    images: torch.Tensor | None = None
    image_rows: torch.Tensor | None = None
    mentions: list[str] | None = None

    def __len__(self) -> int:
        if self.texts is not None:
            return len(self.texts)
        return 0 if self.images is None else len(self.rows())

    def rows(self) -> torch.Tensor:
        """The image row of every query."""
        return self.image_rows if self.image_rows is not None else torch.arange(len(self.images))

    def check(self) -> None:
        if self.texts is not None and self.images is not None and len(self.texts) != len(self.rows()):
            raise EmmelError(f"{len(self.texts)} texts but {len(self.rows())} images: give one image per text")
        if self.mentions is not None and (self.texts is None or len(self.mentions) != len(self.texts)):
            raise EmmelError(f"{len(self.mentions)} mentions but {len(self.texts or [])} texts: give one mention (or '') per text")


class Scorer:
    """What every scorer shares: a torch module saved (with its tokenizer) in a sub-folder of the model."""

    slot: str  # its key in ModelConfig.modules
    folder: str  # its sub-folder in a saved model
    module: torch.nn.Module
    tokenizer: object

    @classmethod
    def for_benchmark(cls, run, recipe) -> Scorer:
        """The module a recipe (``baseline.config.RECIPES``) starts from, with the initial weights of
        benchmark ``run`` (its encoders, KB and lengths)."""
        raise NotImplementedError

    def save_pretrained(self, folder: Path, link_from: Path | None = None) -> None:
        """Write ``folder/<self.folder>``; with ``link_from`` (a model folder already holding this module) hard-link it."""
        if link_from is not None:
            link_tree(link_from / self.folder, folder / self.folder)
        else:
            self.module.save_pretrained(folder / self.folder, self.tokenizer)

    def freeze(self, rt, batches: EvalBatches) -> None:
        """Cache what depends on the final weights (called once training is over; nothing by default)."""

    @classmethod
    def module_folder(cls, folder: Path) -> Path:
        if not (folder / cls.folder).is_dir():
            raise EmmelError(f"the model folder has no {cls.folder}/ folder for its {cls.slot} module", path=folder)
        return folder / cls.folder


class TextScorer(Scorer):
    """The text-text module: the cross-encoder scores ``[CLS] label [SEP] description [SEP]`` (with the
    tokenizer's own special tokens; ``[CLS] label [SEP] mention [SEP] description [SEP]`` when the query has a mention)."""

    slot = "text"
    folder = "text"

    def __init__(self, module: CrossEncoder, tokenizer, kb: KBIndex, *, text_max_length: int, label_max_length: int):
        self.module, self.tokenizer, self.kb = module, tokenizer, kb
        self.text_max_length, self.label_max_length = text_max_length, label_max_length
        self.template = Template.of(tokenizer)
        self._labels: TokenTable | None = None  # the KB labels, tokenised on first use (tokenizer and KB are fixed)

    @classmethod
    def for_benchmark(cls, run, recipe) -> TextScorer:
        return cls(run.enc.cross, run.enc.text_tokenizer, run.kb, text_max_length=run.cfg.text_max_length,
                   label_max_length=run.cfg.label_max_length)

    def side(self, queries: Queries, device) -> TextSide:
        """The KB labels and the queries' texts (with their mentions) tokenised for pair packing."""
        if self._labels is None:
            self._labels = token_table(self.tokenizer, self.kb.labels, self.label_max_length)
        table = query_table(self.tokenizer, self.template, queries.texts, queries.mentions, self.text_max_length, self.label_max_length)
        return TextSide.build(self._labels, table, self.template, self.text_max_length, device)

    def scores(self, queries: Queries, candidates: torch.Tensor | None, rt, batches: EvalBatches, desc: str = "text-text") -> torch.Tensor:
        """``Q×C`` logits (``candidates`` None: every KB entity, in KB order)."""
        if queries.texts is None:
            raise EmmelError("this model has a text-text module: give the mention's text")
        side = self.side(queries, rt.device)
        width = len(self.kb) if candidates is None else candidates.shape[1]
        parts = []
        for start, stop in query_chunks(len(queries.texts), width, batches.chunk_pairs):
            rows = torch.arange(start, stop)
            cands = torch.arange(len(self.kb)).expand(len(rows), -1) if candidates is None else candidates[start:stop]
            parts.append(pair_scores(self.module, side, rows, cands, batches.pairs, rt, desc=desc))
        return torch.cat(parts) if parts else torch.zeros((0, width))

    def loss(self, queries: Queries, gold: torch.Tensor, pools: torch.Tensor, negatives: int, rt):
        """Listwise loss over the gold and ``negatives`` negatives (¾ from the pools, ¼ random)."""
        return text_loss_fn(self.module, self.side(queries, rt.device), gold, NegativeSampler.mixed(pools, len(self.kb), negatives), rt)

    @classmethod
    def from_pretrained(cls, folder: Path, config: ModelConfig, kb: KBIndex, device) -> TextScorer:
        module, tokenizer = CrossEncoder.from_pretrained(cls.module_folder(folder))
        module.to(device).eval()
        return cls(module, tokenizer, kb, text_max_length=config.text_max_length, label_max_length=config.label_max_length)


class VisualScorer(Scorer):
    """The visual-text module: cosine of CLIP's image and label embeddings.

    ``kb_embeddings`` holds the KB's label embeddings once the weights are final (:meth:`freeze`,
    or loaded with a saved model); until then every scoring call embeds the KB afresh, so scores
    taken during training never use stale embeddings. With ``prompts`` (zero-shot CLIP) a label's
    embedding is the normalised mean of its normalised embeddings in every template
    (:mod:`baseline.prompts`); without, the label itself is embedded (what training sees).
    """

    slot = "visual"
    folder = "clip"

    def __init__(self, module: VisualText, tokenizer, kb: KBIndex, *, label_length: int, image_mean, image_std,
                 kb_embeddings: torch.Tensor | None = None, prompts: tuple[str, ...] | list[str] = ()):
        self.module, self.tokenizer, self.kb = module, tokenizer, kb
        self.label_length = min(label_length, module.max_text_length)
        self.image_mean, self.image_std = list(image_mean), list(image_std)
        self.kb_embeddings = kb_embeddings
        self.prompts = tuple(prompts)
        self.template = Template.of(tokenizer)
        self._labels: TokenTable | None = None

    @classmethod
    def for_benchmark(cls, run, recipe) -> VisualScorer:
        """Each CLIP that is trained starts from its own copy of the initial weights."""
        from baseline.config import CLIP_MEAN, CLIP_STD

        clip = copy.deepcopy(run.enc.clip) if recipe.trained else run.enc.clip
        return cls(VisualText(clip), run.enc.clip_tokenizer, run.kb, label_length=run.cfg.clip_label_length, image_mean=CLIP_MEAN,
                   image_std=CLIP_STD, prompts=run.prompts if recipe.prompts else ())

    @property
    def image_size(self) -> int:
        return self.module.image_size

    @property
    def scale(self) -> float:
        """1/τ, CLIP's learned temperature: the softmax scale of the visual score in fusion."""
        return float(self.module.logit_scale().detach())

    def _side(self, texts: list[str], device) -> LabelSide:
        table = single_table(self.tokenizer, self.template, texts, self.label_length)
        return LabelSide.build(table, self.template, self.label_length, device)

    def label_side(self, device) -> LabelSide:
        """The KB labels as the CLIP text encoder reads them (tokenised once)."""
        if self._labels is None:
            self._labels = single_table(self.tokenizer, self.template, self.kb.labels, self.label_length)
        return LabelSide.build(self._labels, self.template, self.label_length, device)

    def image_source(self, queries: Queries, device) -> ImageSource:
        if queries.images is None:
            raise EmmelError("this model has a visual-text module: give the mention's image")
        return ImageSource(queries.images, queries.rows(), Normaliser(self.image_mean, self.image_std, device))

    def embed_kb(self, rt, batches: EvalBatches) -> torch.Tensor:
        """``E×D`` label embeddings of the KB with the current weights (prompt-ensembled when the scorer has prompts)."""
        if not self.prompts:
            return label_embeddings(self.module, self.label_side(rt.device), batches.labels, rt)
        from baseline.prompts import apply

        total = None
        for texts in apply(self.prompts, self.kb.labels):  # one template at a time: memory stays E×D
            emb = label_embeddings(self.module, self._side(texts, rt.device), batches.labels, rt)
            total = emb if total is None else total + emb
        return torch.nn.functional.normalize(total, dim=-1)

    def freeze(self, rt, batches: EvalBatches) -> None:
        """Keep the KB embeddings of the final weights (what linking uses and a saved model stores)."""
        self.kb_embeddings = self.embed_kb(rt, batches)

    def kb_matrix(self, rt, batches: EvalBatches) -> torch.Tensor:
        """The KB's ``E×D`` embeddings on the device (the frozen ones, or computed now)."""
        kb = self.kb_embeddings if self.kb_embeddings is not None else self.embed_kb(rt, batches)
        return kb.to(rt.device)

    def query_embeddings(self, queries: Queries, rt, batches: EvalBatches) -> torch.Tensor:
        """``Q×D`` normalised image embeddings of the queries."""
        return image_embeddings(self.module, self.image_source(queries, rt.device), batches.images, rt)

    def scores(self, queries: Queries, candidates: torch.Tensor | None, rt, batches: EvalBatches, desc: str = "visual-text") -> torch.Tensor:
        """``Q×C`` cosines (``candidates`` None: every KB entity, in KB order)."""
        return self.cosines(self.query_embeddings(queries, rt, batches), candidates, rt, batches)

    def cosines(self, images: torch.Tensor, candidates: torch.Tensor | None, rt, batches: EvalBatches) -> torch.Tensor:
        """``Q×C`` cosines of query embeddings ``images`` (:meth:`query_embeddings`); each product holds at most
        ``batches.chunk_pairs`` (query, entity) cosines, whatever the width of the candidate rows."""
        kb = self.kb_matrix(rt, batches)
        parts = [candidate_cosines(images[start:stop], kb, None if candidates is None else candidates[start:stop])
                 for start, stop in query_chunks(len(images), len(kb), batches.chunk_pairs)]
        return torch.cat(parts) if parts else torch.zeros((0, len(self.kb) if candidates is None else candidates.shape[1]))

    def loss(self, queries: Queries, gold: torch.Tensor, pools: torch.Tensor, negatives: int, rt):
        """InfoNCE over in-batch golds plus ``negatives`` hard candidate negatives per image."""
        return visual_loss_fn(self.module, self.image_source(queries, rt.device), self.label_side(rt.device), gold,
                              NegativeSampler(pools, len(self.kb), negatives), rt)

    def save_pretrained(self, folder: Path, link_from: Path | None = None) -> None:
        """The CLIP folder, and the KB embeddings beside it (``kb_embeddings.safetensors``) once frozen."""
        super().save_pretrained(folder, link_from)
        if self.kb_embeddings is not None:
            from safetensors.torch import save_file

            save_file({"kb_embeddings": self.kb_embeddings.detach().float().cpu().contiguous()}, str(folder / EMB_FILE))

    @classmethod
    def from_pretrained(cls, folder: Path, config: ModelConfig, kb: KBIndex, device) -> VisualScorer:
        module, tokenizer = VisualText.from_pretrained(cls.module_folder(folder))
        module.to(device).eval()
        embeddings = None
        if (folder / EMB_FILE).is_file():
            from safetensors.torch import load_file

            try:
                emb = load_file(str(folder / EMB_FILE))["kb_embeddings"]
            except Exception as exc:  # a truncated or foreign file: say which
                raise EmmelError(f"unreadable KB embeddings ({type(exc).__name__}: {exc})", path=folder / EMB_FILE) from None
            if emb.shape == (len(kb), module.clip.config.projection_dim):  # otherwise they are recomputed from the weights
                embeddings = emb.float().to(device)
        return cls(module, tokenizer, kb, label_length=config.clip_label_length, image_mean=config.image_mean, image_std=config.image_std,
                   kb_embeddings=embeddings, prompts=config.prompts)


class LexicalScorer(Scorer):
    """The lexical baseline: BM25 of the description against each entity's label and aliases (no weights, no training).

    A saved model keeps only the parameters (``lexical/lexical.json``); the index is rebuilt from the
    model's ``kb.jsonl``, which is cheap and always matches it.
    """

    slot = "lexical"
    folder = "lexical"
    FILE = "lexical.json"
    module = None
    tokenizer = None

    def __init__(self, kb: KBIndex, config: LexicalConfig | None = None):
        if kb.entities == [] and len(kb):
            raise EmmelError("the lexical module needs the KB's entities (KBIndex.from_entities)")
        self.kb, self.config = kb, config or LexicalConfig()
        self.index = BM25Index.from_entities(kb.entities, self.config)

    @classmethod
    def for_benchmark(cls, run, recipe) -> LexicalScorer:
        return cls(run.kb, run.cfg.lexical)

    def scores(self, queries: Queries, candidates: torch.Tensor | None, rt, batches: EvalBatches, desc: str = "lexical") -> torch.Tensor:
        """``Q×C`` BM25 scores (``candidates`` None: every KB entity, in KB order)."""
        if queries.texts is None:
            raise EmmelError("the lexical model scores the mention's text: give it")
        return self.index.scores(queries.texts, candidates, budget=batches.lexical)  # memory: the postings a chunk touches

    def save_pretrained(self, folder: Path, link_from: Path | None = None) -> None:
        target = folder / self.folder
        target.mkdir(parents=True, exist_ok=True)
        (target / self.FILE).write_text(json.dumps(self.config.to_dict(), sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: Path, config: ModelConfig, kb: KBIndex, device) -> LexicalScorer:
        path = cls.module_folder(folder) / cls.FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmmelError(f"unreadable lexical config ({exc})", path=path) from None
        if not isinstance(data, dict):
            raise EmmelError("the lexical config must be a JSON object", path=path)
        try:
            return cls(kb, LexicalConfig.from_dict(data))
        except EmmelError as exc:
            raise EmmelError(str(exc), path=path) from None


def link_tree(src: Path, dst: Path) -> None:
    """Copy a folder of weights by hard links (no extra disk), falling back to copies."""
    for path in sorted(Path(src).rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)


# slot of ModelConfig.modules → its scorer class (the slots of baseline.config.SLOTS)
SCORERS = {cls.slot: cls for cls in (TextScorer, VisualScorer, LexicalScorer)}
