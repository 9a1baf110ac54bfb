"""The MCR model: it owns inference. `emmel benchmark` and `emmel link` both ask it for scores.

An :class:`MCRModel` holds its scoring modules (:mod:`baseline.scorers`, each with its tokenizer,
input lengths and image preprocessing), its config (which modules, α, normalisation, lengths,
image size/mean/std: :class:`baseline.config.ModelConfig`) and the KB it links to.
:meth:`MCRModel.score` gives each module's own ``Q×C`` score matrix and the fused one for a batch
of queries against candidate sets (or the whole KB); :meth:`MCRModel.link` lists one input's
top-k entities. The CLIP baselines and the ablations are the same class with one module (ranked
by that module's own score) or another α (:meth:`MCRModel.with_alpha`).

A saved model folder::

    models/mcr/
      emmel_model.json            ModelConfig: modules, α, normalisation, sources, KB sha256
      kb.jsonl                    the KB (canonical JSONL, sorted by id)
      text/                       cross-encoder: BERT save_pretrained + score_head.safetensors + tokenizer
      clip/                       ChineseCLIPModel save_pretrained + tokenizer
      kb_embeddings.safetensors   CLIP label embeddings of the KB (so linking needs no re-encoding)

``MCRModel.from_pretrained(folder)`` reads exactly what ``save_pretrained`` writes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from baseline.config import DEFAULT_DEVICE, LINK_TOP_K, EvalBatches, ModelConfig
from baseline.data import KBIndex
from baseline.fusion import fuse
from baseline.metrics import gold_ranks
from baseline.runtime import Runtime
from baseline.scorers import SCORERS, Queries, Scorer, TextScorer, VisualScorer

if TYPE_CHECKING:
    from baseline.retrieval import KBRanking
from emmel.errors import EmmelError
from emmel.io import atomic_directory, atomic_write_text, sha256_bytes

KB_FILE = "kb.jsonl"


@dataclass
class ModuleScores:
    """Scores of Q queries against their candidates (CPU, ``-inf`` on padding).

    ``fused`` is what the model ranks by; ``modules`` keeps each module's own raw score beside it
    (``text``: cross-encoder logit, ``visual``: cosine). ``candidates`` holds the KB position of
    every column (``-1`` on padding); None means the columns are the whole KB in KB order.
    """

    fused: torch.Tensor
    modules: dict[str, torch.Tensor]
    candidates: torch.Tensor | None = None

    def ranks(self, gold: torch.Tensor, module: str | None = None) -> torch.Tensor:
        """1-based rank of each query's gold column ``gold[i]`` by the fused score (or one module's)."""
        return gold_ranks(self.fused if module is None else self.modules[module], gold)

    def entity_positions(self, columns: torch.Tensor) -> torch.Tensor:
        """KB positions of ``columns`` (Q×k column indices)."""
        return columns if self.candidates is None else self.candidates.gather(1, columns)

    def top(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(columns, KB positions)`` of each query's k best candidates, best first (ties: list order)."""
        order = torch.argsort(self.fused, dim=1, descending=True, stable=True)[:, :k]
        return order, self.entity_positions(order)


