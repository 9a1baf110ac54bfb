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

from baseline.config import DISPLAY, MODEL_NAMES, MODULES, PAPER_TABLE3, PRESETS, ModelConfig, TrainConfig, check_alpha
from emmel.errors import EmmelError


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


def run_benchmark(cfg: BenchmarkConfig, log=print) -> dict:
    """Run everything; writes ``cfg.out`` and returns the results dict (also ``results.json``)."""
    from baseline.data import kb_of, load_split
    from baseline.fusion import ALPHA_GRID, choose_alpha, fuse, sweep
    from baseline.images import CLIP_MEAN, CLIP_STD, Normaliser
    from baseline.metrics import gold_ranks, hits_mrr, top_k
    from baseline.modules import VisualText
    from baseline.negatives import hard_pools
    from baseline.pairs import SpecialIds, token_table
    from baseline.runtime import Runtime, seed_everything
    from baseline.scoring import TextSide, candidate_cosines, image_embeddings, label_embeddings, pair_scores
    from baseline.train import fit, text_loss_fn, visual_loss_fn
    from emmel.dataset import Dataset

    started = time.perf_counter()
    tc = cfg.train
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(tc.seed)
    rt = Runtime.create(tc.device, tc.bf16, cfg.progress)
    out = Path(cfg.out) if cfg.out else default_out(cfg.dataset)
    if out.exists() and not cfg.overwrite:
        raise EmmelError("output folder exists (use --overwrite to replace it)", path=out)
    dataset = Dataset.load(cfg.dataset)
    kb = kb_of(dataset)
    splits = {name: load_split(dataset, name, kb, need_candidates=name != "train") for name in ("train", "dev", "test")}
    need_text = any("text" in MODULES[m] for m in cfg.models)
    need_visual = any("visual" in MODULES[m] for m in cfg.models)
    corpus = kb.labels + [t for s in splits.values() for t in s.texts]
    enc = build_encoders(cfg, corpus, need_text, need_visual)
    if need_visual:  # decode every image before any training: a missing one fails fast
        bank, rows = load_images(splits, int(enc.clip.config.vision_config.image_size), rt, cfg.progress)
    log(f"dataset {dataset.meta.get('name', Path(cfg.dataset).name)}: KB {len(kb)} entities, "
        f"train {len(splits['train'])} / dev {len(splits['dev'])} / test {len(splits['test'])}, λ = {splits['test'].candidates.shape[1]}")
    if need_text:
        log(f"text-text module: {enc.text_source}")
    if need_visual:
        log(f"visual-text module: {enc.clip_source}")
    pools = hard_pools(kb.labels, kb.categories, tc.hard_pool, seed=tc.seed)
    modules: dict[str, object] = {}
    scores: dict[str, Scores] = {}
    fits: dict[str, dict] = {}

    def ranks_top1(matrix: torch.Tensor, split: str) -> float:
        return top_k(gold_ranks(matrix, splits[split].gold_pos), (1,))["top1"]

    # ---------------------------------------------------------------- text-text
    if need_text:
        special = SpecialIds.of(enc.text_tokenizer)
        labels = token_table(enc.text_tokenizer, kb.labels, cfg.label_max_length)
        sides = {}
        for name, split in splits.items():
            texts = token_table(enc.text_tokenizer, split.texts, cfg.text_max_length)
            sides[name] = TextSide(labels.to(rt.device), texts.to(rt.device), labels.lengths, texts.lengths, special, cfg.text_max_length)
        cross = enc.cross.to(rt.device)
        if tc.compile and rt.cuda:
            cross.encoder.compile(dynamic=True)

        def text_matrix(split: str, whole_kb: bool = False) -> torch.Tensor:
            q = len(splits[split])
            cands = torch.arange(len(kb)).expand(q, -1) if whole_kb else splits[split].candidates
            return pair_scores(cross, sides[split], torch.arange(q), cands, tc.eval_batch, rt, desc=f"text-text {split}")

        loss = text_loss_fn(cross, sides["train"], splits["train"].gold, pools, len(kb), tc, rt)
        clock = time.perf_counter()
        result = fit(cross, loss, len(splits["train"]), lambda: ranks_top1(text_matrix("dev"), "dev"), tc, rt, seed=tc.seed + 10, desc="train text-text")
        fits["text-text"] = asdict(result)
        log(f"text-text: best dev Top-1 {result.best_dev_top1:.1f} at epoch {result.best_epoch}; "
            f"loss {result.history[0]['loss']:.3f} → {result.history[-1]['loss']:.3f} ({time.perf_counter() - clock:.1f} s)")
        scores["text"] = Scores(text_matrix("dev"), text_matrix("test"), text_matrix("test", True) if cfg.full_kb else None)
        modules["text"] = cross

    # -------------------------------------------------------------- visual-text
    if need_visual:
        cspecial = SpecialIds.of(enc.clip_tokenizer)
        ctable = token_table(enc.clip_tokenizer, kb.labels, cfg.clip_label_length - 2)
        ctable_dev = ctable.to(rt.device)
        normaliser = Normaliser(CLIP_MEAN, CLIP_STD, rt.device)

        def visual_matrix(model, split: str, kb_emb: torch.Tensor | None = None) -> torch.Tensor:
            """Cosines of a split's images against its candidates (KB label embeddings computed once)."""
            if kb_emb is None:
                kb_emb = label_embeddings(model, ctable_dev, ctable.lengths, cspecial, cfg.clip_label_length, tc.eval_batch, rt)
            return candidate_cosines(image_embeddings(model, bank, rows[split], normaliser, tc.batch_size * 4, rt), kb_emb, splits[split].candidates)

        def visual_scores(model, whole_kb: bool = False) -> Scores:
            kb_emb = label_embeddings(model, ctable_dev, ctable.lengths, cspecial, cfg.clip_label_length, tc.eval_batch, rt)
            test = image_embeddings(model, bank, rows["test"], normaliser, tc.batch_size * 4, rt)
            return Scores(visual_matrix(model, "dev", kb_emb), candidate_cosines(test, kb_emb, splits["test"].candidates),
                          candidate_cosines(test, kb_emb, None) if whole_kb else None, float(model.logit_scale().detach()))

        def train_visual(model, negatives: int, label: str, seed: int) -> None:
            loss = visual_loss_fn(model, bank, rows["train"], normaliser, ctable_dev, ctable.lengths, cspecial, cfg.clip_label_length,
                                  splits["train"].gold, pools, negatives, rt)
            clock = time.perf_counter()
            result = fit(model, loss, len(splits["train"]), lambda: ranks_top1(visual_matrix(model, "dev"), "dev"), tc, rt, seed=seed, desc=f"train {label}")
            fits[label] = asdict(result)
            log(f"{label}: best dev Top-1 {result.best_dev_top1:.1f} at epoch {result.best_epoch}; "
                f"loss {result.history[0]['loss']:.3f} → {result.history[-1]['loss']:.3f} ({time.perf_counter() - clock:.1f} s)")

        clip0 = enc.clip.to(rt.device).eval()
        if tc.compile and rt.cuda:
            clip0.vision_model.compile(dynamic=True)
            clip0.text_model.compile(dynamic=True)
        if "clip-zeroshot" in cfg.models:
            modules["zeroshot"] = VisualText(clip0)
            scores["zeroshot"] = visual_scores(modules["zeroshot"], cfg.full_kb)
        if "image-only" in cfg.models or "mcr" in cfg.models:
            modules["visual"] = VisualText(copy.deepcopy(clip0))
            train_visual(modules["visual"], tc.clip_negatives, "visual-text", tc.seed + 20)
            scores["visual"] = visual_scores(modules["visual"], cfg.full_kb)
        if "clip-finetuned" in cfg.models:
            modules["finetuned"] = VisualText(copy.deepcopy(clip0))
            train_visual(modules["finetuned"], 0, "clip-finetuned", tc.seed + 30)
            scores["finetuned"] = visual_scores(modules["finetuned"], cfg.full_kb)

    # ------------------------------------------------------------------- fusion
    alpha_info = None
    if "mcr" in cfg.models:
        sv, st = scores["visual"], scores["text"]
        from baseline.config import NORMALIZATIONS

        curves = {m: {"dev": sweep(sv.dev, st.dev, splits["dev"].gold_pos, m, sv.scale),
                      "test": sweep(sv.test, st.test, splits["test"].gold_pos, m, sv.scale)} for m in NORMALIZATIONS}
        tuned = choose_alpha(curves[cfg.normalization]["dev"])
        alpha = tuned if cfg.alpha == "auto" else float(cfg.alpha)
        alpha_info = {"mode": "auto" if cfg.alpha == "auto" else "fixed", "alpha": alpha, "dev_best_alpha": tuned,
                      "normalization": cfg.normalization, "grid": list(ALPHA_GRID), "sweep": curves}
        fused = lambda a, b: fuse(a, b, alpha, cfg.normalization, sv.scale)
        scores["mcr"] = Scores(fused(sv.dev, st.dev), fused(sv.test, st.test), fused(sv.kb, st.kb) if cfg.full_kb else None)
        log(f"fusion: {cfg.normalization} normalisation, α = {alpha:.2f} ({alpha_info['mode']}; dev-best {tuned:.2f})")

    # ------------------------------------------------------------------ metrics
    source = {"clip-zeroshot": "zeroshot", "clip-finetuned": "finetuned", "image-only": "visual", "text-only": "text", "mcr": "mcr"}
    results = {}
    for name in MODEL_NAMES:
        if name not in cfg.models:
            continue
        s = scores[source[name]]
        row = {"dev": top_k(gold_ranks(s.dev, splits["dev"].gold_pos)), "test": top_k(gold_ranks(s.test, splits["test"].gold_pos))}
        if s.kb is not None:
            row["kb"] = hits_mrr(gold_ranks(s.kb, splits["test"].gold))
        row["paper"] = dict(zip(("top1", "top5", "top10"), PAPER_TABLE3[name]))
        results[name] = row

    report = {
        "dataset": {"path": str(cfg.dataset), "name": dataset.meta.get("name", ""), "kb_entities": len(kb), "kb_sha256": kb.sha256,
                    "samples": {k: len(v) for k, v in splits.items()}, "lambda": int(splits["test"].candidates.shape[1])},
        "models_used": {"text-text": enc.text_source or None, "visual-text": enc.clip_source or None},
        "settings": {"models": list(cfg.models), "alpha": cfg.alpha, "normalization": cfg.normalization, "full_kb": cfg.full_kb,
                     "text_max_length": cfg.text_max_length, "label_max_length": cfg.label_max_length,
                     "clip_label_length": cfg.clip_label_length, "train": asdict(tc)},
        "results": results,
        "alpha": alpha_info,
        "training": fits,
        "paper_reference": {"source": "EMMEL paper, Table 3 (EMMEL test set, Top-1/5/10 %)", "numbers": {k: list(v) for k, v in PAPER_TABLE3.items()}},
    }

    # ------------------------------------------------------------------- output
    from baseline.report import write_outputs

    def save_models(folder: Path) -> None:
        if not cfg.save_models:
            return
        _save_models(folder, cfg, kb, dataset, enc, modules, scores, alpha_info, rt)

    write_outputs(out, report, save_models, overwrite=cfg.overwrite)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    report["out"] = str(out)
    return report


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


