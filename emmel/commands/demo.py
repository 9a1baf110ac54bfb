"""`emmel demo [--out DIR]`: the whole chain on the bundled sample, offline, on a CPU.

1. serve the bundled ICH site mirror (data/mirror) on 127.0.0.1 and crawl it with the real spiders;
2. OCR the bundled scanned book (data/sample_book.pdf);
3. build the dataset (cleaning, dedup, KB, splits, augmentation, candidates);
4. Label Studio round trip without edits: export tasks, import them back, check the bytes match;
5. benchmark MCR and its baselines with the tiny preset (trained from scratch on CPU), over
   ``DEMO_SEEDS`` seeds (mean ± standard deviation), with the lexical baseline beside them; the
   run writes results.md, predictions/ and report.html;
6. make the dataset's static site with the run's results (`emmel view`), to browse from disk.
The demo ends with the results table.
"""

from __future__ import annotations

import time
from pathlib import Path

from emmel.errors import EmmelError

DATA = Path(__file__).resolve().parents[2] / "data"
DEMO_SEEDS = 3  # runs of the benchmark: one demo test query is 5.6 points, so one run says little


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="emmel-demo",
                        help="folder for everything the demo writes (default ./emmel-demo); replaced on each run, "
                             "but only if it is empty or an earlier demo wrote it")
    parser.add_argument("--data", default=str(DATA), help="the bundled sample folder (default: data/ of the emmel checkout)")
    parser.add_argument("--epochs", type=int, help="training epochs of the tiny preset (default: the benchmark's own)")
    parser.add_argument("--models", default=None, help="models to benchmark (default: all of them)")
    parser.add_argument("--seeds", type=int, default=DEMO_SEEDS,
                        help=f"benchmark runs with different seeds; the table shows mean ± standard deviation (default: {DEMO_SEEDS})")
    parser.add_argument("--quick", action="store_true", help="a faster, smaller run (for tests): 1 epoch, one seed")


def _stage(number: int, total: int, title: str) -> float:
    print(f"\n=== [{number}/{total}] {title}", flush=True)
    return time.perf_counter()


def _cli(*argv: str) -> None:
    from emmel.cli import main

    code = main([str(a) for a in argv])
    if code:
        raise EmmelError(f"`emmel {' '.join(map(str, argv[:2]))} …` failed (exit {code}); see the message above")


def run(args) -> int:
    from baseline.report import results_table
    from crawlers.mirror_server import serve_mirror
    from crawlers.runner import CrawlOptions, run_crawl, summary
    from emmel.io import claim_folder, read_json

    data, out = Path(args.data), Path(args.out)
    mirror, book, seed = data / "mirror", data / "sample_book.pdf", data / "ihchina_national_list.csv"
    for needed in (mirror, book, seed):
        if not needed.exists():
            raise EmmelError("bundled sample file missing (run from an emmel checkout or pass --data)", path=needed)
    claim_folder(out, kind="demo", overwrite=True, inputs=[data], entries=("raw", "EMMEL", "labelstudio", "EMMEL-reviewed", "results", "site"))
    timings: dict[str, float] = {}
    started = time.perf_counter()

    t = _stage(1, 6, f"crawl the bundled ICH site mirror ({mirror}) with Scrapy")
    with serve_mirror(mirror) as server:
        print(f"mirror served at {server.url}")
        report = run_crawl(CrawlOptions(out=out / "raw" / "web", mirror=server.url, throttle=False))
    print(summary(report))
    timings["crawl"] = time.perf_counter() - t

    t = _stage(2, 6, f"OCR of the scanned sample book ({book.name})")
    _cli("ocr", book, "--out", out / "raw" / "book")
    timings["ocr"] = time.perf_counter() - t

    t = _stage(3, 6, "build the dataset")
    dataset = out / "EMMEL"
    _cli("build", out / "raw" / "web", out / "raw" / "book", "--out", dataset)
    _cli("stats", "--check", dataset)
    timings["build"] = time.perf_counter() - t

    t = _stage(4, 6, "Label Studio round trip (export tasks, import them back unedited)")
    tasks = out / "labelstudio" / "tasks.json"
    _cli("annotate", "export", dataset, "--out", tasks)
    _cli("annotate", "import", dataset, tasks, "--out", out / "EMMEL-reviewed")
    same = (dataset / "manifest.json").read_bytes() == (out / "EMMEL-reviewed" / "manifest.json").read_bytes()
    print(f"round trip without edits: {'byte-identical manifest' if same else 'MANIFEST DIFFERS'}")
    if not same:
        raise EmmelError("the no-edit Label Studio round trip changed the dataset; please report this")
    timings["annotate"] = time.perf_counter() - t

    t = _stage(5, 6, "benchmark MCR and baselines (tiny preset, CPU)")
    results = out / "results"
    bench = ["benchmark", dataset, "--out", results, "--seeds", str(1 if args.quick else args.seeds)]
    if args.epochs or args.quick:
        bench += ["--epochs", str(args.epochs or 1)]
    if args.models:
        bench += ["--models", args.models]
    _cli(*bench)
    timings["benchmark"] = time.perf_counter() - t

    t = _stage(6, 6, "browse: the dataset and the results as a static site (emmel view)")
    site = out / "site"
    _cli("view", dataset, "--results", results, "--sources", out / "raw" / "web", out / "raw" / "book", "--out", site)
    timings["view"] = time.perf_counter() - t

    total = time.perf_counter() - started
    print("\n=== done in {:.0f} s ({})".format(total, ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())))
    print(f"dataset:            {dataset}  (card: {dataset / 'README.md'})")
    print(f"Label Studio tasks: {tasks}  (config: annotation/label_config.xml)")
    print(f"results:            {results / 'results.md'}  (per-query predictions: {results / 'predictions'}/)")
    print(f"report:             {results / 'report.html'}  (open it in a browser: table, plots, case study)")
    print(f"site:               {site / 'index.html'}  (open in a browser: {(site / 'index.html').resolve().as_uri()})")
    run_results = read_json(results / "results.json")
    print("\n" + results_table(run_results) + "\n")
    for line in run_results.get("notes", []):
        print(line)
    return 0
