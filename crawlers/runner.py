"""Run the spiders from Python (AsyncCrawlerProcess) into one raw source folder.

Layout of the output folder (docs/FORMAT.md §1 plus the crawl's own state):

    OUT/records.jsonl          one raw record per stored image (merged, sorted by record_id)
    OUT/source.json            kind "web", spiders, start URLs, counts
    OUT/images/full/…          the images as served
    OUT/items/<spider>.jsonl   the items (one entity page per line, sorted by entity id)
    OUT/.emmel-crawl/          job state: journal and parts per spider (crawlers.journal), HTTP
                               cache, log, stats
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from crawlers.journal import (
    CorruptState,
    Frontier,
    check_job,
    journal_path,
    part_problem,
    scan_lines,
)
from emmel import TOOL
from emmel.errors import EmmelError
from emmel.io import atomic_write_text, check_output, dumps, write_json, write_marker

STATE = ".emmel-crawl"
OUR_OUTPUTS = ("records.jsonl", "source.json", "items", "images", STATE)
KIND = "crawl"  # the output kind in the folder's emmel.io.MARKER
REDIS_ENV = "EMMEL_REDIS_URL"


@dataclass
class CrawlOptions:
    """Everything ``emmel crawl`` can be told; defaults are the polite ones."""

    out: Path
    spiders: list[str] = field(default_factory=lambda: spider_loader().list())
    start_urls: dict[str, str] = field(default_factory=dict)
    mirror: str | None = None
    max_pages: int | None = None
    cache: bool = False
    resume: bool = False
    overwrite: bool = False
    redis_url: str | None = None
    throttle: bool = True
    delay: float | None = None  # seconds between requests to one site (None: settings default)
    concurrency: int | None = None  # requests in flight per site (None: settings default, 1)
    min_image_size: int = 0
    backoff: float | None = None  # seconds before the first retry (doubles each retry)
    obey_robots: bool = True
    log_level: str = "INFO"
    log_file: str | None = None  # None: OUT/.emmel-crawl/crawl.log ; "-": stderr
    extra: dict[str, str] = field(default_factory=dict)  # raw Scrapy settings (--set)
    progress: bool | None = None  # None: a bar on a terminal, periodic lines otherwise


def project_settings(overrides: dict | None = None):
    """Scrapy ``Settings`` from ``crawlers/settings.py``, with ``overrides`` on top (command-line priority)."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    settings.setdict(overrides or {}, priority="cmdline")
    return settings


def spider_loader():
    """Scrapy's own SpiderLoader over the ``SPIDER_MODULES`` of crawlers/settings.py: the one registry of spiders."""
    from scrapy.spiderloader import get_spider_loader

    return get_spider_loader(project_settings())


@dataclass
class CrawlReport:
    stats: dict[str, dict]  # spider -> Scrapy stats (the spiders run this time)
    records: int
    interrupted: bool
    elapsed: float
    pending: dict[str, int] = field(default_factory=dict)  # spider -> requests scheduled, not done (journal)
    already_complete: list[str] = field(default_factory=list)  # spiders a --resume found complete

    @property
    def incomplete(self) -> bool:
        """Work is left: a resume has something to do."""
        return self.interrupted or any(self.pending.values())


def check_options(opts: CrawlOptions) -> None:
    known = spider_loader().list()
    unknown = [s for s in opts.spiders if s not in known]
    if unknown:
        raise EmmelError(f"unknown spider {unknown[0]!r} (choose from {', '.join(known)})")
    for name, url in opts.start_urls.items():
        if name not in opts.spiders:
            raise EmmelError(f"--start-url for {name!r}, which is not being crawled")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise EmmelError(f"--start-url {url!r} is not an http(s) URL")
    if opts.redis_url and urlsplit(opts.redis_url).scheme not in ("redis", "rediss", "unix"):
        raise EmmelError(f"redis URL must start with redis://, rediss:// or unix:// (got {opts.redis_url!r})")


