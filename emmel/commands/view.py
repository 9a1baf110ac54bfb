"""`emmel view DATASET [--results RUN] [--sources RAW…] --out SITE`: the dataset as a static site."""

from __future__ import annotations


def add_arguments(parser) -> None:
    from pages.dataset_site import SiteOptions

    defaults = SiteOptions()
    parser.add_argument("dataset", help="dataset folder written by `emmel build`")
    parser.add_argument("--out", required=True, help="folder for the site (opens from disk: SITE/index.html)")
    parser.add_argument("--results", metavar="RUN", help="a benchmark run folder (results.json, predictions/<model>.jsonl): show predictions and scores")
    parser.add_argument("--sources", nargs="+", default=[], metavar="RAW",
                        help="the raw source folders/files the dataset was built from: show the images of rejected records")
    parser.add_argument("--per-page", type=int, default=defaults.per_page, help=f"thumbnails per gallery page (default {defaults.per_page})")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes making thumbnails (default: the CPUs, at most 8)")
    parser.add_argument("--overwrite", action="store_true", help="replace SITE if it is a site emmel view wrote earlier")


def run(args) -> int:
    from pages.dataset_site import SiteOptions, build_site

    options = SiteOptions(per_page=max(1, args.per_page), workers=args.workers)
    report = build_site(args.dataset, args.out, results=args.results, sources=args.sources, overwrite=args.overwrite, options=options)
    print(f"wrote {report.out}: {report.pages:,} pages, {report.thumbnails:,} thumbnails ({report.placeholders} placeholders), "
          f"{report.bytes / 1e6:.1f} MB (+ {report.linked_bytes / 1e6:.1f} MB of full images hard-linked from the dataset) in {report.seconds:.1f} s")
    print(f"open {(report.out / 'index.html').resolve().as_uri()}")
    return 0
