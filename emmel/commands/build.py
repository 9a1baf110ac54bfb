"""`emmel build SOURCES… --out DIR`: clean, dedup, split, augment raw sources into a dataset.

Examples::

    emmel build raw/ihchina raw/book --out EMMEL --kb-seed data/ihchina_national_list.csv
    emmel build animals.csv --map title=name,text=caption,image=file --out ANIMALS --set clean.min_side=128
    emmel build raw/ --out EMMEL --config data/build.toml --seed 7 --overwrite
    emmel build raw/ --out EMMEL --clip-model models/chinese-clip-vit-base-patch16 --reject-suspect
"""

from __future__ import annotations

from emmel.config import BuildConfig, SuspectConfig


def add_arguments(parser) -> None:
    parser.add_argument("sources", nargs="+", help="raw source folders (records.jsonl + images) or JSONL/CSV files")
    parser.add_argument("--out", required=True, help="dataset folder to write (must not exist unless --overwrite)")
    parser.add_argument("--config", help="TOML file with build settings (see data/build.toml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting, e.g. --set clean.min_side=256 (repeatable)")
    parser.add_argument("--seed", type=int, help="random seed (default 13)")
    parser.add_argument("--min-side", type=int, help="reject images whose shorter side is below this (default 200 px)")
    parser.add_argument("--lambda", dest="lam", type=int, metavar="N", help="candidates per dev/test sample (default 100)")
    parser.add_argument("--kb-seed", help="CSV/JSONL of extra KB entities, e.g. data/ihchina_national_list.csv")
    parser.add_argument("--name", help="dataset name shown in the card (default EMMEL)")
    parser.add_argument("--map", default="", help="field mapping for generic imports: title=COL,text=COL,image=COL,…")
    parser.add_argument("--line-ids", action="store_true",
                        help="number records without record_id by their line (line17); such ids change when lines move (default: reject them)")
    parser.add_argument("--no-augment", action="store_true", help="skip the train-split augmentation")
    parser.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    parser.add_argument("--engine", default="local", choices=["local", "processes", "dask"], help="where the per-image stage runs")
    parser.add_argument("--workers", type=int, help="processes for --engine processes/dask")
    parser.add_argument("--encoding", metavar="NAME",
                        help="encoding of the records files, e.g. gbk or gb18030 "
                             f"(default: {BuildConfig.encoding or 'detect: UTF-8, UTF-8 with BOM or GB18030, per file'})")
    parser.add_argument("--strict", action="store_true", help="stop at the first malformed record instead of rejecting it")
    add_suspect_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace --out if emmel wrote it (a dataset folder; atomically; never an input)")


def add_suspect_arguments(parser) -> None:
    """The flags of model-flagged mismatches (docs/suspect.md), shared with `emmel flag`."""
    from baseline.config import TrainConfig

    d = SuspectConfig()
    group = parser.add_argument_group("model-flagged mismatches (docs/suspect.md)")
    group.add_argument("--clip-model", metavar="PATH", help="CLIP checkpoint (ChineseCLIPModel folder or Chinese-CLIP .pt) that scores every "
                       "(image, text) and (image, entity label) pair; samples far below their entity's typical score are flagged")
    group.add_argument("--fit-epochs", type=int, metavar="N",
                       help=f"fit CLIP on the train split for N epochs before scoring (default {d.fit_epochs}: a pretrained checkpoint as given)")
    group.add_argument("--fit-lr", type=float, metavar="LR", help=f"learning rate of the fit (default {TrainConfig.lr:g})")
    group.add_argument("--fit-batch-size", type=int, metavar="N", help=f"batch size of the fit (default {TrainConfig.batch_size})")
    group.add_argument("--suspect-threshold", type=float, metavar="Z",
                       help=f"flag a pair whose robust z-score among its entity's samples is below -Z (default {d.threshold:g})")
    group.add_argument("--reject-suspect", action="store_true", help="move flagged samples to the rejects (reason suspect_mismatch) "
                       "instead of keeping them with their suspect field")
    group.add_argument("--device", default="cpu", help="where CLIP runs: cpu or cuda (default cpu)")
    group.add_argument("--threads", type=int, metavar="N", help="torch CPU threads for CLIP (1 avoids OpenMP spin-waits on a busy machine)")


def suspect_overrides(args) -> list[str]:
    """``--set`` style overrides of the ``suspect`` section from the flags."""
    overrides = []
    for flag, key in ((args.clip_model, "clip_model"), (args.fit_epochs, "fit_epochs"), (args.fit_lr, "fit_lr"),
                      (args.fit_batch_size, "fit_batch_size"), (args.suspect_threshold, "threshold")):
        if flag is not None:
            overrides.append(f"suspect.{key}={flag}")
    if args.reject_suspect:
        overrides.append("suspect.reject=true")
    return overrides


def pair_scorer(config: BuildConfig, args):
    """The baseline's CLIP scorer for ``config.suspect`` (None without a CLIP model); loading it checks the checkpoint now."""
    if not config.suspect.clip_model:
        return None
    from baseline.mismatch import ClipPairScorer

    return ClipPairScorer.from_config(config.suspect, seed=config.seed, device=args.device, threads=args.threads)


def _mapping(text: str) -> dict[str, str]:
    from emmel.errors import EmmelError

    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours or not theirs:
            raise EmmelError(f"--map entry {part!r} must look like field=column")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def run(args) -> int:
    from emmel.build import run_build
    from emmel.config import load_config
    from emmel.stats import format_table
    from emmel.textfiles import encoding_label

    overrides = list(args.set)
    for flag, key in ((args.seed, "seed"), (args.min_side, "clean.min_side"), (args.lam, "candidates.size"),
                      (args.kb_seed, "kb_seed"), (args.name, "name"), (args.workers, "workers"), (args.encoding, "encoding")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if args.no_augment:
        overrides.append("augment.enabled=false")
    config = load_config(args.config, overrides + suspect_overrides(args))
    if config.suspect.clip_model:
        from emmel.dataset import KIND
        from emmel.io import check_output

        # a bad --out fails before the model loads, which checks the checkpoint before any image is read
        check_output(args.out, kind=KIND, overwrite=args.overwrite, inputs=[*args.sources, config.kb_seed, config.suspect.clip_model])
    report = run_build(args.sources, args.out, config, mapping=_mapping(args.map), overwrite=args.overwrite,
                       strict=args.strict, engine=args.engine, plots=not args.no_plots, line_ids=args.line_ids,
                       scorer=pair_scorer(config, args))
    c = report.counts
    print(f"\nBuilt {report.out} in {report.seconds:.1f} s")
    print("sources: " + ", ".join(f"{s['name']} ({s['records']} records, {encoding_label(s['encoding'])})" for s in report.sources))
    rows = [{"": "input records", "count": c["input_records"]}, {"": "kept", "count": c["kept"]},
            {"": "rejected", "count": c["rejected"]}]
    rows += [{"": f"  rejected: {reason}", "count": n} for reason, n in c["rejected_by_reason"].items()]
    rows += [{"": f"{split} samples", "count": n} for split, n in c["samples"].items()]
    rows += [{"": "  of which augmented", "count": c["augmented"]}, {"": "KB entities", "count": c["entities"]}]
    print(format_table(rows, ["", "count"]))
    if report.suspect:
        from emmel.suspect import summary_line

        print(summary_line(report.suspect))
    print(f"\nDataset card: {report.out / 'README.md'}   check it: emmel stats --check {report.out}")
    return 0
