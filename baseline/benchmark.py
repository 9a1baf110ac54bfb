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


def build_encoders(cfg: BenchmarkConfig, corpus: list[str], need_text: bool, need_visual: bool, rt) -> Encoders:
    """Encoders from ``--text-model``/``--clip-model`` folders or files, else the preset (random init), on the run's device."""
    from baseline.checkpoints import build_clip, build_text_encoder, load_clip
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
            enc.clip_source = f"{form} {cfg.clip_model}"
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
    """Queries the benchmark scores at once: a split against its stored candidate sets, or (``kb``) the
    test split against the whole KB."""

    name: str  # "dev", "test" or "kb"
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
        out = {key: value for key, value in row.items() if key == "paper"}
        out["std"] = {}
        for split, metrics in row.items():
            if split == "paper":
                continue
            pairs = {metric: mean_std([r["results"][name][split][metric] for r in reports]) for metric in metrics}
            out[split] = {metric: mean for metric, (mean, _) in pairs.items()}
            out["std"][split] = {metric: std for metric, (_, std) in pairs.items()}
        out["seeds"] = [{"seed": seed, **{k: v for k, v in r["results"][name].items() if k != "paper"}} for seed, r in zip(seeds, reports)]
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
        from baseline.negatives import hard_pools
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
        self.kb = kb_of(self.dataset)
        self.entities = sorted(self.dataset.kb, key=lambda e: e.id)
        self.splits = {name: load_split(self.dataset, name, self.kb, need_candidates=name != "train") for name in ("train", "dev", "test")}
        self.kinds: list[ModelKind] = [MODEL_KINDS[name] for name in MODEL_NAMES if name in cfg.models]  # table order
        needed = {key for kind in self.kinds for key in kind.modules.values()}
        self.recipes: list[Recipe] = [r for r in RECIPES.values() if r.key in needed]  # training order
        slots = {r.slot for r in self.recipes}
        corpus = self.kb.labels + [t for s in self.splits.values() for t in s.texts]
        self.enc = build_encoders(cfg, corpus, "text" in slots, "visual" in slots, self.rt)
        bank, rows = None, {}
        if self.enc.clip is not None:  # decode every image before any training: a missing one fails fast
            bank, rows = load_images(self.splits, int(self.enc.clip.config.vision_config.image_size), self.rt, cfg.progress)
        self.queries = {name: Queries(split.texts, bank, rows.get(name)) for name, split in self.splits.items()}
        sizes = " / ".join(f"{name} {len(split)}" for name, split in self.splits.items())
        log(f"dataset {self.dataset.meta.get('name') or Path(cfg.dataset).name}: KB {len(self.kb)} entities, {sizes}, λ = {self.lam}")
        if self.rt.dist.active:
            log(f"data-parallel: {self.rt.dist.world_size} ranks ({self.rt.dist.backend}), global batch {self.tc.batch_size} "
                f"= ~{-(-self.tc.batch_size // self.rt.dist.world_size)} per rank; rank 0 evaluates and writes")
        if self.enc.cross is not None:
            log(f"text-text module: {self.enc.text_source}")
        if self.enc.clip is not None:
            log(f"visual-text module: {self.enc.clip_source}")
        self.pools = hard_pools(self.kb.labels, self.kb.categories, self.tc.hard_pool, seed=self.tc.seed)
        self.evalsets = {name: EvalSet(name, self.queries[name], self.splits[name].candidates, self.splits[name].gold_pos)
                         for name in ("dev", "test")}
        if cfg.full_kb:
            self.evalsets["kb"] = EvalSet("kb", self.queries["test"], None, self.splits["test"].gold)
        self.scorers: dict[str, Scorer] = {}  # recipe key → its scorer (trained module, tokenizer, preprocessing)
        self.fits: dict[str, dict] = {}  # recipe key → baseline.train.FitResult as a dict
        self.models: dict[str, MCRModel] = {}  # model name → the MCRModel evaluated and saved
        self.scores: dict[str, dict[str, ModuleScores]] = {}  # model name → eval set name → its scores
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
            **({"image_mean": visual.image_mean, "image_std": visual.image_std} if visual is not None else {}),
            text_source=enc.text_source, clip_source=enc.clip_source,
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
            scorer.freeze(self.rt, self.cfg.eval_batches)
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

        cfg, splits = self.cfg, self.splits
        results = {}
        for kind in self.kinds:
            scores = self.scores[kind.name]
            row = {split: top_k(scores[split].ranks(self.evalsets[split].gold)) for split in ("dev", "test")}
            if "kb" in scores:
                row["kb"] = hits_mrr(scores["kb"].ranks(self.evalsets["kb"].gold))
            if kind.paper:
                row["paper"] = dict(zip(("top1", "top5", "top10"), kind.paper))
            results[kind.name] = row
        dist = self.rt.dist
        extra = {"distributed": {"world_size": dist.world_size, "backend": dist.backend, "global_batch": self.tc.batch_size}} if dist.active else {}
        return {
            "dataset": {"path": str(cfg.dataset), "name": self.dataset.meta.get("name", ""), "kb_entities": len(self.kb),
                        "kb_sha256": self.kb.sha256, "samples": {k: len(v) for k, v in splits.items()}, "lambda": self.lam,
                        "distinct_train_texts": len(set(splits["train"].texts)), "test_texts_naming_gold": self._naming_share("test")},
            "models_used": {"text-text": self.enc.text_source or None, "visual-text": self.enc.clip_source or None,
                            "lexical": cfg.lexical.describe() if any(r.slot == "lexical" for r in self.recipes) else None},
            "settings": {"models": list(cfg.models), "alpha": cfg.alpha, "normalization": cfg.normalization, "full_kb": cfg.full_kb,
                         "text_max_length": cfg.text_max_length, "label_max_length": cfg.label_max_length,
                         "clip_label_length": cfg.clip_label_length, "train": asdict(self.tc), "eval_batches": asdict(cfg.eval_batches)},
            "results": results,
            "alpha": next(iter(self.fusion.values()), None),
            "training": self.fits,
            "paper_reference": {"source": "EMMEL paper, Table 3 (EMMEL test set, Top-1/5/10 %)",
                                "numbers": {k.name: list(k.paper) for k in MODEL_KINDS.values() if k.paper}},
            **extra,
        }

    def _naming_share(self, split: str) -> float:
        """Share (%) of a split's texts that contain their gold entity's base name (what a lexical matcher finds)."""
        from emmel.labels import base_name

        data = self.splits[split]
        named = sum(base_name(self.kb.labels[g]) in text for g, text in zip(data.gold.tolist(), data.texts))
        return round(100.0 * named / max(1, len(data)), 1)

    def predictions(self) -> dict[str, list]:
        """File name → the :class:`emmel.predictions.Prediction` of every test query, per model and protocol."""
        from baseline.predictions import predictions
        from emmel.predictions import file_name

        test = self.splits["test"]
        gold_ids = [self.kb.ids[p] for p in test.gold.tolist()]
        out = {}
        for kind in self.kinds:
            for name, protocol in (("test", "candidates"), ("kb", "kb")):
                if name in self.scores[kind.name]:
                    out[file_name(kind.name, protocol)] = predictions(self.scores[kind.name][name], self.evalsets[name].gold, test.sample_ids,
                                                                      gold_ids, self.kb.ids, protocol)
        return out

    def save_models(self, folder: Path) -> None:
        """One folder per model; a module already saved (``mcr``'s, for the ablations) is hard-linked, not copied."""
        saved: dict[str, Path] = {}  # recipe key → the model folder that holds it
        for kind in reversed(self.kinds):  # mcr first
            link = {slot: saved[key] for slot, key in kind.modules.items() if key in saved}
            target = self.models[kind.name].save_pretrained(folder / kind.name, overwrite=False, link_from=link)
            for key in kind.modules.values():
                saved.setdefault(key, target)


def load_images(splits: dict, size: int, rt, progress: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One uint8 bank of every split's images (on the GPU when there is one) and each split's rows in it."""
    from baseline.images import image_bank

    offsets, paths, what = {}, [], []
    for name, split in splits.items():
        offsets[name] = len(paths)
        paths += split.image_paths
        what += [f"image of {name} sample {sid}" for sid in split.sample_ids]
    bank = image_bank(paths, size, labels=what, progress=progress)
    if rt.cuda:
        bank = bank.to(rt.device)
    return bank, {name: torch.arange(len(split)) + offsets[name] for name, split in splits.items()}