def prepare_out(opts: CrawlOptions) -> None:
    """Refuse to mix two crawls in one folder unless told to resume or overwrite, and mark the folder
    as a crawl's (``emmel.io`` rule: ``--overwrite`` only ever replaces a folder emmel marked)."""
    out = opts.out
    if out.exists() and not out.is_dir():
        raise EmmelError("output exists and is not a folder", path=out)
    if opts.resume:
        if not opts.redis_url:
            check_resumable(out)
    elif out.exists() and any(out.iterdir()):
        if not opts.overwrite:
            raise EmmelError("output folder is not empty (use --resume to continue a crawl, or --overwrite)", path=out)
        check_output(out, kind=KIND, overwrite=True, partial=True)  # a crawl's folder; other entries of the user's stay
        _remove_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, KIND, OUR_OUTPUTS)


def _remove_outputs(out: Path) -> None:
    for name in OUR_OUTPUTS:  # only what a crawl writes; anything else of the user's stays
        target = out / name
        if name == STATE and target.is_dir():  # keep the HTTP cache: --overwrite --cache re-fetches nothing
            for child in target.iterdir():
                if child.name != "httpcache":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def check_resumable(out: Path) -> None:
    """Refuse, in one line, a ``--resume`` of a folder that holds no emmel crawl to continue."""
    state = out / STATE
    if not out.is_dir():
        raise EmmelError("nothing to resume: no such folder; run without --resume first", path=out)
    if not state.is_dir():
        raise EmmelError(f"not an emmel crawl folder (no {STATE}/ job state): nothing to resume; "
                         "run without --resume to start a crawl", path=out)
    if (state / "job").is_dir() and any(p.is_dir() for p in (state / "job").iterdir()):
        raise EmmelError("crawl started by an older emmel (Scrapy JOBDIR job state, unsafe after a kill): "
                         "start again with --overwrite (add --cache to fetch nothing twice)", path=out)


