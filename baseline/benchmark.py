"""`emmel benchmark`: train the MCR modules on train, select on dev, report on test.

Models (``--models``, :data:`baseline.config.MODEL_KINDS`): ``lexical`` (BM25 over character n-grams
of the labels and aliases, no training: :mod:`baseline.lexical`), ``clip-zeroshot`` (CLIP as given),
``clip-finetuned`` (CLIP fine-tuned with in-batch InfoNCE only), ``image-only`` (MCR's visual-text
module: InfoNCE with in-batch and hard candidate negatives; "w/o text-text"), ``text-only`` (MCR's
cross-encoder; "w/o visual-text") and ``mcr`` (the fusion of the two trained modules, α fixed or
tuned on dev). The run trains each module a requested model needs once (:data:`RECIPES`), then
builds one :class:`baseline.model.MCRModel` per model from those modules and asks it for its score
matrices, exactly as `emmel link` does; the ablations are the modules of the same trained MCR, as
in the paper.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from baseline.config import (
    MODEL_KINDS,
    MODEL_NAMES,
    NORMALIZATIONS,
    PRESETS,
    RECIPES,
    BenchmarkConfig,
    ModelConfig,
    ModelKind,
    Recipe,
)
from emmel.io import check_output

if TYPE_CHECKING:
    from baseline.model import MCRModel, ModuleScores
    from baseline.retrieval import KBRanking
    from baseline.scorers import Queries, Scorer


def default_out(dataset: str | Path) -> Path:
    """``EMMEL/`` → ``EMMEL-benchmark/`` beside it (a dataset folder's manifest lists every file in it)."""
    dataset = Path(dataset).resolve()
    return dataset.with_name(dataset.name + "-benchmark")


@dataclass
class Encoders:
    cross: object = None  # CrossEncoder
    text_tokenizer: object = None
    text_source: str = ""
    clip: object = None  # ChineseCLIPModel, initial weights (each trained CLIP module starts from a copy)
    clip_tokenizer: object = None
    clip_source: str = ""
    clip_crop: bool = False  # its images are centre-cropped (OpenAI CLIP's preprocessor), not resized to the square


def build_encoders(cfg: BenchmarkConfig, corpus: list[str], need_text: bool, need_visual: bool, rt) -> Encoders:
    """Encoders from ``--text-model``/``--clip-model`` folders or files, else the preset (random init), on the run's device."""
    from baseline.checkpoints import build_clip, build_text_encoder, center_crop, load_clip
    from baseline.modules import CrossEncoder
    from baseline.vocab import default_tokenizer

    preset = PRESETS[cfg.preset]
    seed = cfg.train.seed
    enc = Encoders()
    shared = None
    if (need_text and not cfg.text_model) or (need_visual and not cfg.clip_model):
        shared = default_tokenizer(corpus, restrict_to_corpus=preset.restrict_vocab)
    if need_text:
        if cfg.text_model:
            enc.cross, enc.text_tokenizer = CrossEncoder.from_pretrained(cfg.text_model)
            torch.manual_seed(seed)
            enc.cross.head.reset_parameters()
            enc.text_source = f"checkpoint {cfg.text_model}"
        else:
            enc.text_tokenizer = shared[0]
            enc.cross = CrossEncoder(build_text_encoder(preset, len(shared[0]), seed))
            enc.text_source = f"{preset.describe('text')}; tokenizer: {shared[1]}"
    if need_visual:
        if cfg.clip_model:
            enc.clip, enc.clip_tokenizer, form = load_clip(cfg.clip_model)
            enc.clip_crop = center_crop(cfg.clip_model)
            enc.clip_source = f"{form} {cfg.clip_model}" + (" (images: shorter side resized, centre crop)" if enc.clip_crop else "")
        else:
            enc.clip_tokenizer = shared[0]
            enc.clip = build_clip(preset, len(shared[0]), seed + 1)
            enc.clip_source = f"{preset.describe('visual')}; tokenizer: {shared[1]}"
    compile_ = cfg.train.compile and rt.cuda
    if enc.cross is not None:
        enc.cross.to(rt.device)
        if compile_:
            enc.cross.encoder.compile(dynamic=True)
    if enc.clip is not None:
        enc.clip.to(rt.device).eval()
        if compile_:
            enc.clip.vision_model.compile(dynamic=True)
            enc.clip.text_model.compile(dynamic=True)
    return enc




@dataclass
class EvalSet:
    """Queries the benchmark scores at once: a split against its stored candidate sets (the whole-KB
    protocol of ``--full-kb`` is :meth:`baseline.model.MCRModel.rank_kb` on the test split)."""

    name: str  # "dev" or "test"
    queries: Queries
    candidates: torch.Tensor | None  # Q×λ KB positions (-1 pads); None: the whole KB
    gold: torch.Tensor  # each query's gold column


def run_benchmark(cfg: BenchmarkConfig, log=print, extra_outputs=()) -> dict | None:
    """Run everything; writes the output folder and returns the results dict (also ``results.json``).

    With ``cfg.seeds`` N > 1 the whole run (encoders, training, α) is repeated with seeds
    ``seed, seed + 1, …`` and every metric is reported as mean and standard deviation
    (:func:`combine_seeds`); the saved models and the predictions are the first seed's.
    ``extra_outputs``: functions ``(folder, results)`` that add files to the output folder before it
    is published (the command wires in the HTML report this way).
    With ``cfg.distributed`` every torchrun rank trains its shard of each batch; rank 0 alone scores,
    writes and returns the results, the other ranks return None.
    """
    from baseline.distributed import DistContext
    from baseline.report import presented, write_outputs

    started = time.perf_counter()
    dist = DistContext.from_env(cfg.train.device) if cfg.distributed else DistContext()
    runs, reports = [], []
    try:
        say = log if dist.is_main else (lambda line: None)
        for number, seed in enumerate(cfg.seed_list, start=1):
            if cfg.seeds > 1:
                say(f"--- seed {seed} (run {number} of {cfg.seeds})")
            run = Benchmark(cfg.for_seed(seed), say, dist)
            run.train()
            if dist.is_main:
                run.evaluate()
                reports.append(run.report())
            runs = runs or [run]  # the first seed's run: its models and predictions are written
        if dist.is_main:
            first = runs[0]
            report = presented(combine_seeds(reports))
            write_outputs(first.out, report, first.save_models if cfg.save_models else (lambda folder: None), overwrite=cfg.overwrite,
                          inputs=cfg.inputs, predictions=first.predictions(), extra=[_kept_going(write, say) for write in extra_outputs])
    except BaseException:
        dist.close(wait=False)  # no barrier: the other ranks may be inside a collective; torchrun stops them
        raise
    dist.close()
    if not dist.is_main:
        return None
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    report["out"] = str(runs[0].out)
    return report


def _kept_going(write, log):
    """``write`` (an extra output) whose failure is a warning: a page is not worth losing the trained models and results for."""

    def guarded(folder: Path, report: dict) -> None:
        try:
            write(folder, report)
        except Exception as exc:  # any failure of a derived file: the run's own outputs are complete already
            log(f"warning: {getattr(write, '__module__', '')}.{getattr(write, '__name__', 'output')} failed ({type(exc).__name__}: {exc}); "
                "the results are written without it")

    return guarded


def combine_seeds(reports: list[dict]) -> dict:
    """One results dict from the runs of several seeds: every metric of ``results`` becomes the mean
    over the seeds, ``std`` holds the sample standard deviations (n − 1) and ``seeds`` each run's own
    values; the rest (α sweep, training curves) is the first seed's, with every seed's α and
    training summary under ``seed_runs``. One seed: its report, with ``seeds`` added."""
    from baseline.metrics import mean_std

    first = reports[0]
    seeds = [r["settings"]["train"]["seed"] for r in reports]
    combined = {**first, "seeds": seeds}
    if len(reports) == 1:
        return combined
    results = {}
    for name, row in first["results"].items():
        out = {key: value for key, value in row.items() if not isinstance(value, dict) or key == "paper"}  # display name, paper numbers
        out["std"] = {}
        for split, metrics in row.items():
            if split in out:
                continue
            numeric = [m for m, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            pairs = {metric: mean_std([r["results"][name][split][metric] for r in reports]) for metric in numeric}
            # the rest (a whole-KB ranking's "exact", "first_stage") is the same in every run: the first's
            out[split] = {**metrics, **{metric: mean for metric, (mean, _) in pairs.items()}}
            out["std"][split] = {metric: std for metric, (_, std) in pairs.items()}
        out["seeds"] = [{"seed": seed, **{k: v for k, v in r["results"][name].items() if isinstance(v, dict) and k != "paper"}}
                        for seed, r in zip(seeds, reports)]
        results[name] = out
    combined["results"] = results
    combined["seed_runs"] = [{"seed": seed, "alpha": (r["alpha"] or {}).get("alpha"),
                              "training": {k: {"best_epoch": v["best_epoch"], "best_dev_top1": v["best_dev_top1"]} for k, v in r["training"].items()}}
                             for seed, r in zip(seeds, reports)]
    return combined


class Benchmark:
    """One benchmark run: the data and encoders, then :meth:`train`, :meth:`evaluate`, :meth:`report`."""

    def __init__(self, cfg: BenchmarkConfig, log, dist=None):
        from baseline.data import kb_of, load_split
        from baseline.negatives import EXACT_LIMIT, hard_pools
        from baseline.prompts import language_of, resolve_prompts
        from baseline.references import benchmark_of
        from baseline.report import KIND
        from baseline.runtime import Runtime, seed_everything
        from baseline.scorers import Queries
        from emmel.dataset import Dataset

        self.cfg, self.log, self.tc = cfg, log, cfg.train
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(self.tc.seed)
        self.rt = Runtime.create(self.tc.device, self.tc.bf16, cfg.progress, dist)
        self.out = Path(cfg.out) if cfg.out else default_out(cfg.dataset)
        check_output(self.out, kind=KIND, overwrite=cfg.overwrite, inputs=cfg.inputs)  # fail now, not after training
        self.dataset = Dataset.load(cfg.dataset)
        self.prompts = resolve_prompts(cfg.prompts, language_of(self.dataset.meta))  # a bad --prompts file fails before any loading
        self.benchmark = benchmark_of(self.dataset.meta)  # which of the field's benchmarks it is (reference numbers), or None
        self.kb = kb_of(self.dataset)
        self.entities = sorted(self.dataset.kb, key=lambda e: e.id)
        self.splits = {name: load_split(self.dataset, name, self.kb, need_candidates=name != "train") for name in ("train", "dev", "test")}
        self.kinds: list[ModelKind] = [MODEL_KINDS[name] for name in MODEL_NAMES if name in cfg.models]  # table order
        needed = {key for kind in self.kinds for key in kind.modules.values()}
        self.recipes: list[Recipe] = [r for r in RECIPES.values() if r.key in needed]  # training order
        slots = {r.slot for r in self.recipes}
        corpus = self.kb.labels + [t for s in self.splits.values() for t in (*s.texts, *s.mentions) if t]  # what the tiny vocab keeps
        self.enc = build_encoders(cfg, corpus, "text" in slots, "visual" in slots, self.rt)
        bank, rows = None, {}
        if self.enc.clip is not None:  # decode every image before any training: a missing one fails fast
            bank, rows = load_images(self.splits, int(self.enc.clip.config.vision_config.image_size), self.rt, cfg.progress,
                                     crop=self.enc.clip_crop)
        self.queries = {name: Queries(split.texts, bank, rows.get(name), split.mentions if any(split.mentions) else None)
                        for name, split in self.splits.items()}
        sizes = " / ".join(f"{name} {len(split)}" for name, split in self.splits.items())
        log(f"dataset {self.dataset.meta.get('name') or Path(cfg.dataset).name}: KB {len(self.kb)} entities, {sizes}, λ = {self.lam}")
        if self.rt.dist.active:
            log(f"data-parallel: {self.rt.dist.world_size} ranks ({self.rt.dist.backend}), global batch {self.tc.batch_size} "
                f"= ~{-(-self.tc.batch_size // self.rt.dist.world_size)} per rank; rank 0 evaluates and writes")
        if self.enc.cross is not None:
            log(f"text-text module: {self.enc.text_source}")
        if self.enc.clip is not None:
            log(f"visual-text module: {self.enc.clip_source}")
        if any(r.prompts for r in self.recipes):
            log(f"zero-shot CLIP prompts ({cfg.prompts}, {len(self.prompts)} templates averaged): {' | '.join(self.prompts[:3])}"
                + (" | …" if len(self.prompts) > 3 else ""))
        clock = time.perf_counter()
        self.pools = hard_pools(self.kb.labels, self.kb.categories, self.tc.hard_pool, seed=self.tc.seed)
        log(f"hard-negative pools: {self.tc.hard_pool} per entity, {'exact' if len(self.kb) <= EXACT_LIMIT else 'indexed'} "
            f"({time.perf_counter() - clock:.1f} s)")
        self.evalsets = {name: EvalSet(name, self.queries[name], self.splits[name].candidates, self.splits[name].gold_pos)
                         for name in ("dev", "test")}
        self.scorers: dict[str, Scorer] = {}  # recipe key → its scorer (trained module, tokenizer, preprocessing)
        self.fits: dict[str, dict] = {}  # recipe key → baseline.train.FitResult as a dict
        self.models: dict[str, MCRModel] = {}  # model name → the MCRModel evaluated and saved
        self.scores: dict[str, dict[str, ModuleScores]] = {}  # model name → eval set name → its scores
        self.kb_rankings: dict[str, KBRanking] = {}  # model name → its whole-KB ranking of the test queries (--full-kb)
        self._retriever = None  # the lexical first stage all models share (built on first use)
        self.fusion: dict[str, dict] = {}  # name of a fused model → its α choice and sweep
        self._module_scores: dict[tuple[str, str], torch.Tensor] = {}  # (recipe key, eval set) → that module's raw matrix

    @property
    def lam(self) -> int:
        return int(self.splits["test"].candidates.shape[1])

    def build_model(self, name: str, scorers: dict[str, Scorer], alpha: float) -> MCRModel:
        """An MCRModel named ``name`` made of ``scorers`` (slot → scorer); its config records this run."""
        from baseline.model import MCRModel

        cfg, enc = self.cfg, self.enc
        visual = scorers.get("visual")
        config = ModelConfig(
            name=name, modules=list(scorers), alpha=alpha, normalization=cfg.normalization,
            visual_scale=visual.scale if visual is not None else ModelConfig.visual_scale,
            text_max_length=cfg.text_max_length, label_max_length=cfg.label_max_length, clip_label_length=cfg.clip_label_length,
            image_size=int(enc.clip.config.vision_config.image_size) if enc.clip is not None else ModelConfig.image_size,
            image_crop=enc.clip_crop,
            **({"image_mean": visual.image_mean, "image_std": visual.image_std, "prompts": list(visual.prompts)} if visual is not None else {}),
            text_source=enc.text_source, clip_source=enc.clip_source, shortlist=cfg.shortlist, lexical=cfg.lexical.to_dict(),
            dataset=str(self.dataset.meta.get("name", "")), kb_sha256=self.kb.sha256, kb_size=len(self.kb))
        return MCRModel(config, self.kb, self.entities, scorers, runtime=self.rt, batches=cfg.eval_batches)

    # ------------------------------------------------------------- training
    def train(self) -> None:
        """Obtain every module the requested models need (:data:`RECIPES`), in training order."""
        for recipe in self.recipes:
            self.scorers[recipe.key] = self._obtain(recipe)

    def _obtain(self, recipe: Recipe) -> Scorer:
        """Train the recipe's module (selecting the epoch on dev) or take it as given; its KB embeddings are then frozen."""
        from baseline.metrics import top_k
        from baseline.scorers import SCORERS

        scorer = SCORERS[recipe.slot].for_benchmark(self, recipe)  # the recipe's module with its initial weights
        if recipe.trained:
            probe = self.build_model(recipe.key, {recipe.slot: scorer}, 0.0)  # its dev Top-1 after each epoch
            dev = self.evalsets["dev"]
            negatives = getattr(self.tc, recipe.negatives) if recipe.negatives else 0
            loss = scorer.loss(self.queries["train"], self.splits["train"].gold, self.pools, negatives, self.rt)

            def evaluate() -> float:
                return top_k(probe.score_queries(dev.queries, dev.candidates, desc="dev").ranks(dev.gold), (1,))["top1"]

            self._fit(recipe.key, scorer.module, loss, evaluate, self.tc.seed + recipe.seed_offset)
        if self.rt.dist.is_main:  # rank 0 alone scores (and writes)
            clock = time.perf_counter()
            scorer.freeze(self.rt, self.cfg.eval_batches)
            if recipe.slot == "visual":
                self.log(f"{recipe.key}: KB embeddings of {len(self.kb)} labels" + (f" x {len(scorer.prompts)} prompts" if scorer.prompts else "")
                         + f" ({time.perf_counter() - clock:.1f} s)")
        return scorer

    def _fit(self, label: str, module, loss, evaluate, seed: int) -> None:
        from baseline.train import fit

        clock = time.perf_counter()
        result = fit(module, loss, len(self.splits["train"]), evaluate, self.tc, self.rt, seed=seed, desc=f"train {label}")
        self.fits[label] = asdict(result)
        self.log(f"{label}: best dev Top-1 {result.best_dev_top1:.1f} at epoch {result.best_epoch}; "
                 f"loss {result.history[0]['loss']:.3f} → {result.history[-1]['loss']:.3f} ({time.perf_counter() - clock:.1f} s)")

    # ----------------------------------------------------------- evaluation
    def evaluate(self) -> None:
        """Build each requested model from the trained modules and score every eval set with it.

        Each module scores an eval set once: models that share it (``mcr`` and its ablations) reuse
        the matrix. A fused model's α is tuned on dev (or fixed) before its fused scores are taken.
        """
        for kind in self.kinds:
            scorers = {slot: self.scorers[key] for slot, key in kind.modules.items()}
            fixed = self.cfg.alpha if self.cfg.alpha != "auto" else 0.5
            model = self.build_model(kind.name, scorers, fixed if kind.fused else (1.0 if "visual" in scorers else 0.0))
            raw = {name: self._modules_of(model, kind, evalset) for name, evalset in self.evalsets.items()}
            if kind.fused:
                self.fusion[kind.name] = self._choose_alpha(model, raw)
                model = model.with_alpha(self.fusion[kind.name]["alpha"])
            self.models[kind.name] = model
            self.scores[kind.name] = {name: model.combine(raw[name], evalset.candidates) for name, evalset in self.evalsets.items()}
            if self.cfg.full_kb:
                self.kb_rankings[kind.name] = self._rank_kb(model)

    def _rank_kb(self, model: MCRModel) -> KBRanking:
        """The test queries ranked against the whole KB (:meth:`MCRModel.rank_kb`), one lexical index for all models."""
        clock = time.perf_counter()
        if "text" in model.scorers or "lexical" in model.scorers:  # one BM25 index of the KB for every model that needs one
            if self._retriever is None:
                self._retriever = self.scorers["bm25"].index if "bm25" in self.scorers else model.retriever
            model.retriever = self._retriever
        ranking = model.rank_kb(self.queries["test"], self.splits["test"].gold)
        info = ranking.summary()
        how = "exact" if ranking.exact else (f"shortlist of {info['shortlist_mean']:.0f} entities on average (top {self.cfg.shortlist} per "
                                             f"retriever), gold inside for {info['shortlist_recall']:.1f} %, the rest by {ranking.first_stage}")
        self.log(f"{model.config.name}: whole KB ({len(self.kb)} entities), {how} ({time.perf_counter() - clock:.1f} s)")
        return ranking

    def _modules_of(self, model: MCRModel, kind: ModelKind, evalset: EvalSet) -> dict[str, torch.Tensor]:
        """The raw matrix of each of the model's modules on ``evalset`` (each module scores each set once)."""
        out = {}
        for slot, key in kind.modules.items():
            if (key, evalset.name) not in self._module_scores:
                matrix = model.score_modules(evalset.queries, evalset.candidates, slots=[slot], desc=f"{key} {evalset.name}")[slot]
                self._module_scores[(key, evalset.name)] = matrix
            out[slot] = self._module_scores[(key, evalset.name)]
        return out

    def _choose_alpha(self, model: MCRModel, raw: dict[str, dict[str, torch.Tensor]]) -> dict:
        """α (tuned on dev or fixed) and the sweep for every normalisation on dev and test."""
        from baseline.fusion import ALPHA_GRID, choose_alpha, sweep

        cfg, scale = self.cfg, model.config.visual_scale
        curves = {m: {split: sweep(raw[split]["visual"], raw[split]["text"], self.evalsets[split].gold, m, scale) for split in ("dev", "test")}
                  for m in NORMALIZATIONS}
        tuned = choose_alpha(curves[cfg.normalization]["dev"])
        alpha = tuned if cfg.alpha == "auto" else float(cfg.alpha)
        info = {"mode": "auto" if cfg.alpha == "auto" else "fixed", "alpha": alpha, "dev_best_alpha": tuned,
                "normalization": cfg.normalization, "grid": list(ALPHA_GRID), "sweep": curves}
        self.log(f"fusion: {cfg.normalization} normalisation, α = {alpha:.2f} ({info['mode']}; dev-best {tuned:.2f})")
        return info

    # -------------------------------------------------------------- results
    def report(self) -> dict:
        from baseline.metrics import hits_mrr, top_k
        from baseline.references import paper_row, paper_source, reference_rows

        cfg, splits = self.cfg, self.splits
        results = {}
        for kind in self.kinds:
            scores = self.scores[kind.name]
            row = {split: top_k(scores[split].ranks(self.evalsets[split].gold)) for split in ("dev", "test")}
            row["display"] = self._display(kind)
            if kind.name in self.kb_rankings:
                ranking = self.kb_rankings[kind.name]
                row["kb"] = {**hits_mrr(ranking.ranks), **ranking.summary()}
            paper = paper_row(self.benchmark, kind)
            if paper:
                row["paper"] = dict(zip(("top1", "top5", "top10"), paper))
            results[kind.name] = row
        dist = self.rt.dist
        extra = {"distributed": {"world_size": dist.world_size, "backend": dist.backend, "global_batch": self.tc.batch_size}} if dist.active else {}
        return {
            "dataset": {"path": str(cfg.dataset), "name": self.dataset.meta.get("name", ""), "benchmark": self.benchmark, "kb_entities": len(self.kb),
                        "kb_sha256": self.kb.sha256, "samples": {k: len(v) for k, v in splits.items()}, "lambda": self.lam,
                        "distinct_train_texts": len(set(splits["train"].texts)), "test_texts_naming_gold": self._naming_share("test")},
            "models_used": {"text-text": self.enc.text_source or None, "visual-text": self.enc.clip_source or None,
                            "lexical": cfg.lexical.describe() if any(r.slot == "lexical" for r in self.recipes) else None},
            "settings": {"models": list(cfg.models), "alpha": cfg.alpha, "normalization": cfg.normalization, "full_kb": cfg.full_kb,
                         "prompts": {"spec": cfg.prompts, "templates": list(self.prompts)}, "shortlist": cfg.shortlist,
                         "text_max_length": cfg.text_max_length, "label_max_length": cfg.label_max_length,
                         "clip_label_length": cfg.clip_label_length, "train": asdict(self.tc), "eval_batches": asdict(cfg.eval_batches)},
            "results": results,
            "alpha": next(iter(self.fusion.values()), None),
            "training": self.fits,
            "paper_reference": {"source": paper_source(self.benchmark),
                                "numbers": {k.name: list(paper_row(self.benchmark, k)) for k in MODEL_KINDS.values() if paper_row(self.benchmark, k)}},
            "published": [asdict(r) for r in reference_rows(self.benchmark)],  # other methods on this benchmark (reference rows)
            **extra,
        }

    def _display(self, kind: ModelKind) -> str:
        """The row's label: the paper's names (CN-CLIP) with an English/other CLIP named as what it is."""
        clip = self.enc.clip
        if clip is not None and clip.config.model_type != "chinese_clip":
            return kind.display.replace("CN-CLIP", "CLIP")
        return kind.display

    def _naming_share(self, split: str) -> float:
        """Share (%) of a split's texts that contain their gold entity's base name (what a lexical matcher finds)."""
        from emmel.labels import base_name

        data = self.splits[split]
        named = sum(base_name(self.kb.labels[g]) in text for g, text in zip(data.gold.tolist(), data.texts))
        return round(100.0 * named / max(1, len(data)), 1)

    def predictions(self) -> dict[str, list]:
        """File name → the :class:`emmel.predictions.Prediction` of every test query, per model and protocol:
        over the stored candidate lists (``<model>.jsonl``) and, with ``--full-kb``, the whole KB
        (``<model>.kb.jsonl``, gold ranks from the same :class:`~baseline.retrieval.KBRanking` as the KB columns)."""
        from baseline.predictions import kb_predictions, predictions
        from emmel.predictions import file_name

        test = self.splits["test"]
        gold_ids = [self.kb.ids[p] for p in test.gold.tolist()]
        out = {}
        for kind in self.kinds:
            out[file_name(kind.name, "candidates")] = predictions(self.scores[kind.name]["test"], self.evalsets["test"].gold, test.sample_ids,
                                                                  gold_ids, self.kb.ids)
            if kind.name in self.kb_rankings:
                out[file_name(kind.name, "kb")] = kb_predictions(self.kb_rankings[kind.name], test.sample_ids, gold_ids, self.kb.ids)
        return out

    def save_models(self, folder: Path) -> None:
        """One folder per model; a module already saved (``mcr``'s, for the ablations) is hard-linked, not copied."""
        saved: dict[str, Path] = {}  # recipe key → the model folder that holds it
        for kind in reversed(self.kinds):  # mcr first
            link = {slot: saved[key] for slot, key in kind.modules.items() if key in saved}
            target = self.models[kind.name].save_pretrained(folder / kind.name, overwrite=False, link_from=link)
            for key in kind.modules.values():
                saved.setdefault(key, target)


def load_images(splits: dict, size: int, rt, progress: bool, *, crop: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One uint8 bank of every split's images (on the GPU when there is one) and each split's rows in it."""
    from baseline.images import image_bank

    offsets, paths, what = {}, [], []
    for name, split in splits.items():
        offsets[name] = len(paths)
        paths += split.image_paths
        what += [f"image of {name} sample {sid}" for sid in split.sample_ids]
    bank = image_bank(paths, size, labels=what, progress=progress, crop=crop)
    if rt.cuda:
        bank = bank.to(rt.device)
    return bank, {name: torch.arange(len(split)) + offsets[name] for name, split in splits.items()}
