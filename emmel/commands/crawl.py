"""`emmel crawl`: run the Scrapy spiders (ihchina, guangdong, guizhou) into a raw source folder."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from emmel.errors import EmmelError


def add_arguments(parser) -> None:
    parser.add_argument("spiders", nargs="*", metavar="SPIDER", help="spiders to run (default: all; --list shows them)")
    parser.add_argument("--out", required=False, help="output folder: a raw source folder (records.jsonl, images/)")
    parser.add_argument("--start-url", action="append", default=[], metavar="[SPIDER=]URL",
                        help="first list page (or site root ending in /) of a spider, e.g. a mirror; repeatable")
    parser.add_argument("--mirror", metavar="URL", help="root URL of a local mirror serving all three sites (python -m crawlers.mirror_server)")
    parser.add_argument("--max-pages", type=int, metavar="N", help="follow at most N list pages per spider (all their detail pages are crawled)")
    parser.add_argument("--cache", action="store_true", help="HTTP cache under OUT/.emmel-crawl/httpcache (re-runs fetch nothing twice)")
    parser.add_argument("--resume", action="store_true", help="continue a crawl in OUT that was stopped or killed (docs/crawl.md#resume)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous crawl's outputs in OUT")
    parser.add_argument("--redis", metavar="URL", help="Redis-backed scheduler + dupefilter (scrapy-redis) for several workers; "
                        "or set EMMEL_REDIS_URL (use the variable for URLs with a password)")
    parser.add_argument("--no-throttle", action="store_true", help="no AutoThrottle, no delay, 16 requests per site (local mirrors and benchmarks only)")
    parser.add_argument("--delay", type=float, metavar="SECONDS", help="delay between requests to one site (default 1.0, randomised 0.5-1.5x)")
    parser.add_argument("--concurrency", type=int, metavar="N", help="requests in flight per site (default 1)")
    parser.add_argument("--backoff", type=float, metavar="SECONDS", help="wait before the first retry of a 429/5xx (default 2, doubles each retry)")
    parser.add_argument("--min-image-size", type=int, default=0, metavar="PX",
                        help="skip images whose width or height is below PX (default 0: keep, the build decides)")
    parser.add_argument("--ignore-robots", action="store_true", help="do not obey robots.txt (only for your own mirror)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any Scrapy setting, e.g. --set DOWNLOAD_TIMEOUT=30")
    parser.add_argument("--log-level", default="INFO", help="Scrapy log level (default INFO)")
    parser.add_argument("--log-file", help="log file (default OUT/.emmel-crawl/crawl.log; '-' for stderr)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--list", action="store_true", help="list the spiders and their start URLs, then exit")


def _start_urls(values: list[str], spiders: list[str], known: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if sep and name in known:
            urls[name] = url
        elif len(spiders) == 1:
            urls[spiders[0]] = value
        else:
            raise EmmelError(f"--start-url {value!r}: with several spiders write SPIDER=URL (e.g. ihchina=http://...)")
    return urls


def _settings(values: list[str]) -> dict[str, object]:
    import json

    out: dict[str, object] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise EmmelError(f"--set {value!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


def run(args) -> int:
    from crawlers.runner import CrawlOptions, errors_total, run_crawl, spider_loader, summary, verdict

    loader = spider_loader()
    if args.list:
        for name in loader.list():
            cls = loader.load(name)
            print(f"{name:10s} {cls.site_name}  {cls.start_url}")
        return 0
    if not args.out:
        raise EmmelError("--out is required")
    spiders = list(dict.fromkeys(args.spiders)) or loader.list()
    redis_url = args.redis
    if redis_url and urlsplit(redis_url).password:
        raise EmmelError("put a redis URL with a password in the EMMEL_REDIS_URL variable, not on the command line")
    opts = CrawlOptions(
        out=Path(args.out), spiders=spiders, start_urls=_start_urls(args.start_url, spiders, loader.list()), mirror=args.mirror,
        max_pages=args.max_pages, cache=args.cache, resume=args.resume, overwrite=args.overwrite,
        redis_url=redis_url or None, throttle=not args.no_throttle,
        delay=args.delay, concurrency=args.concurrency, backoff=args.backoff, min_image_size=args.min_image_size,
        obey_robots=not args.ignore_robots, log_level=args.log_level, log_file=args.log_file,
        extra=_settings(args.set), progress=False if args.no_progress else None,
    )
    report = run_crawl(opts, echo=lambda *a, **k: print(*a, file=sys.stderr, **k))
    if not report.stats and report.already_complete:
        print(f"nothing to resume: the crawl in {opts.out} is complete ({', '.join(report.already_complete)}; "
              f"{report.records} records in records.jsonl)")
        return 0
    print(summary(report))
    errors = sum(errors_total(s) for s in report.stats.values())
    print(f"raw source: {opts.out} ({report.records} records, {errors} errors; log: "
          f"{opts.log_file or Path(opts.out) / '.emmel-crawl' / 'crawl.log'})")
    code, message = verdict(report)
    if message:
        print(message, file=sys.stderr)
    return code
