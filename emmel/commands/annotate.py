"""`emmel annotate {config,export,import,push,pull}`: the Label Studio round trip (docs/annotate.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC_ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
URL_ENV = "LABEL_STUDIO_URL"
MAX_WARNINGS = 20


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    config = sub.add_parser("config", help="print (or write) the Label Studio labeling config")
    config.add_argument("--out", help="write the XML here instead of printing it")
    config.add_argument("--overwrite", action="store_true", help="replace --out if it is a labeling config emmel wrote")

    export = sub.add_parser("export", help="write Label Studio task JSON for a dataset")
    export.add_argument("dataset", help="dataset folder")
    export.add_argument("--out", required=True, help="task JSON file to write")
    export.add_argument("--overwrite", action="store_true", help="replace --out if it is a task list emmel wrote")
    _task_options(export)

    imp = sub.add_parser("import", help="apply a Label Studio export (JSON or JSON_MIN) as a new dataset version")
    imp.add_argument("dataset", help="dataset folder the tasks were exported from")
    imp.add_argument("export", help="Label Studio export file (JSON or JSON_MIN)")
    _import_options(imp)

    push = sub.add_parser("push", help="create a Label Studio project with the dataset's tasks (token: $LABEL_STUDIO_API_KEY)")
    push.add_argument("dataset", help="dataset folder")
    push.add_argument("--url", help=f"Label Studio address (default ${URL_ENV})")
    push.add_argument("--title", help="project title (3-50 characters)")
    _task_options(push)

    pull = sub.add_parser("pull", help="export a Label Studio project and import it as a new dataset version")
    pull.add_argument("project", type=int, help="Label Studio project id (printed by push)")
    pull.add_argument("--url", help=f"Label Studio address (default ${URL_ENV})")
    pull.add_argument("--dataset", required=True, help="dataset folder the project was pushed from")
    pull.add_argument("--save-export", help="also keep the raw export JSON in this file")
    _import_options(pull)


def _task_options(parser) -> None:
    from annotation.tasks import DEFAULT_ORDER, ORDERS

    parser.add_argument("--split", action="append", help="split(s) to export: train, dev, test (repeat or comma-separate; default all)")
    parser.add_argument("--predictions", metavar="FILE",
                        help="a model's predictions (emmel benchmark's RESULTS/predictions/<model>.jsonl) to pre-annotate with (see docs/annotate.md)")
    parser.add_argument("--order", default=",".join(DEFAULT_ORDER), metavar="NAME[,NAME]",
                        help=f"task order: {', '.join(ORDERS)}; comma-separate to sort by one, then the next. dataset: split, then id; "
                             "suspect: model-flagged mismatches first (docs/suspect.md); uncertainty: the samples the model of --predictions "
                             f"is least sure of first (smallest margin between its top two) (default {','.join(DEFAULT_ORDER)})")
    parser.add_argument("--images", choices=("local-files", "http", "inline"), default="local-files", help="image URL mode (default local-files)")
    parser.add_argument("--document-root", help=f"local-files: the server's document root (default ${DOC_ROOT_ENV}, else the dataset's parent folder)")
    parser.add_argument("--image-prefix", help="http: URL under which the dataset folder is served")


def _check_order(args) -> tuple[str, ...]:
    """``--order a,b`` as checked names (the library says which are known), before anything else is said or read."""
    from annotation.tasks import check_order

    return check_order(args.order, predictions=bool(args.predictions))


def _import_options(parser) -> None:
    parser.add_argument("--out", required=True, help="new dataset folder to write (never the input)")
    parser.add_argument("--report", help="also write the full review report (JSON) here")
    parser.add_argument("--strict", action="store_true", help="refuse the whole export if any task is refused")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out (a dataset emmel wrote, never the input) and --report/--save-export if emmel wrote them")


def run(args) -> int:
    return {"config": _config, "export": _export, "import": _import, "push": _push, "pull": _pull}[args.action](args)


def _splits(args) -> tuple[str, ...]:
    from emmel.schema import SPLITS

    if not args.split:
        return SPLITS
    return tuple(dict.fromkeys(part.strip() for value in args.split for part in value.split(",") if part.strip()))


def _images(args, dataset_dir: str):
    from annotation.images import ImageError, ImageURLs
    from emmel.errors import EmmelError

    root = args.document_root or os.environ.get(DOC_ROOT_ENV)
    if args.images == "local-files" and not root:
        root = str(Path(dataset_dir).resolve().parent)
        print(f"emmel annotate: local-files URLs are relative to {root}; start Label Studio with {DOC_ROOT_ENV}={root}", file=sys.stderr)
    try:
        return ImageURLs(mode=args.images, document_root=root, prefix=args.image_prefix or "")
    except ImageError as exc:
        raise EmmelError(str(exc)) from None


def _url(args) -> str:
    from emmel.errors import EmmelError

    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise EmmelError(f"give --url (or set {URL_ENV})")
    return url


def _config(args) -> int:
    from annotation.config import label_config, write_label_config

    if args.out:
        write_label_config(args.out, overwrite=args.overwrite)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(label_config())
    return 0


def _export(args) -> int:
    from annotation.roundtrip import make_tasks
    from annotation.tasks import write_tasks
    from emmel.dataset import Dataset

    order = _check_order(args)
    dataset = Dataset.load(args.dataset)
    problems: list[str] = []
    tasks = make_tasks(dataset, splits=_splits(args), images=_images(args, args.dataset), predictions=args.predictions, order=order,
                       problems=problems)
    write_tasks(args.out, tasks, overwrite=args.overwrite, inputs=(args.dataset, args.predictions))
    _warn(problems, args.predictions)
    print(f"wrote {len(tasks)} tasks to {args.out}" + (", the model's least sure first" if order[0] == "uncertainty" else ""))
    return 0


def _warn(problems: list[str], source, *, each: str = "", more: str = "") -> None:
    """One warning line per problem (at most MAX_WARNINGS, then a count); ``each`` ends every line, ``more`` the count's."""
    for line in problems[:MAX_WARNINGS]:
        print(f"emmel annotate: warning: {source}: {line}{each}", file=sys.stderr)
    if len(problems) > MAX_WARNINGS:
        print(f"emmel annotate: warning: ... and {len(problems) - MAX_WARNINGS} more{more}", file=sys.stderr)


