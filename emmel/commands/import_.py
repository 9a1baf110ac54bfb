"""`emmel import FORMAT SOURCE --out DIR`: a published MEL benchmark as an emmel dataset (official splits kept).

Examples::

    emmel import mimic WikiMEL --out datasets/WikiMEL
    emmel import ghmfc Richpedia-MEL --out datasets/RichpediaMEL-GHMFC --dev-fraction 0.1 --seed 13
    emmel import wikidiverse WikiDiverse --out datasets/WikiDiverse --candidates generated
    emmel import coco-cn coco-cn-version1805v1.1 --images /data/coco/train2014 --out datasets/COCO-CN
"""

from __future__ import annotations

HELP = "import a published MEL benchmark (WikiMEL, RichpediaMEL, WikiDiverse, COCO-CN) as an emmel dataset"


def add_arguments(parser) -> None:
    from importers import IMPORTERS, ImportConfig, importer_class

    default = ImportConfig()
    formats = "; ".join(f"{name}: {importer_class(name).title}" for name in IMPORTERS)
    parser.add_argument("format", metavar="FORMAT", help=f"layout of SOURCE ({formats})")
    parser.add_argument("source", metavar="SOURCE", help="the benchmark's folder, as its authors distribute it (see docs/benchmarks.md)")
    parser.add_argument("--out", required=True, help="dataset folder to write (must not exist unless --overwrite; never inside SOURCE)")
    parser.add_argument("--name", help="dataset name in the card (default: the benchmark's, e.g. WikiMEL)")
    parser.add_argument("--seed", type=int, default=default.seed,
                        help=f"seed of emmel's candidate generator and of a carved dev split (default {default.seed})")
    parser.add_argument("--lambda", dest="lam", type=int, default=default.lam, metavar="N",
                        help=f"candidates per dev/test sample when emmel generates them (default {default.lam})")
    parser.add_argument("--candidates", choices=["auto", "imported", "generated"], default=default.candidates,
                        help="auto: the benchmark's own lists where it ships them (ghmfc, wikidiverse), else emmel's λ generator (default)")
    parser.add_argument("--candidates-file", default=default.candidates_file, metavar="TSV",
                        help="candidate lists to import for any format: '<mention record id><TAB><entity key><TAB>…' a line")
    parser.add_argument("--prefix", default=default.prefix, help="mimic: split-file prefix, e.g. WIKIMEL (default: found by itself)")
    parser.add_argument("--dev-fraction", type=float, default=default.dev_fraction,
                        help=f"ghmfc: share of train carved into dev with --seed (default {default.dev_fraction})")
    parser.add_argument("--images", default=default.images, metavar="DIR", help="folder of mention images, if not where the layout puts them")
    parser.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists (atomically)")


def run(args) -> int:
    from emmel.stats import format_table
    from importers import ImportConfig, run_import

    config = ImportConfig(name=args.name or "", seed=args.seed, lam=args.lam, candidates=args.candidates, prefix=args.prefix,
                          dev_fraction=args.dev_fraction, images=args.images, candidates_file=args.candidates_file,
                          plots=not args.no_plots)
    report = run_import(args.format, args.source, args.out, config, overwrite=args.overwrite)
    c, kb, cands = report.counts, report.kb, report.candidates
    print(f"\nImported {args.source} ({args.format}) into {report.out} in {report.seconds:.1f} s")
    rows = [{"": "input mentions", "count": c["input_records"]}, {"": "kept", "count": c["kept"]}, {"": "rejected", "count": c["rejected"]}]
    rows += [{"": f"  rejected: {reason}", "count": n} for reason, n in c["rejected_by_reason"].items()]
    rows += [{"": f"{split} samples", "count": n} for split, n in c["samples"].items()]
    rows += [{"": "KB records", "count": kb["records"]}, {"": "KB entities", "count": kb["entities"]}]
    rows += [{"": f"  KB skipped: {reason}", "count": n} for reason, n in kb["rejected_by_reason"].items()]
    rows += [{"": f"  entity images: {what}", "count": n} for what, n in kb["images"].items()]
    print(format_table(rows, ["", "count"]))
    if report.splits.get("dev"):
        print(f"\nsplits: {report.splits['dev']}")
    if cands["origin"] == "imported":
        recall = ", ".join(f"{split} {100 * r:.2f} % ({cands['missing_gold'][split]} misses)" for split, r in cands["gold_recall"].items())
        print(f"candidates: {cands['source']}, kept as shipped; gold recall {recall}")
    else:
        print(f"candidates: {cands['source']}")
    print(f"images: {report.linked} hard-linked, {report.copied} copied")
    print(f"\nDataset card: {report.out / 'README.md'}   check it: emmel stats --check {report.out}")
    return 0