def build_settings(opts: CrawlOptions, spider: str) -> dict:
    """The Scrapy settings (beyond ``crawlers.settings``) for one spider of this crawl. Pure."""
    out = opts.out.resolve()
    state = out / STATE
    s: dict = {
        "IMAGES_STORE": str(out),
        "EMMEL_PARTS_DIR": str(state / "parts"),
        "LOG_LEVEL": opts.log_level.upper(),
        "ROBOTSTXT_OBEY": opts.obey_robots,
        "IMAGES_MIN_WIDTH": opts.min_image_size,
        "IMAGES_MIN_HEIGHT": opts.min_image_size,
    }
    if not opts.throttle:
        s.update({"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0.0, "DOWNLOAD_DELAY_JITTER": 0.0,
                  "CONCURRENT_REQUESTS": 32, "CONCURRENT_REQUESTS_PER_DOMAIN": 16})
    if opts.delay is not None:
        s["DOWNLOAD_DELAY"] = opts.delay
        s["AUTOTHROTTLE_START_DELAY"] = max(opts.delay, 0.0)
    if opts.concurrency is not None:
        s["CONCURRENT_REQUESTS_PER_DOMAIN"] = opts.concurrency
        s["AUTOTHROTTLE_TARGET_CONCURRENCY"] = float(opts.concurrency)
    if opts.backoff is not None:
        s["EMMEL_BACKOFF_BASE"] = opts.backoff
    if opts.cache:
        s.update({"HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(state / "httpcache")})
    if opts.redis_url:
        s.update({
            "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "REDIS_URL": opts.redis_url,
            "SCHEDULER_PERSIST": True,  # the queue and seen-set outlive a worker: other workers and --resume
            "SCHEDULER_FLUSH_ON_START": not opts.resume,
            "SCHEDULER_QUEUE_KEY": "emmel:%(spider)s:requests",
            "SCHEDULER_DUPEFILTER_KEY": "emmel:%(spider)s:dupefilter",
            "SCHEDULER_SERIALIZER": "crawlers.redis_json",  # JSON, not pickle, in a shared server
        })
    else:  # the crash-safe journal replaces Scrapy's JOBDIR and dupefilter
        s.update({"SCHEDULER": "crawlers.scheduler.JournalScheduler",
                  "DUPEFILTER_CLASS": "scrapy.dupefilters.BaseDupeFilter",
                  "EMMEL_JOURNAL": str(journal_path(state, spider))})
    s.update(opts.extra)
    return s


def spider_kwargs(opts: CrawlOptions, spider: str) -> dict:
    kwargs: dict = {}
    if spider in opts.start_urls:
        kwargs["start_url"] = opts.start_urls[spider]
    elif opts.mirror:
        kwargs["mirror"] = opts.mirror
    if opts.max_pages:
        kwargs["max_pages"] = opts.max_pages
    return kwargs


def merge_outputs(out: Path) -> int:
    """Rebuild ``records.jsonl`` and ``items/<spider>.jsonl`` from the parts; return the records.

    One copy per page (its URL): the last stored, since a page fetched again after a kill gives the
    same item. Records are sorted by record_id, items by entity id; a file whose content would not
    change is left untouched. Raises EmmelError on a parts line no kill explains.
    """
    records: dict[str, dict] = {}
    for part in sorted((out / STATE / "parts").glob("*.jsonl")):
        rows, bad = scan_lines(part)
        bad += [(number, part_problem(row)) for number, row in rows if part_problem(row)]
        if bad:
            number, why = min(bad)
            raise EmmelError(f"{why} (corrupt crawl state; --resume sets it aside and crawls again)",
                             path=part, record=f"line {number}")
        latest = {row["item"]["url"]: row for _, row in rows}
        for url in sorted(latest):  # two pages claiming one record_id: the larger URL wins, every time
            records.update((record["record_id"], record) for record in latest[url]["records"])
        items = sorted((row["item"] for row in latest.values()), key=lambda i: (_natural(str(i.get("entity_id"))), i["url"]))
        _write_if_changed(out / "items" / f"{part.stem}.jsonl", "".join(dumps(i) + "\n" for i in items))
    ordered = [records[k] for k in sorted(records, key=_natural)]
    _write_if_changed(out / "records.jsonl", "".join(dumps(r) + "\n" for r in ordered))
    return len(ordered)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_bytes() != text.encode("utf-8"):
        atomic_write_text(path, text)


def _natural(key: str) -> tuple:
    """``ihchina:9:1`` before ``ihchina:10:0``; numbers before words in one position."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in key.split(":"))


def job_frontiers(out: Path, spiders) -> dict[str, Frontier]:
    """The journal state of each spider (after a run: what is still pending)."""
    state = {}
    for name in spiders:
        try:
            state[name] = Frontier.load(journal_path(out / STATE, name), name)
        except CorruptState as exc:
            raise EmmelError(f"crawl journal unreadable: {exc.why}", path=exc.path, record=f"line {exc.line}") from None
    return state


def write_source(out: Path, opts: CrawlOptions, spiders: dict[str, type], records: int) -> None:
    previous = {}
    if (out / "source.json").exists():
        try:
            previous = json.loads((out / "source.json").read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    crawled = dict(previous.get("spiders") or {})
    for name, cls in spiders.items():
        crawled[name] = {"site": cls.site_name, "license": cls.license,
                         "start_url": opts.start_urls.get(name) or _mirror_url(opts, cls) or cls.start_url}
    write_json(out / "source.json", {
        "kind": "web", "tool": TOOL, "spiders": dict(sorted(crawled.items())), "records": records,
        "license": "; ".join(sorted({v["license"] for v in crawled.values()})),
        "text_from": "source.text_from of each record: caption, alt, description (excerpt) or none",
    })


def _mirror_url(opts: CrawlOptions, cls) -> str | None:
    if not opts.mirror:
        return None
    from urllib.parse import urljoin

    return urljoin(opts.mirror if opts.mirror.endswith("/") else opts.mirror + "/", cls.mirror_path)


def run_crawl(opts: CrawlOptions, *, echo=print) -> CrawlReport:
    """Crawl, merge records, write ``source.json`` and stats; return the report."""
    check_options(opts)
    if not opts.redis_url and os.environ.get(REDIS_ENV):
        opts.redis_url = os.environ[REDIS_ENV]
    lock = folder_lock(opts.out) if opts.out.is_dir() else None  # before anything in OUT is touched
    try:
        prepare_out(opts)
        opts.out.mkdir(parents=True, exist_ok=True)
        lock = lock if lock is not None else folder_lock(opts.out)
        (opts.out / STATE).mkdir(exist_ok=True)
        return _crawl(opts, echo)
    finally:
        if lock is not None:
            os.close(lock)


def folder_lock(out: Path) -> int:
    """An exclusive lock on the output folder for this process (released by the kernel at exit,
    a kill included): two crawls writing one folder would interleave their journals."""
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EmmelError("another emmel crawl is writing to this folder; wait for it or stop it first", path=out) from None
    return fd


def _crawl(opts: CrawlOptions, echo) -> CrawlReport:
    journaled = not opts.redis_url
    to_run, complete = list(opts.spiders), []
    if opts.resume:
        remove_torn_writes(opts.out)
    if opts.resume and journaled:
        to_run, complete = resume_plan(opts, echo)
        if not to_run:  # every spider's journal is complete: nothing to fetch
            records = merge_outputs(opts.out)  # a no-op unless a kill came between the crawl and its outputs
            _update_source(opts, complete, records)
            return CrawlReport(stats={}, records=records, interrupted=False, elapsed=0.0, already_complete=complete)

    from scrapy.crawler import AsyncCrawlerProcess, Crawler

    from crawlers.progress import Progress

    log_file = opts.log_file if opts.log_file is not None else str(opts.out / STATE / "crawl.log")
    common = {"LOG_LEVEL": opts.log_level.upper()}
    if log_file != "-":
        common.update({"LOG_FILE": log_file, "LOG_FILE_APPEND": True})
    process = AsyncCrawlerProcess(project_settings(common))
    progress = Progress(enabled=opts.progress, echo=echo)
    spiders, crawlers = {}, {}
    for name in to_run:
        cls = spider_class(name)
        spiders[name] = cls
        crawler = Crawler(cls, project_settings({**common, **build_settings(opts, name)}))
        progress.watch(crawler)
        crawlers[name] = crawler
        process.crawl(crawler, **spider_kwargs(opts, name))
    started = time.monotonic()
    try:
        process.start()
    finally:
        progress.close()
        records = merge_outputs(opts.out)
        write_source(opts.out, opts, spiders, records)
    stats = {name: _plain(c.stats.get_stats()) for name, c in crawlers.items()}
    write_json(opts.out / STATE / "stats.json", {**_previous_stats(opts.out, complete), **stats})
    interrupted = any(s.get("finish_reason") not in ("finished", None) for s in stats.values()) or not stats
    pending = {n: len(f.pending) for n, f in job_frontiers(opts.out, to_run).items()} if journaled else {}
    logging.getLogger(__name__).info("crawl done: %d records, %d requests pending", records, sum(pending.values()))
    return CrawlReport(stats=stats, records=records, interrupted=interrupted, elapsed=time.monotonic() - started,
                       pending=pending, already_complete=complete)


def remove_torn_writes(out: Path) -> int:
    """Delete the temporary files of atomic writes a kill interrupted (``emmel.io.atomic_write_bytes``
    names them ``.<name>.<random>.part``): in images/full/ and items/ (folders of the crawl), and
    beside the crawl's own files in OUT and its state folder. Returns how many."""
    removed = 0
    places = [(out / "images" / "full", None), (out / "items", None), (out / STATE, None),
              (out, ("records.jsonl", "source.json"))]
    for folder, names in places:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = _TORN.match(path.name)
            if match and path.is_file() and (names is None or match.group(1) in names):
                path.unlink()
                removed += 1
    return removed


_TORN = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}\.part$")


def _update_source(opts: CrawlOptions, spiders: list[str], records: int) -> None:
    """``source.json`` of a crawl a resume found complete: written if missing, its count corrected
    if a kill came between the records and it; otherwise untouched."""
    path = opts.out / "source.json"
    try:
        source = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        source = None
    if not isinstance(source, dict):
        write_source(opts.out, opts, {n: spider_class(n) for n in spiders}, records)
    elif source.get("records") != records:
        write_json(path, {**source, "records": records})


def verdict(report: CrawlReport) -> tuple[int, str]:
    """Exit status and closing line of ``emmel crawl``: 0 complete, 130 interrupted, 1 when a
    crawl ended with journaled pages never processed (never reported as finished)."""
    left = sum(report.pending.values())
    where = ", ".join(f"{name} {n}" for name, n in report.pending.items() if n)
    if report.interrupted:
        todo = f" ({left} scheduled pages not fetched yet: {where})" if left else ""
        return 130, f"crawl interrupted{todo}: continue with the same command plus --resume"
    if left:
        return 1, (f"crawl incomplete: {left} scheduled pages were not crawled ({where}); "
                   "run the same command with --resume to fetch them")
    return 0, ""


def spider_class(name: str) -> type:
    return spider_loader().load(name)


def resume_plan(opts: CrawlOptions, echo) -> tuple[list[str], list[str]]:
    """Check each spider's job state (see ``crawlers.journal.check_job``); return the spiders with
    work left and those already complete."""
    to_run, complete = [], []
    for name in opts.spiders:
        frontier, warning = check_job(opts.out / STATE, name, spider_class(name))
        if warning:
            echo(warning)
        (complete if frontier.complete else to_run).append(name)
    return to_run, complete


def _previous_stats(out: Path, spiders: list[str]) -> dict:
    """The last stats of spiders not run this time (a resume of spiders already complete)."""
    path = out / STATE / "stats.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8")) if spiders and path.exists() else {}
    except ValueError:
        return {}
    return {n: previous[n] for n in spiders if isinstance(previous.get(n), dict)}


