"""`emmel benchmark`: train the MCR modules on train, select on dev, report on test.

Models (``--models``): ``clip-zeroshot`` (CLIP as given), ``clip-finetuned`` (CLIP fine-tuned with
in-batch InfoNCE only), ``image-only`` (MCR's visual-text module: InfoNCE with in-batch and hard
candidate negatives; "w/o text-text"), ``text-only`` (MCR's cross-encoder; "w/o visual-text") and
``mcr`` (the fusion of the two trained modules, α fixed or tuned on dev). The ablations are the
modules of the same trained MCR, as in the paper.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from baseline.config import MODEL_NAMES, MODULES, NORMALIZATIONS, PAPER_TABLE3, PRESETS, ModelConfig, TrainConfig, check_alpha
from emmel.errors import EmmelError
from emmel.io import check_output


@dataclass
class BenchmarkConfig:
    dataset: str
    models: list[str] = field(default_factory=lambda: list(MODEL_NAMES))
    alpha: str | float = "auto"
    normalization: str = "softmax"
    text_model: str | None = None
    clip_model: str | None = None
    preset: str = "tiny"
    full_kb: bool = False  # also H@1/3/5/10 and MRR over the whole KB (MIMIC protocol)
    out: str | None = None
    overwrite: bool = False
    save_models: bool = True
    progress: bool = True
    threads: int | None = None  # torch CPU threads (1 avoids OpenMP spin-waits on a busy shared machine)
    text_max_length: int = 128
    label_max_length: int = 32
    clip_label_length: int = 52
    train: TrainConfig = field(default_factory=TrainConfig)
    distributed: bool = False  # data-parallel over the ranks torchrun started (RANK/WORLD_SIZE/LOCAL_RANK)

    @property
    def inputs(self) -> list:
        """What the output folder must never replace: the dataset and the checkpoints."""
        return [self.dataset, self.text_model, self.clip_model]

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODEL_NAMES]
        if unknown or not self.models:
            raise EmmelError(f"unknown model {unknown[0] if unknown else '(none)'!r}; choose from {', '.join(MODEL_NAMES)}")
        if self.alpha != "auto":
            self.alpha = check_alpha(self.alpha)
        if self.preset not in PRESETS:
            raise EmmelError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")


def default_out(dataset: str | Path) -> Path:
    """``EMMEL/`` → ``EMMEL-benchmark/`` beside it (a dataset folder's manifest lists every file in it)."""
    dataset = Path(dataset).resolve()
    return dataset.with_name(dataset.name + "-benchmark")


@dataclass
class Encoders:
    cross: object = None  # CrossEncoder
    text_tokenizer: object = None
    text_source: str = ""
    clip: object = None  # ChineseCLIPModel, initial weights
    clip_tokenizer: object = None
    clip_source: str = ""


def build_encoders(cfg: BenchmarkConfig, corpus: list[str], need_text: bool, need_visual: bool) -> Encoders:
    """Encoders from ``--text-model``/``--clip-model`` folders or files, else the preset (random init)."""
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
    return enc


@dataclass
class Scores:
    """Raw score matrices of one module (CPU, ``-inf`` on padding)."""

    dev: torch.Tensor
    test: torch.Tensor
    kb: torch.Tensor | None = None  # test queries × whole KB
    scale: float = 1.0  # softmax temperature 1/τ for the normalisation


# Which trained module (key of Benchmark.modules / .scores) each reported model uses.
SOURCE = {"clip-zeroshot": "zeroshot", "clip-finetuned": "finetuned", "image-only": "visual", "text-only": "text", "mcr": "mcr"}


def run_benchmark(cfg: BenchmarkConfig, log=print) -> dict | None:
    """Run everything; writes the output folder and returns the results dict (also ``results.json``).

    With ``cfg.distributed`` every torchrun rank trains its shard of each batch; rank 0 alone scores,
    writes and returns the results, the other ranks return None.
    """
    from baseline.distributed import DistContext
    from baseline.report import write_outputs

    started = time.perf_counter()
    dist = DistContext.from_env(cfg.train.device) if cfg.distributed else DistContext()
    try:
        run = Benchmark(cfg, log if dist.is_main else (lambda line: None), dist)
        if run.need_text:
            run.train_text()
        if run.need_visual:
            run.train_visual()
        if dist.is_main:
            alpha = run.fuse() if "mcr" in cfg.models else None
            report = run.report(alpha)
            write_outputs(run.out, report, lambda folder: run.save_models(folder, alpha) if cfg.save_models else None,
                          overwrite=cfg.overwrite, inputs=cfg.inputs)
    except BaseException:
        dist.close(wait=False)  # no barrier: the other ranks may be inside a collective; torchrun stops them
        raise
    dist.close()
    if not dist.is_main:
        return None
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    report["out"] = str(run.out)
    return report


class Benchmark:
    """One benchmark run: the data and encoders, then one method per phase."""

    def __init__(self, cfg: BenchmarkConfig, log, dist=None):
        from baseline.data import kb_of, load_split
        from baseline.negatives import hard_pools
        from baseline.report import KIND
        from baseline.runtime import Runtime, seed_everything
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
        self.splits = {name: load_split(self.dataset, name, self.kb, need_candidates=name != "train") for name in ("train", "dev", "test")}
        self.need_text = any("text" in MODULES[m] for m in cfg.models)
        self.need_visual = any("visual" in MODULES[m] for m in cfg.models)
        corpus = self.kb.labels + [t for s in self.splits.values() for t in s.texts]
        self.enc = build_encoders(cfg, corpus, self.need_text, self.need_visual)
        if self.need_visual:  # decode every image before any training: a missing one fails fast
            self.bank, self.rows = load_images(self.splits, int(self.enc.clip.config.vision_config.image_size), self.rt, cfg.progress)
        sizes = " / ".join(f"{name} {len(split)}" for name, split in self.splits.items())
        log(f"dataset {self.dataset.meta.get('name') or Path(cfg.dataset).name}: KB {len(self.kb)} entities, {sizes}, λ = {self.lam}")
        if self.rt.dist.active:
            log(f"data-parallel: {self.rt.dist.world_size} ranks ({self.rt.dist.backend}), global batch {self.tc.batch_size} "
                f"= ~{-(-self.tc.batch_size // self.rt.dist.world_size)} per rank; rank 0 evaluates and writes")
        if self.need_text:
            log(f"text-text module: {self.enc.text_source}")
        if self.need_visual:
            log(f"visual-text module: {self.enc.clip_source}")
        self.pools = hard_pools(self.kb.labels, self.kb.categories, self.tc.hard_pool, seed=self.tc.seed)
        self.modules: dict[str, object] = {}
        self.scores: dict[str, Scores] = {}
        self.fits: dict[str, dict] = {}

    @property
    def lam(self) -> int:
        return int(self.splits["test"].candidates.shape[1])

    def top1(self, matrix: torch.Tensor, split: str = "dev") -> float:
        from baseline.metrics import gold_ranks, top_k

        return top_k(gold_ranks(matrix, self.splits[split].gold_pos), (1,))["top1"]

    def _fit(self, label: str, module, loss, evaluate, seed: int) -> None:
        from baseline.train import fit

        clock = time.perf_counter()
        result = fit(module, loss, len(self.splits["train"]), evaluate, self.tc, self.rt, seed=seed, desc=f"train {label}")
        self.fits[label] = asdict(result)
        self.log(f"{label}: best dev Top-1 {result.best_dev_top1:.1f} at epoch {result.best_epoch}; "
                 f"loss {result.history[0]['loss']:.3f} → {result.history[-1]['loss']:.3f} ({time.perf_counter() - clock:.1f} s)")

    # ------------------------------------------------------------ text-text
    def train_text(self) -> None:
        """Train the cross-encoder; keep its dev/test (and whole-KB) score matrices."""
        from baseline.pairs import SpecialIds, token_table
        from baseline.scoring import TextSide, pair_scores
        from baseline.train import text_loss_fn

        cfg, tc, rt, tok = self.cfg, self.tc, self.rt, self.enc.text_tokenizer
        labels = token_table(tok, self.kb.labels, cfg.label_max_length)
        sides = {}
        for name, split in self.splits.items():
            texts = token_table(tok, split.texts, cfg.text_max_length)
            sides[name] = TextSide(labels.to(rt.device), texts.to(rt.device), labels.lengths, texts.lengths, SpecialIds.of(tok), cfg.text_max_length)
        cross = self.enc.cross.to(rt.device)
        if tc.compile and rt.cuda:
            cross.encoder.compile(dynamic=True)

        def matrix(split: str, whole_kb: bool = False) -> torch.Tensor:
            q = len(self.splits[split])
            cands = torch.arange(len(self.kb)).expand(q, -1) if whole_kb else self.splits[split].candidates
            return pair_scores(cross, sides[split], torch.arange(q), cands, tc.eval_batch, rt, desc=f"text-text {split}")

        loss = text_loss_fn(cross, sides["train"], self.splits["train"].gold, self.pools, len(self.kb), tc, rt)
        self._fit("text-text", cross, loss, lambda: self.top1(matrix("dev")), tc.seed + 10)
        if not rt.dist.is_main:  # rank 0 alone scores (and writes)
            return
        self.scores["text"] = Scores(matrix("dev"), matrix("test"), matrix("test", True) if cfg.full_kb else None)
        self.modules["text"] = cross

    # ---------------------------------------------------------- visual-text
    def _label_embeddings(self, model) -> torch.Tensor:
        from baseline.pairs import SpecialIds
        from baseline.scoring import label_embeddings

        return label_embeddings(model, self.clip_table.to(self.rt.device), self.clip_table.lengths, SpecialIds.of(self.enc.clip_tokenizer),
                                self.cfg.clip_label_length, self.tc.eval_batch, self.rt)

    def _cosines(self, model, split: str, kb_emb: torch.Tensor, whole_kb: bool = False) -> torch.Tensor:
        from baseline.scoring import candidate_cosines, image_embeddings

        images = image_embeddings(model, self.bank, self.rows[split], self.normaliser, self.tc.batch_size * 4, self.rt)
        return candidate_cosines(images, kb_emb, None if whole_kb else self.splits[split].candidates)

    def _visual_scores(self, model) -> Scores:
        kb_emb = self._label_embeddings(model)
        return Scores(self._cosines(model, "dev", kb_emb), self._cosines(model, "test", kb_emb),
                      self._cosines(model, "test", kb_emb, True) if self.cfg.full_kb else None, float(model.logit_scale().detach()))

    def train_visual(self) -> None:
        """Zero-shot scores of the given CLIP; train MCR's visual-text module and the plain fine-tuned CLIP."""
        from baseline.images import CLIP_MEAN, CLIP_STD, Normaliser
        from baseline.modules import VisualText
        from baseline.pairs import SpecialIds, token_table
        from baseline.train import visual_loss_fn

        cfg, tc, rt = self.cfg, self.tc, self.rt
        self.clip_table = token_table(self.enc.clip_tokenizer, self.kb.labels, cfg.clip_label_length - 2)
        self.normaliser = Normaliser(CLIP_MEAN, CLIP_STD, rt.device)
        clip0 = self.enc.clip.to(rt.device).eval()
        if tc.compile and rt.cuda:
            clip0.vision_model.compile(dynamic=True)
            clip0.text_model.compile(dynamic=True)
        plan = [("zeroshot", "clip-zeroshot" in cfg.models, None, 0),
                ("visual", "image-only" in cfg.models or "mcr" in cfg.models, "visual-text", tc.clip_negatives),
                ("finetuned", "clip-finetuned" in cfg.models, "clip-finetuned", 0)]
        for offset, (key, wanted, label, negatives) in enumerate(plan):
            if not wanted:
                continue
            model = VisualText(clip0 if label is None else copy.deepcopy(clip0))
            if label is not None:
                loss = visual_loss_fn(model, self.bank, self.rows["train"], self.normaliser, self.clip_table.to(rt.device), self.clip_table.lengths,
                                      SpecialIds.of(self.enc.clip_tokenizer), cfg.clip_label_length, self.splits["train"].gold, self.pools, negatives, rt)
                self._fit(label, model, loss, lambda m=model: self.top1(self._cosines(m, "dev", self._label_embeddings(m))), tc.seed + 10 * (offset + 1))
            self.modules[key] = model
            if rt.dist.is_main:  # rank 0 alone scores (and writes)
                self.scores[key] = self._visual_scores(model)

    # --------------------------------------------------------------- fusion
    def fuse(self) -> dict:
        """α (tuned on dev or fixed), the sweep for every normalisation, and the MCR score matrices."""
        from baseline.fusion import ALPHA_GRID, choose_alpha, fuse, sweep

        cfg = self.cfg
        sv, st = self.scores["visual"], self.scores["text"]
        curves = {m: {split: sweep(getattr(sv, split), getattr(st, split), self.splits[split].gold_pos, m, sv.scale) for split in ("dev", "test")}
                  for m in NORMALIZATIONS}
        tuned = choose_alpha(curves[cfg.normalization]["dev"])
        alpha = tuned if cfg.alpha == "auto" else float(cfg.alpha)

        def mixed(a, b):
            return fuse(a, b, alpha, cfg.normalization, sv.scale)

        self.scores["mcr"] = Scores(mixed(sv.dev, st.dev), mixed(sv.test, st.test), mixed(sv.kb, st.kb) if cfg.full_kb else None)
        info = {"mode": "auto" if cfg.alpha == "auto" else "fixed", "alpha": alpha, "dev_best_alpha": tuned,
                "normalization": cfg.normalization, "grid": list(ALPHA_GRID), "sweep": curves}
        self.log(f"fusion: {cfg.normalization} normalisation, α = {alpha:.2f} ({info['mode']}; dev-best {tuned:.2f})")
        return info

    # -------------------------------------------------------------- results
    def report(self, alpha: dict | None) -> dict:
        from baseline.metrics import gold_ranks, hits_mrr, top_k

        cfg, splits = self.cfg, self.splits
        results = {}
        for name in MODEL_NAMES:
            if name not in cfg.models:
                continue
            s = self.scores[SOURCE[name]]
            row = {split: top_k(gold_ranks(getattr(s, split), splits[split].gold_pos)) for split in ("dev", "test")}
            if s.kb is not None:
                row["kb"] = hits_mrr(gold_ranks(s.kb, splits["test"].gold))
            row["paper"] = dict(zip(("top1", "top5", "top10"), PAPER_TABLE3[name]))
            results[name] = row
        dist = self.rt.dist
        extra = {"distributed": {"world_size": dist.world_size, "backend": dist.backend, "global_batch": self.tc.batch_size}} if dist.active else {}
        return {
            "dataset": {"path": str(cfg.dataset), "name": self.dataset.meta.get("name", ""), "kb_entities": len(self.kb),
                        "kb_sha256": self.kb.sha256, "samples": {k: len(v) for k, v in splits.items()}, "lambda": self.lam},
            "models_used": {"text-text": self.enc.text_source or None, "visual-text": self.enc.clip_source or None},
            "settings": {"models": list(cfg.models), "alpha": cfg.alpha, "normalization": cfg.normalization, "full_kb": cfg.full_kb,
                         "text_max_length": cfg.text_max_length, "label_max_length": cfg.label_max_length,
                         "clip_label_length": cfg.clip_label_length, "train": asdict(self.tc)},
            "results": results,
            "alpha": alpha,
            "training": self.fits,
            "paper_reference": {"source": "EMMEL paper, Table 3 (EMMEL test set, Top-1/5/10 %)",
                                "numbers": {k: list(v) for k, v in PAPER_TABLE3.items()}},
            **extra,
        }

    def save_models(self, folder: Path, alpha: dict | None) -> None:
        """One folder per model; the ablations hard-link the MCR module folders."""
        from baseline.model import MCRModel

        cfg, enc = self.cfg, self.enc
        entities = sorted(self.dataset.kb, key=lambda e: e.id)
        image_size = int(enc.clip.config.vision_config.image_size) if enc.clip is not None else 224
        plan = [("mcr", "text", "visual"), ("text-only", "text", None), ("image-only", None, "visual"),
                ("clip-finetuned", None, "finetuned"), ("clip-zeroshot", None, "zeroshot")]
        saved: dict[str, Path] = {}
        for name, text_key, visual_key in plan:
            if name not in cfg.models:
                continue
            visual = self.modules.get(visual_key) if visual_key else None
            config = ModelConfig(
                name=name, modules=list(MODULES[name]), alpha=alpha["alpha"] if name == "mcr" else (1.0 if visual_key else 0.0),
                normalization=cfg.normalization, visual_scale=self.scores[visual_key].scale if visual_key else 100.0,
                text_max_length=cfg.text_max_length, label_max_length=cfg.label_max_length, clip_label_length=cfg.clip_label_length,
                image_size=image_size, text_source=enc.text_source, clip_source=enc.clip_source,
                dataset=str(self.dataset.meta.get("name", "")), kb_sha256=self.kb.sha256, kb_size=len(self.kb))
            model = MCRModel(config, self.kb, entities, text=self.modules.get(text_key) if text_key else None, text_tokenizer=enc.text_tokenizer,
                             visual=visual, clip_tokenizer=enc.clip_tokenizer,
                             kb_embeddings=self._label_embeddings(visual) if visual is not None else None)
            link = {"text": saved[text_key] / "text"} if text_key in saved else {}
            if visual_key in saved:
                link["clip"] = saved[visual_key] / "clip"
            target = model.save_pretrained(folder / name, overwrite=False, link_from=link)
            for key in (text_key, visual_key):
                if key and key not in saved:
                    saved[key] = target


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
