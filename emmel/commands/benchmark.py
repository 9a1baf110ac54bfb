"""`emmel benchmark DATASET`: train, select and evaluate MCR, its ablations and the CLIP baselines.

Started by ``torchrun --nproc_per_node=N -m emmel benchmark ...`` it trains data-parallel (DDP).
Every default shown by ``--help`` is read from the library's config objects
(:class:`baseline.config.BenchmarkConfig`, :meth:`baseline.config.TrainConfig.for_preset`).
"""

from __future__ import annotations

# flags named after the TrainConfig field they set (an unset flag leaves the library's default for the preset)
TRAIN_FLAGS = ("epochs", "lr", "batch_size", "weight_decay", "text_negatives", "clip_negatives", "seed", "device")


def preset_defaults(name: str) -> str:
    """``default: 30 with preset tiny; 5 with preset base or checkpoints``: a TrainConfig field's default for each case."""
    from baseline.config import PRESETS, TrainConfig

    cases = [(f"preset {p}", getattr(TrainConfig.for_preset(p), name)) for p in PRESETS]
    cases.append(("checkpoints (the paper's)", getattr(TrainConfig.for_preset(None), name)))
    groups: dict = {}
    for case, value in cases:
        groups.setdefault(value, []).append(case)
    if len(groups) == 1:
        return f"default: {cases[0][1]}"
    return "default: " + "; ".join(f"{value} with {' or '.join(names)}" for value, names in groups.items())


def add_arguments(parser) -> None:
    from baseline.config import LEXICAL_FIELDS, MODEL_NAMES, NORMALIZATIONS, PRESETS, BenchmarkConfig, LexicalConfig, TrainConfig
    from baseline.prompts import PROMPT_SETS

    default = BenchmarkConfig.default
    paper = TrainConfig.for_preset(None)
    parser.add_argument("dataset", help="dataset folder (output of `emmel build`)")
    parser.add_argument("--models", default=",".join(default("models")),
                        help=f"comma-separated, any of {', '.join(MODEL_NAMES)} (default: {','.join(default('models'))})")
    parser.add_argument("--alpha", default=str(default("alpha")),
                        help=f"fusion weight of the visual-text score in [0,1], or 'auto' (grid on dev) (default: {default('alpha')})")
    parser.add_argument("--normalization", default=default("normalization"), choices=list(NORMALIZATIONS),
                        help=f"how the two scores are put on one scale before mixing (default: {default('normalization')}, over the candidates)")
    parser.add_argument("--text-model", metavar="DIR",
                        help="local BERT/RoBERTa/XLM-R checkpoint folder with its own tokenizer (e.g. hfl/chinese-roberta-wwm-ext, roberta-base)")
    parser.add_argument("--clip-model", metavar="PATH",
                        help="local ChineseCLIPModel or CLIPModel folder (e.g. openai/clip-vit-base-patch32), or an original Chinese-CLIP .pt checkpoint")
    parser.add_argument("--prompts", default=default("prompts"), metavar="NAME|FILE",
                        help=f"zero-shot CLIP's prompt templates, averaged: auto (by the dataset's language), {', '.join(PROMPT_SETS)}, "
                             f"or a file with one template a line, {{}} where the label goes (default: {default('prompts')})")
    parser.add_argument("--preset", default=default("preset"), choices=list(PRESETS),
                        help=f"random-initialised model size used for modules without a checkpoint (default: {default('preset')})")
    parser.add_argument("--device", help=f"cpu or cuda (default: {paper.device})")
    parser.add_argument("--epochs", type=int, help=f"training epochs ({preset_defaults('epochs')})")
    parser.add_argument("--lr", type=float, help=f"learning rate ({preset_defaults('lr')})")
    parser.add_argument("--batch-size", type=int, help=f"batch size ({preset_defaults('batch_size')})")
    parser.add_argument("--weight-decay", type=float, help=f"AdamW weight decay ({preset_defaults('weight_decay')})")
    parser.add_argument("--text-negatives", type=int,
                        help=f"negatives per sample for the text-text listwise loss ({preset_defaults('text_negatives')})")
    parser.add_argument("--clip-negatives", type=int,
                        help=f"hard candidate negatives per image for the visual-text InfoNCE ({preset_defaults('clip_negatives')})")
    parser.add_argument("--seed", type=int, help=f"random seed (default: {paper.seed})")
    parser.add_argument("--seeds", type=int, default=default("seeds"),
                        help="train and evaluate N times, with seeds SEED, SEED+1, …; the table shows mean ± standard deviation, "
                             f"models/ and predictions/ the first run (default: {default('seeds')})")
    parser.add_argument("--lexical-fields", default=",".join(LexicalConfig.fields),
                        help=f"entity fields the lexical model matches, comma-separated, any of {', '.join(LEXICAL_FIELDS)} "
                             f"(default: {','.join(LexicalConfig.fields)})")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's; 1 is fastest on a busy shared machine)")
    parser.add_argument("--full-kb", action="store_true",
                        help="also rank the test queries against the whole KB (MIMIC's protocol: H@1/3/5/10/20, MR, MRR)")
    parser.add_argument("--shortlist", type=int, default=default("shortlist"), metavar="K",
                        help="--full-kb: the cross-encoder reranks the top K of each retriever (BM25 over names; the visual "
                             f"bi-encoder); a gold outside ranks after them by the first-stage score (default: {default('shortlist')})")
    parser.add_argument("--no-bf16", action="store_true", help="run CUDA in fp32 instead of bf16 autocast")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoders (CUDA)")
    parser.add_argument("--out", help="output folder (default: DATASET-benchmark beside the dataset)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--no-save-models", action="store_true", help="do not save the trained models")