def _plain(stats: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in sorted(stats.items())}


SUMMARY_ROWS = (
    ("finish reason", "finish_reason"),
    ("list pages", "emmel/pages/list"),
    ("detail pages", "emmel/pages/detail"),
    ("items", "item_scraped_count"),
    ("items dropped", "item_dropped_count"),
    ("records (one per image)", "emmel/records"),
    ("images stored", "emmel/images/stored"),
    ("  downloaded", "file_status_count/downloaded"),
    ("  already there (resume)", "file_status_count/uptodate"),
    ("items without records", "emmel/items_without_records"),
    ("retries", "retry/count"),
    ("HTTP 429 answers", "downloader/response_status_count/429"),
    ("skipped by robots.txt", "emmel/skipped/robots"),
    ("skipped off-domain", "offsite/filtered"),
    ("cached responses", "httpcache/hit"),
)


def summary(report: CrawlReport) -> str:
    """A fixed-width table of the main counters per spider, then every problem counter."""
    names = list(report.stats)
    width = max([len(label) for label, _ in SUMMARY_ROWS] + [24])
    lines = ["crawl summary".ljust(width) + "".join(n.rjust(12) for n in names)]
    for label, key in SUMMARY_ROWS:
        values = [report.stats[n].get(key, 0) for n in names]
        if key != "finish_reason" and not any(values):
            continue
        lines.append(label.ljust(width) + "".join(str(v).rjust(12) for v in values))
    problems = sorted({k for s in report.stats.values() for k in s
                       if k.startswith(("emmel/error/", "emmel/field/", "emmel/dropped/", "emmel/text_from/",
                                        "emmel/encoding/", "emmel/backoff/"))})
    for key in problems:
        values = [report.stats[n].get(key, 0) for n in names]
        lines.append(key.removeprefix("emmel/").ljust(width) + "".join(str(v).rjust(12) for v in values))
    if any(report.pending.values()):
        lines.append("pages pending (journal)".ljust(width) + "".join(str(report.pending.get(n, 0)).rjust(12) for n in names))
    lines.append(f"{report.records} records in records.jsonl; {report.elapsed:.1f} s")
    return "\n".join(lines)


def errors_total(stats: dict) -> int:
    return sum(v for k, v in stats.items() if k.startswith("emmel/error/") and isinstance(v, int))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: emmel crawl")
