"""Speed of the MCR baseline: training samples/s and evaluation queries/s (λ = 100 candidates).

    PYTHONPATH=. python bench/mcr_speed.py                    # tiny preset on CPU
    PYTHONPATH=. python bench/mcr_speed.py --device cuda      # paper sizes, batch 64, bf16 autocast

On CUDA the models have the paper's sizes (Chinese-CLIP ViT-B/16 + 12-layer RoBERTa-base text
tower, a 12-layer BERT-base cross-encoder), random weights, and the script prints the share of the
GPU's peak dense bf16 matrix throughput reached. FLOPs are counted analytically (matmuls of the
encoders: 2·T·(4d² + 2·d·d_ff) + 4·T²·d per layer and sequence; backward = 2× forward), so the
figure is model FLOPs utilisation. Targets: >= 40 % of peak in training; 1,000 queries × 100
candidates evaluated in under 10 s. Inputs are synthetic and fixed-length (no padding), images are
random uint8 tensors already decoded (decoding is not the model's speed). The training step and
the scoring are the same functions ``emmel benchmark`` uses.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense bf16 tensor-core peak (no sparsity), from NVIDIA's data sheets, in TFLOP/s.
PEAK_BF16_TFLOPS = {"H100 SXM": 989.4, "H100 NVL": 835.5, "H100 PCIe": 756.5, "H200": 989.4, "A100": 312.0, "L40S": 362.1}


def detect_peak(name: str) -> tuple[str, float] | None:
    """The table row for a ``torch.cuda.get_device_name()``."""
    upper = name.upper()
    if "H200" in upper:
        return "H200", PEAK_BF16_TFLOPS["H200"]
    if "H100" in upper:
        kind = "H100 PCIe" if "PCIE" in upper else "H100 NVL" if "NVL" in upper else "H100 SXM"
        return kind, PEAK_BF16_TFLOPS[kind]
    for key in ("A100", "L40S"):
        if key in upper:
            return key, PEAK_BF16_TFLOPS[key]
    return None


def encoder_flops(tokens: int, sequences: int, d: int, layers: int, d_ff: int) -> float:
    """Forward matmul FLOPs of a transformer encoder over ``sequences`` sequences of ``tokens`` tokens."""
    per_layer = 2 * tokens * (4 * d * d + 2 * d * d_ff) + 4 * tokens * tokens * d
    return float(per_layer * layers * sequences)


def bert_flops(config, tokens: int, sequences: int) -> float:
    return encoder_flops(tokens, sequences, config.hidden_size, config.num_hidden_layers, config.intermediate_size)


def vit_flops(vision, projection: int, images: int) -> float:
    patches = (vision.image_size // vision.patch_size) ** 2
    embed = 2 * 3 * vision.patch_size**2 * vision.hidden_size * patches * images
    return embed + encoder_flops(patches + 1, images, vision.hidden_size, vision.num_hidden_layers, vision.intermediate_size) \
        + 2 * vision.hidden_size * projection * images


def corpus_chars() -> list[str]:
    """Chinese characters of the bundled national ICH list (real text, no network)."""
    with open(ROOT / "data" / "ihchina_national_list.csv", encoding="utf-8") as handle:
        names = "".join(row["name"] for row in csv.DictReader(handle))
    return sorted({c for c in names if "\u4e00" <= c <= "\u9fff"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", choices=["tiny", "base"], help="default: tiny on CPU, base (paper sizes) on CUDA")
    parser.add_argument("--batch-size", type=int, help="default: the preset's training batch (TrainConfig.for_preset)")
    parser.add_argument("--text-negatives", type=int, default=7)
    parser.add_argument("--clip-negatives", type=int, default=3)
    parser.add_argument("--label-len", type=int, default=10, help="characters per entity label")
    parser.add_argument("--text-len", type=int, default=50, help="characters per description")
    parser.add_argument("--kb", type=int, default=1000, help="KB entities")
    parser.add_argument("--queries", type=int, help="evaluation queries (default: 1000 on CUDA, 200 on CPU)")
    parser.add_argument("--candidates", type=int, default=100, help="λ")
    parser.add_argument("--eval-batch", type=int, default=2048,
                        help="cross-encoder pairs per forward pass (default: 2048, a GPU-sized batch; emmel's own is EvalBatches.pairs)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per module")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s of the GPU (default: from the table by device name)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoders")
    parser.add_argument("--no-bf16", action="store_true")
    args = parser.parse_args(argv)

    from baseline.checkpoints import build_clip, build_text_encoder
    from baseline.config import PRESETS, EvalBatches, ModelConfig, TrainConfig
    from baseline.data import KBIndex
    from baseline.model import MCRModel
    from baseline.modules import CrossEncoder, VisualText
    from baseline.negatives import hard_pools
    from baseline.runtime import Runtime, seed_everything
    from baseline.scorers import Queries, TextScorer, VisualScorer
    from baseline.train import Trainer
    from baseline.vocab import default_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    rt = Runtime.create(args.device, bf16=not args.no_bf16, progress=False)
    preset = PRESETS[args.preset or ("base" if rt.cuda else "tiny")]
    batch = args.batch_size or TrainConfig.for_preset(preset.name).batch_size
    queries = args.queries or (1000 if rt.cuda else 200)
    seed_everything(0)
    chars = corpus_chars()
    rng = random.Random(0)
    labels = ["".join(rng.choices(chars, k=args.label_len)) for _ in range(args.kb)]
    texts = ["".join(rng.choices(chars, k=args.text_len)) for _ in range(max(queries, batch))]
    tokenizer, vocab_note = default_tokenizer(labels + texts, restrict_to_corpus=preset.restrict_vocab)
    cfg = TrainConfig(batch_size=batch, text_negatives=args.text_negatives, clip_negatives=args.clip_negatives,
                      device=args.device, bf16=not args.no_bf16, lr=1e-5)
    model_cfg = ModelConfig(name="mcr", modules=["text", "visual"], alpha=0.5, normalization="softmax")
    kb = KBIndex([f"E{i}" for i in range(args.kb)], labels, [""] * args.kb, "", "")

    cross = CrossEncoder(build_text_encoder(preset, len(tokenizer), 0)).to(rt.device)
    clip = build_clip(preset, len(tokenizer), 1).to(rt.device)
    if args.compile:
        cross.encoder.compile(dynamic=True)
        clip.vision_model.compile(dynamic=True)
        clip.text_model.compile(dynamic=True)
    visual = VisualText(clip)
    text_scorer = TextScorer(cross, tokenizer, kb, text_max_length=model_cfg.text_max_length, label_max_length=model_cfg.label_max_length)
    visual_scorer = VisualScorer(visual, tokenizer, kb, label_length=model_cfg.clip_label_length, image_mean=model_cfg.image_mean,
                                 image_std=model_cfg.image_std)
    size = preset.clip_vision["image_size"]
    bank = torch.randint(0, 256, (len(texts), 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)).to(rt.device)
    train_queries = Queries(texts, bank)
    gold = torch.randint(0, args.kb, (len(texts),), generator=torch.Generator().manual_seed(1))
    pools = hard_pools(labels, [""] * args.kb, 16, seed=0)
    device_name = torch.cuda.get_device_name(rt.device) if rt.cuda else f"CPU ({torch.get_num_threads()} threads)"
    peak = None
    if rt.cuda:
        found = detect_peak(device_name)
        peak = args.peak_tflops or (found[1] if found else None)
    print(f"device: {device_name}; preset '{preset.name}', random weights: cross-encoder {preset.describe('text', head=False)}; "
          f"CLIP {preset.describe('visual', head=False)}")
    print(f"precision: {'bf16 autocast' if rt.cuda and not args.no_bf16 else 'fp32'}; batch {batch}; "
          f"pair = {args.label_len}-char label + {args.text_len}-char description; tokenizer: {vocab_note}")
    if rt.cuda:
        print(f"peak dense bf16: {f'{peak:.1f} TFLOP/s' if peak else 'unknown (pass --peak-tflops)'}")

    def sync() -> None:
        if rt.cuda:
            torch.cuda.synchronize(rt.device)

    def timed_steps(module, loss_fn) -> float:
        module.train()
        trainer = Trainer(module, cfg, rt, args.warmup + args.steps)
        generator = torch.Generator().manual_seed(0)
        order = torch.randperm(len(texts), generator=generator)
        rows = [order[(i * batch) % len(texts):][:batch] for i in range(args.warmup + args.steps)]
        rows = [r if len(r) == batch else order[:batch] for r in rows]
        for r in rows[: args.warmup]:
            trainer.step(loss_fn, r, generator)
        sync()
        start = time.perf_counter()
        for r in rows[args.warmup:]:
            trainer.step(loss_fn, r, generator)
        sync()
        return (time.perf_counter() - start) / args.steps

    def rate(flops: float, seconds: float) -> str:
        achieved = flops / seconds / 1e12
        text = f"{achieved:.2f} TFLOP/s" if achieved >= 0.1 else f"{achieved * 1e3:.1f} GFLOP/s"
        return text + (f" = {100 * achieved / peak:.1f} % of peak" if peak else "")

    seq = args.label_len + args.text_len + 3
    label_seq = args.label_len + 2
    text_cfg, clip_cfg = cross.encoder.config, clip.config

    t_text = timed_steps(cross, text_scorer.loss(train_queries, gold, pools, args.text_negatives, rt))
    f_text = 3 * bert_flops(text_cfg, seq, batch * (1 + args.text_negatives))
    print(f"train text-text   : {batch / t_text:9.1f} samples/s ({batch * (1 + args.text_negatives) / t_text:.0f} pairs/s), {rate(f_text, t_text)}")

    t_vis = timed_steps(visual, visual_scorer.loss(train_queries, gold, pools, args.clip_negatives, rt))
    f_vis = 3 * (vit_flops(clip_cfg.vision_config, clip_cfg.projection_dim, batch)
                 + bert_flops(clip_cfg.text_config, label_seq, batch * (1 + args.clip_negatives)))
    print(f"train visual-text : {batch / t_vis:9.1f} samples/s, {rate(f_vis, t_vis)}")
    print(f"train MCR (both)  : {batch / (t_text + t_vis):9.1f} samples/s, {rate(f_text + f_vis, t_text + t_vis)}")

    # evaluation through MCRModel.score (what `emmel benchmark` and `emmel link` call): KB label embeddings
    # once, then Q images and Q×λ cross-encoder pairs, then fusion
    cands = torch.stack([torch.randperm(args.kb, generator=torch.Generator().manual_seed(q))[: args.candidates] for q in range(queries)])
    model = MCRModel(model_cfg, kb, [], {"text": text_scorer, "visual": visual_scorer}, runtime=rt,
                     batches=EvalBatches(pairs=args.eval_batch))
    rows = torch.arange(queries)

    def evaluate() -> torch.Tensor:
        return model.score(bank, [texts[i] for i in rows.tolist()], cands, image_rows=rows).fused

    small = min(queries, 20)
    saved = (rows, cands)
    rows, cands = rows[:small], cands[:small]
    evaluate()  # warm-up (kernels, allocator, compilation)
    rows, cands = saved
    sync()
    start = time.perf_counter()
    fused = evaluate()
    sync()
    t_eval = time.perf_counter() - start
    f_eval = (bert_flops(text_cfg, seq, queries * args.candidates) + vit_flops(clip_cfg.vision_config, clip_cfg.projection_dim, queries)
              + bert_flops(clip_cfg.text_config, label_seq, args.kb))
    assert fused.shape == (queries, args.candidates) and torch.isfinite(fused).all()
    print(f"eval {queries} queries x {args.candidates} candidates (KB {args.kb}): {t_eval:.2f} s = {queries / t_eval:.1f} queries/s "
          f"({queries * args.candidates / t_eval:.0f} pairs/s), {rate(f_eval, t_eval)}")
    if rt.cuda:
        goal_train = peak and 100 * (f_text + f_vis) / (t_text + t_vis) / 1e12 / peak
        print(f"targets: training >= 40 % of peak ({'n/a' if not peak else f'{goal_train:.1f} %'}); "
              f"1,000 x 100 eval < 10 s ({t_eval * 1000 / queries:.2f} s per 1,000 queries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
