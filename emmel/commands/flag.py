"""`emmel flag DATASET --clip-model PATH --out NEW`: flag model-suspected image–text mismatches in an existing
dataset and write the result as a new dataset version (docs/suspect.md).

Examples::

    emmel flag EMMEL --clip-model models/chinese-clip-vit-base-patch16 --out EMMEL-flagged
    emmel flag EMMEL --clip-model tiny-clip --fit-epochs 20 --fit-lr 3e-3 --out EMMEL-flagged --reject-suspect
"""

from __future__ import annotations

from emmel.commands.build import add_suspect_arguments, pair_scorer, suspect_overrides
from emmel.config import BuildConfig


def add_arguments(parser) -> None:
    parser.add_argument("dataset", help="dataset folder to score (it is not modified)")
    parser.add_argument("--out", required=True, help="new dataset folder to write (never the input)")
    parser.add_argument("--config", help="TOML build config whose [suspect] section holds the settings (see docs/suspect.md)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. --set suspect.min_entity_samples=8 (repeatable)")
    parser.add_argument("--seed", type=int, help=f"seed of the fit (default {BuildConfig.seed})")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if emmel wrote it (a dataset folder; never the input)")
    add_suspect_arguments(parser)


def run(args) -> int:
    from emmel.config import load_config
    from emmel.dataset import KIND
    from emmel.errors import EmmelError
    from emmel.flagging import flag_dataset
    from emmel.io import check_output
    from emmel.suspect import summary_line

    overrides = list(args.set) + suspect_overrides(args) + ([f"seed={args.seed}"] if args.seed is not None else [])
    config = load_config(args.config, overrides)
    if not config.suspect.clip_model:
        raise EmmelError("give --clip-model (the CLIP checkpoint that scores the pairs)")
    inputs = [args.dataset, config.suspect.clip_model]
    check_output(args.out, kind=KIND, overwrite=args.overwrite, inputs=inputs)  # before the model loads
    out, flags = flag_dataset(args.dataset, args.out, lambda: pair_scorer(config, args), config.suspect, overwrite=args.overwrite,
                              inputs=inputs[1:])
    print(summary_line(flags.summary))
    print(f"wrote {out}   check it: emmel stats --check {out}")
    return 0
