"""`emmel benchmark DATASET`: train, select and evaluate MCR, its ablations and the CLIP baselines.

Started by ``torchrun --nproc_per_node=N -m emmel benchmark ...`` it trains data-parallel (DDP).
"""

from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder (output of `emmel build`)")
    parser.add_argument("--models", default="clip-zeroshot,clip-finetuned,image-only,text-only,mcr",
                        help="comma-separated: mcr, clip-zeroshot, clip-finetuned, text-only, image-only (default: all)")
    parser.add_argument("--alpha", default="auto", help="fusion weight of the visual-text score in [0,1], or 'auto' (grid on dev; default)")
    parser.add_argument("--normalization", default="softmax", choices=["softmax", "zscore", "minmax", "none"],
                        help="how the two scores are put on one scale before mixing (default: softmax over the candidates)")
    parser.add_argument("--text-model", metavar="DIR", help="local BERT/RoBERTa checkpoint folder (e.g. hfl/chinese-roberta-wwm-ext)")
    parser.add_argument("--clip-model", metavar="PATH", help="local ChineseCLIPModel folder or original Chinese-CLIP .pt checkpoint")
    parser.add_argument("--preset", default="tiny", choices=["tiny", "base"],
                        help="random-initialised model size used for modules without a checkpoint (default: tiny)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: 30 for the tiny preset, 5 with checkpoints)")
    parser.add_argument("--lr", type=float, help="learning rate (default: 3e-3 tiny preset, 1e-5 with checkpoints as in the paper)")
    parser.add_argument("--batch-size", type=int, help="batch size (default: 32 tiny preset, 64 with checkpoints)")
    parser.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: 0.001)")
    parser.add_argument("--text-negatives", type=int, help="negatives per sample for the text-text listwise loss (default: 3 tiny preset, 7 with checkpoints)")
    parser.add_argument("--clip-negatives", type=int, help="hard candidate negatives per image for the visual-text InfoNCE (default: 3)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's; 1 is fastest on a busy shared machine)")
    parser.add_argument("--full-kb", action="store_true", help="also rank test queries against the whole KB (H@1/3/5/10, MRR)")
    parser.add_argument("--no-bf16", action="store_true", help="run CUDA in fp32 instead of bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoders (CUDA)")
    parser.add_argument("--out", help="output folder (default: DATASET-benchmark beside the dataset)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--no-save-models", action="store_true", help="do not save the trained models")


def train_config(args):
    """TrainConfig: the preset's defaults without checkpoints, the paper's with them; flags override."""
    from baseline.config import PRESETS, TrainConfig

    values = {}
    if not args.text_model and not args.clip_model:
        values.update(PRESETS[args.preset].train)
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "weight_decay": args.weight_decay,
                 "text_negatives": args.text_negatives, "clip_negatives": args.clip_negatives}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values, seed=args.seed, device=args.device, bf16=not args.no_bf16, compile=args.compile)


def run(args) -> int:
    import sys

    from baseline.benchmark import BenchmarkConfig, run_benchmark
    from baseline.distributed import requested
    from baseline.report import summary
    from emmel.errors import EmmelError

    alpha = args.alpha
    if alpha != "auto":
        try:
            alpha = float(alpha)
        except ValueError:
            raise EmmelError(f"--alpha must be a number in [0, 1] or 'auto', got {args.alpha!r}") from None
    cfg = BenchmarkConfig(
        dataset=args.dataset, models=[m.strip() for m in args.models.split(",") if m.strip()], alpha=alpha,
        normalization=args.normalization, text_model=args.text_model, clip_model=args.clip_model, preset=args.preset,
        full_kb=args.full_kb, out=args.out, overwrite=args.overwrite, save_models=not args.no_save_models,
        progress=sys.stderr.isatty(), threads=args.threads, train=train_config(args), distributed=requested(),
    )
    report = run_benchmark(cfg, log=lambda line: print(line, file=sys.stderr))
    if report is None:  # a torchrun rank other than 0: rank 0 prints and writes
        return 0
    print(summary(report))
    print(f"\nwrote {report['out']} (results.json, results.md, ablation.png"
          f"{', alpha_sweep.png' if report.get('alpha') else ''}{', models/' if cfg.save_models else ''}) in {report['wall_seconds']:.1f} s")
    return 0