def _save_models(folder: Path, cfg: BenchmarkConfig, kb, dataset, enc: Encoders, modules: dict, scores: dict, alpha_info, rt) -> None:
    from baseline.model import MCRModel
    from baseline.pairs import SpecialIds, token_table
    from baseline.scoring import label_embeddings

    image_size = int(enc.clip.config.vision_config.image_size) if enc.clip is not None else 224
    entities = sorted(dataset.kb, key=lambda e: e.id)

    def kb_emb(visual):
        table = token_table(enc.clip_tokenizer, kb.labels, cfg.clip_label_length - 2)
        return label_embeddings(visual, table.to(rt.device), table.lengths, SpecialIds.of(enc.clip_tokenizer), cfg.clip_label_length, cfg.train.eval_batch, rt)

    def config(name: str, alpha: float = 0.5, scale: float = 100.0) -> ModelConfig:
        return ModelConfig(name=name, modules=list(MODULES[name]), alpha=alpha, normalization=cfg.normalization, visual_scale=scale,
                           text_max_length=cfg.text_max_length, label_max_length=cfg.label_max_length, clip_label_length=cfg.clip_label_length,
                           image_size=image_size, text_source=enc.text_source, clip_source=enc.clip_source,
                           dataset=str(dataset.meta.get("name", "")), kb_sha256=kb.sha256, kb_size=len(kb))

    plan = [("mcr", "text", "visual"), ("text-only", "text", None), ("image-only", None, "visual"),
            ("clip-finetuned", None, "finetuned"), ("clip-zeroshot", None, "zeroshot")]
    saved: dict[str, Path] = {}
    for name, text_key, visual_key in plan:
        if name not in cfg.models:
            continue
        visual = modules.get(visual_key) if visual_key else None
        scale = scores[visual_key].scale if visual_key else 100.0
        alpha = alpha_info["alpha"] if name == "mcr" else (1.0 if visual_key else 0.0)
        model = MCRModel(config(name, alpha, scale), kb, entities,
                         text=modules.get(text_key) if text_key else None, text_tokenizer=enc.text_tokenizer,
                         visual=visual, clip_tokenizer=enc.clip_tokenizer, kb_embeddings=kb_emb(visual) if visual is not None else None)
        link = {}
        if text_key and text_key in saved:
            link["text"] = saved[text_key] / "text"
        if visual_key and visual_key in saved:
            link["clip"] = saved[visual_key] / "clip"
        target = model.save_pretrained(folder / name, overwrite=False, link_from=link)
        for key in (text_key, visual_key):
            if key and key not in saved:
                saved[key] = target
