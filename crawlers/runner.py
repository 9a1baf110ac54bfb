"""Run the spiders from Python (AsyncCrawlerProcess) into one raw source folder.

Layout of the output folder (docs/FORMAT.md §1 plus the crawl's own state):

    OUT/records.jsonl          one raw record per stored image (merged, sorted by record_id)
    OUT/source.json            kind "web", spiders, start URLs, counts
    OUT/images/full/…          the images as served
    OUT/items/<spider>.jsonl   Scrapy's item feed (one entity page per line)
    OUT/.emmel-crawl/          job state (JOBDIR per spider), record parts, HTTP cache, log, stats
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from emmel import TOOL
from emmel.errors import EmmelError
from emmel.io import atomic_write_text, dumps, iter_jsonl_lines, write_json

STATE = ".emmel-crawl"
OUR_OUTPUTS = ("records.jsonl", "source.json", "items", "images", STATE)
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
    stats: dict[str, dict]  # spider -> Scrapy stats
    records: int
    interrupted: bool
    elapsed: float


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
    """Refuse to mix two crawls in one folder unless told to resume or overwrite."""
    out = opts.out
    if out.exists() and not out.is_dir():
        raise EmmelError("output exists and is not a folder", path=out)
    state = out / STATE
    if opts.resume:
        if not state.exists() and not opts.redis_url:
            raise EmmelError(f"nothing to resume (no {STATE} folder); run without --resume first", path=out)
        return
    if out.exists() and any(out.iterdir()):
        if not opts.overwrite:
            raise EmmelError("output folder is not empty (use --resume to continue a crawl, or --overwrite)", path=out)
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


def build_settings(opts: CrawlOptions, spider: str) -> dict:
    """The Scrapy settings (beyond ``crawlers.settings``) for one spider of this crawl. Pure."""
    out = opts.out.resolve()
    state = out / STATE
    s: dict = {
        "IMAGES_STORE": str(out),
        "EMMEL_PARTS_DIR": str(state / "parts"),
        "FEEDS": {str(out / "items" / f"{spider}.jsonl"): {"format": "jsonlines", "encoding": "utf8",
                                                           "overwrite": not opts.resume}},
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
    else:
        s["JOBDIR"] = str(state / "job" / spider)
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


def merge_parts(out: Path) -> int:
    """Merge every spider's record parts into ``records.jsonl``: sorted by record_id, the last
    copy of a record kept (a resumed crawl may write a record twice). Returns the count."""
    parts = sorted((out / STATE / "parts").glob("*.jsonl"))
    records: dict[str, dict] = {}
    for part in parts:
        for _, obj, problem in iter_jsonl_lines(part):
            if obj is not None and not problem and obj.get("record_id"):  # a line cut by a kill is skipped
                records[obj["record_id"]] = obj
    ordered = [records[k] for k in sorted(records, key=_natural)]
    atomic_write_text(out / "records.jsonl", "".join(dumps(r) + "\n" for r in ordered))
    return len(ordered)


def _natural(record_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in record_id.split(":"))


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
    prepare_out(opts)
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / STATE).mkdir(exist_ok=True)

    from scrapy.crawler import AsyncCrawlerProcess, Crawler

    from crawlers.progress import Progress

    log_file = opts.log_file if opts.log_file is not None else str(opts.out / STATE / "crawl.log")
    common = {"LOG_LEVEL": opts.log_level.upper()}
    if log_file != "-":
        common.update({"LOG_FILE": log_file, "LOG_FILE_APPEND": True})
    process = AsyncCrawlerProcess(project_settings(common))
    loader = spider_loader()
    progress = Progress(enabled=opts.progress, echo=echo)
    spiders, crawlers = {}, {}
    for name in opts.spiders:
        cls = loader.load(name)
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
        records = merge_parts(opts.out)
        write_source(opts.out, opts, spiders, records)
    stats = {name: _plain(c.stats.get_stats()) for name, c in crawlers.items()}
    write_json(opts.out / STATE / "stats.json", stats)
    interrupted = any(s.get("finish_reason") not in ("finished", None) for s in stats.values()) or not stats
    logging.getLogger(__name__).info("crawl done: %d records", records)
    return CrawlReport(stats=stats, records=records, interrupted=interrupted, elapsed=time.monotonic() - started)


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
    lines.append(f"{report.records} records in records.jsonl; {report.elapsed:.1f} s")
    return "\n".join(lines)


def errors_total(stats: dict) -> int:
    return sum(v for k, v in stats.items() if k.startswith("emmel/error/") and isinstance(v, int))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: emmel crawl")