def _report(outcome, args) -> int:
    from annotation.apply import report_path
    from annotation.roundtrip import problem_lines, summary_line

    report = outcome.report
    _warn(problem_lines(report), report["source"], each=" (skipped)", more=" (see the report)")
    print(summary_line(report))
    where = f"; report {report_path(report['round'])}" if outcome.edited else " (no edits: identical to the input)"
    print(f"wrote {args.out}{where}")
    return 0


def _import(args) -> int:
    from annotation.roundtrip import import_file

    outcome = import_file(args.dataset, args.export, args.out, strict=args.strict, overwrite=args.overwrite, report_file=args.report)
    return _report(outcome, args)


def _push(args) -> int:
    from annotation.server import push

    order = _check_order(args)
    problems: list[str] = []
    info = push(args.dataset, _url(args), images=_images(args, args.dataset), splits=_splits(args), predictions=args.predictions, title=args.title,
                order=order, problems=problems)
    _warn(problems, args.predictions)
    storage = f", local-files storage {info['storage']}" if info["storage"] is not None else ""
    print(f"project {info['project']} ({info['title']}): {info['tasks']} tasks{storage}")
    if info["image_problem"]:
        hint = f"; does the server run with {DOC_ROOT_ENV} equal to --document-root?" if args.images == "local-files" else ""
        print(f"emmel annotate: warning: the server cannot show the images ({info['image_problem']}){hint}", file=sys.stderr)
    return 0


def _pull(args) -> int:
    from annotation.server import pull

    outcome = pull(args.project, _url(args), args.dataset, args.out, save_export=args.save_export, strict=args.strict, overwrite=args.overwrite,
                   report_file=args.report)
    return _report(outcome, args)