class MCRModel:
    """A linker: one scorer per module, the rule that fuses their scores, and the KB."""

    def __init__(self, config: ModelConfig, kb: KBIndex, entities: list, scorers: dict[str, Scorer], *,
                 runtime: Runtime | None = None, batches: EvalBatches | None = None, retriever=None):
        if set(scorers) != set(config.modules):
            raise EmmelError(f"model {config.name!r} needs modules {config.modules}, got {sorted(scorers)}")
        self.config = config
        self.kb = kb
        self.entities = entities  # emmel.schema.Entity, KB order
        self.scorers = {slot: scorers[slot] for slot in config.modules}
        self.runtime = runtime or Runtime.create(progress=False)
        self.batches = batches or EvalBatches()
        self._retriever = retriever  # the lexical first stage of rank_kb (baseline.lexical.BM25Index), built on first use

    @classmethod
    def from_modules(cls, config: ModelConfig, kb: KBIndex, entities: list, *, text=None, text_tokenizer=None, visual=None,
                     clip_tokenizer=None, kb_embeddings: torch.Tensor | None = None, **kwargs) -> MCRModel:
        """A model from torch modules (CrossEncoder / VisualText) and their tokenizers; lengths and image constants from ``config``."""
        scorers: dict[str, Scorer] = {}
        if text is not None:
            scorers["text"] = TextScorer(text, text_tokenizer, kb, text_max_length=config.text_max_length,
                                         label_max_length=config.label_max_length)
        if visual is not None:
            scorers["visual"] = VisualScorer(visual, clip_tokenizer, kb, label_length=config.clip_label_length,
                                             image_mean=config.image_mean, image_std=config.image_std, kb_embeddings=kb_embeddings,
                                             prompts=config.prompts)
        return cls(config, kb, entities, scorers, **kwargs)

    @property
    def text(self):
        """The cross-encoder (torch module), or None."""
        return self.scorers["text"].module if "text" in self.scorers else None

    @property
    def visual(self):
        """The CLIP module (VisualText), or None."""
        return self.scorers["visual"].module if "visual" in self.scorers else None

    def with_alpha(self, alpha: float) -> MCRModel:
        """The same modules fused with another α (nothing is copied)."""
        return MCRModel(dataclasses.replace(self.config, alpha=alpha), self.kb, self.entities, self.scorers,
                        runtime=self.runtime, batches=self.batches, retriever=self._retriever)

    def freeze(self) -> None:
        """Cache what depends on the final weights (the visual module's KB embeddings); linking and saving reuse it."""
        for scorer in self.scorers.values():
            scorer.freeze(self.runtime, self.batches)

    # ------------------------------------------------------------------ scoring
    def score_modules(self, queries: Queries, candidates: torch.Tensor | None = None, *, slots=None, desc: str = "") -> dict[str, torch.Tensor]:
        """Each module's raw ``Q×C`` scores (``slots``: only these modules)."""
        queries.check()
        return {slot: scorer.scores(queries, candidates, self.runtime, self.batches, desc=f"{slot} {desc}".strip())
                for slot, scorer in self.scorers.items() if slots is None or slot in slots}

    def fuse(self, modules: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the model ranks by: one module's own score, or y = α·N(S_v) + (1 − α)·N(S_t)."""
        if len(self.config.modules) == 1:
            return modules[self.config.modules[0]].float()
        cfg = self.config
        return fuse(modules["visual"], modules["text"], cfg.alpha, cfg.normalization, cfg.visual_scale)

    def combine(self, modules: dict[str, torch.Tensor], candidates: torch.Tensor | None = None) -> ModuleScores:
        """:class:`ModuleScores` of module matrices computed by :meth:`score_modules` (of this model or one sharing its modules)."""
        return ModuleScores(self.fuse(modules), dict(modules), candidates)

    def score(self, images: torch.Tensor | None = None, texts: list[str] | None = None, candidates: torch.Tensor | None = None, *,
              image_rows: torch.Tensor | None = None) -> ModuleScores:
        """Scores of queries (``texts`` and/or uint8 ``images`` at the model's image size) against
        ``candidates`` (``Q×C`` KB positions, ``-1`` pads ragged rows; None: the whole KB)."""
        return self.score_queries(Queries(texts, images, image_rows), candidates)

    def score_queries(self, queries: Queries, candidates: torch.Tensor | None = None, *, desc: str = "") -> ModuleScores:
        """:meth:`score` of a :class:`baseline.scorers.Queries`."""
        return self.combine(self.score_modules(queries, candidates, desc=desc), candidates)

    # ------------------------------------------------------------ whole KB
    @property
    def retriever(self):
        """The lexical first stage of whole-KB ranking: BM25 over the KB's names, built on first use."""
        if self._retriever is None:
            from baseline.config import LexicalConfig
            from baseline.lexical import BM25Index

            if "lexical" in self.scorers:  # the lexical model's own index
                self._retriever = self.scorers["lexical"].index
            else:
                config = LexicalConfig.from_dict(self.config.lexical) if self.config.lexical else LexicalConfig()
                self._retriever = BM25Index.from_entities(self.entities, config)
        return self._retriever

    @retriever.setter
    def retriever(self, index) -> None:
        """Share one lexical index between models of the same KB (it is built from the KB alone)."""
        self._retriever = index

    def rank_kb(self, queries: Queries, gold: torch.Tensor | None = None) -> KBRanking:
        """Rank ``queries`` against the whole KB (:mod:`baseline.retrieval`): exactly for a bi-encoder
        model or a KB of at most 2K entities, else by reranking the top K of the lexical retriever and
        of the model's visual bi-encoder; ``gold`` (KB positions) gives each gold's rank in that ranking."""
        from baseline.retrieval import (
            KBRanking,
            complete_ranks,
            exact_ranks,
            lexical_queries,
            lexical_retrieval,
            union_rows,
            visual_retrieval,
        )

        queries.check()
        k, n = self.config.shortlist, len(self.kb)
        visual = self.scorers.get("visual")
        if "text" not in self.scorers and len(self.scorers) == 1:  # one cheap module: the whole KB, exactly, a chunk of queries at a time
            if visual is not None:
                first = visual_retrieval(visual, queries, k, gold, self.runtime, self.batches)
                modules = {"visual": visual.cosines(first.embeddings, first.positions, self.runtime, self.batches)}
            else:  # the lexical model: BM25 of its own query (the text), as its candidate scores
                first = lexical_retrieval(self.retriever, queries.texts, k, gold, self.batches.lexical, matches_only=False)
                modules = {"lexical": self.retriever.scores(queries.texts, first.positions, budget=self.batches.lexical)}
            return KBRanking(first.positions, self.combine(modules, first.positions), first.gold_rank,
                             None if gold is None else first.gold_rank <= k, exact=True, first_stage="")
        if n <= 2 * k:  # small KB: every pair
            shortlist = torch.arange(n).expand(len(queries), -1)
            scores = self.score_queries(queries, shortlist, desc="KB")
            ranks = None if gold is None else exact_ranks(scores.fused, gold)[1]
            return KBRanking(shortlist, scores, ranks, None if gold is None else torch.ones(len(queries), dtype=torch.bool),
                             exact=True, first_stage="")
        texts = lexical_queries(queries)
        lexical = lexical_retrieval(self.retriever, texts, k, gold, self.batches.lexical)
        parts, first, name = [lexical.positions], lexical, "BM25"
        if visual is not None:
            first, name = visual_retrieval(visual, queries, k, gold, self.runtime, self.batches), "visual-text cosine"
            parts.append(first.positions)
        shortlist = union_rows(parts)
        modules = {"text": self.scorers["text"].scores(queries, shortlist, self.runtime, self.batches, desc="text KB shortlist")}
        if visual is not None:
            modules["visual"] = visual.cosines(first.embeddings, shortlist, self.runtime, self.batches)
        scores = self.combine(modules, shortlist)
        ranks = inside = None
        if gold is not None:
            first_scores = modules["visual"] if visual is not None else self.retriever.scores(texts, shortlist, budget=self.batches.lexical)
            ranks, inside = complete_ranks(scores.fused, shortlist, gold, first, first_scores)
        return KBRanking(shortlist, scores, ranks, inside, exact=False, first_stage=name)

    def link(self, image: str | Path | None, text: str, k: int = LINK_TOP_K, *, mention: str = "") -> list[dict]:
        """The ``k`` best KB entities for one image file and description (and the mention, where known), best first,
        with every module's score; ranked as :meth:`rank_kb` ranks the whole KB (at most the shortlist is listed)."""
        from baseline.images import load_image

        if not text or not text.strip():
            raise EmmelError("the text is empty: give the mention's description (--text)")
        if k < 1:
            raise EmmelError(f"-k must be at least 1, got {k}")
        images = None
        if "visual" in self.scorers:
            if image is None:
                raise EmmelError("this model has a visual-text module: give the mention's image (--image)")
            images = load_image(image, self.scorers["visual"].image_size, crop=self.config.image_crop).unsqueeze(0)
        scores = self.rank_kb(Queries([text], images, mentions=[mention] if mention else None)).scores
        columns, positions = scores.top(k)
        rows = []
        for rank, (column, index) in enumerate(zip(columns[0].tolist(), positions[0].tolist()), start=1):
            if index < 0 or scores.fused[0, column] == float("-inf"):
                break
            entity = self.entities[index]
            row = {"rank": rank, "id": entity.id, "label": entity.label, "category": entity.category, "region": entity.region,
                   "score": round(float(scores.fused[0, column]), 6)}
            for slot, matrix in scores.modules.items():
                row[f"{slot}_score"] = round(float(matrix[0, column]), 6)
            rows.append(row)
        return rows

    # ---------------------------------------------------------------- save/load
    def save_pretrained(self, folder: str | Path, *, overwrite: bool = True, link_from: dict[str, Path] | None = None) -> Path:
        """Write the folder atomically; ``link_from`` (slot → a saved model folder holding that module) hard-links it."""
        folder = Path(folder)
        link_from = link_from or {}
        with atomic_directory(folder, kind="model", overwrite=overwrite) as tmp:
            self.config.save(tmp)
            atomic_write_text(tmp / KB_FILE, self.kb.text)
            for slot, scorer in self.scorers.items():
                scorer.save_pretrained(tmp, link_from.get(slot))
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = DEFAULT_DEVICE) -> MCRModel:
        from emmel.io import read_jsonl
        from emmel.schema import Entity

        runtime = Runtime.create(str(device), progress=False)
        folder = Path(folder)
        config = ModelConfig.load(folder)
        kb_path = folder / KB_FILE
        if not kb_path.is_file():
            raise EmmelError(f"the model folder has no {KB_FILE}", path=folder)
        text = kb_path.read_text(encoding="utf-8")
        if config.kb_sha256 and sha256_bytes(text.encode("utf-8")) != config.kb_sha256:
            raise EmmelError(f"{KB_FILE} does not match the sha256 recorded in the model config", path=kb_path)
        entities = []
        for number, row in enumerate(read_jsonl(kb_path), start=1):
            try:
                entities.append(Entity.from_dict(row))
            except ValueError as exc:
                raise EmmelError(str(exc), path=kb_path, record=f"line {number}") from None
        kb = KBIndex.from_entities(entities)
        scorers = {slot: SCORERS[slot].from_pretrained(folder, config, kb, runtime.device) for slot in config.modules}
        return cls(config, kb, sorted(entities, key=lambda e: e.id), scorers, runtime=runtime)