def train_settings(args) -> dict:
    """The training settings the flags set explicitly; the library fills in the rest for the preset."""
    values = {name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None}
    if args.no_bf16:
        values["bf16"] = False
    if args.compile:
        values["compile"] = True
    return values


def run(args) -> int:
    import sys
    from pathlib import Path

    from baseline.benchmark import BenchmarkConfig, run_benchmark
    from baseline.distributed import requested
    from baseline.report import summary
    from emmel.errors import EmmelError
    from pages.report import FILE, write_report

    alpha = args.alpha
    if alpha != "auto":
        try:
            alpha = float(alpha)
        except ValueError:
            raise EmmelError(f"--alpha must be a number in [0, 1] or 'auto', got {args.alpha!r}") from None
    cfg = BenchmarkConfig(
        dataset=args.dataset, models=[m.strip() for m in args.models.split(",") if m.strip()], alpha=alpha,
        normalization=args.normalization, text_model=args.text_model, clip_model=args.clip_model, preset=args.preset, prompts=args.prompts,
        full_kb=args.full_kb, shortlist=args.shortlist, out=args.out, overwrite=args.overwrite, save_models=not args.no_save_models,
        progress=sys.stderr.isatty(), threads=args.threads, train=train_settings(args), distributed=requested(), seeds=args.seeds,
        lexical={"fields": [f.strip() for f in args.lexical_fields.split(",") if f.strip()]},
    )
    # the HTML report is made from the run's files inside its output folder, before the folder is published
    report = run_benchmark(cfg, log=lambda line: print(line, file=sys.stderr), extra_outputs=[write_report])
    if report is None:  # a torchrun rank other than 0: rank 0 prints and writes
        return 0
    print(summary(report))
    print(f"\nwrote {report['out']} (results.json, results.md, ablation.png"
          f"{', alpha_sweep.png' if report.get('alpha') else ''}, predictions/{f', {FILE}' if (Path(report['out']) / FILE).is_file() else ''}"
          f"{', models/' if cfg.save_models else ''}) "
          f"in {report['wall_seconds']:.1f} s")
    return 0
