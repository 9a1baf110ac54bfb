"""Live progress of a crawl: pages, items, images, errors.

A tqdm bar on a terminal; elsewhere (logs, CI) one line every ``interval`` seconds.
"""

from __future__ import annotations

import sys
import time

from scrapy import signals
from scrapy.http.request import NO_CALLBACK


class Progress:
    def __init__(self, *, enabled: bool | None = None, interval: float = 5.0, echo=print):
        # None: a bar on a terminal, periodic lines elsewhere; False: silent; True: a bar.
        self.mode = "off" if enabled is False else "bar" if enabled or sys.stderr.isatty() else "lines"
        self.interval = interval
        self.echo = echo
        self.crawlers = []
        self.pages = 0
        self._last = 0.0
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(unit=" pages", desc="crawl", dynamic_ncols=True, file=sys.stderr)

    def watch(self, crawler) -> None:
        self.crawlers.append(crawler)
        crawler.signals.connect(self._response, signal=signals.response_received)
        crawler.signals.connect(self._update, signal=signals.item_scraped)
        crawler.signals.connect(self._update, signal=signals.item_dropped)

    def counts(self) -> dict[str, int]:
        total = {"pages": self.pages, "items": 0, "images": 0, "errors": 0}
        for crawler in self.crawlers:
            stats = crawler.stats.get_stats() if crawler.stats else {}
            total["items"] += stats.get("item_scraped_count", 0)
            total["images"] += stats.get("emmel/images/stored", 0)
            total["errors"] += sum(v for k, v in stats.items() if k.startswith("emmel/error/") and isinstance(v, int))
        return total

    def _response(self, response, request, spider=None, **kwargs) -> None:
        if request.callback is not NO_CALLBACK:  # pages, not images or robots.txt
            self.pages += 1
            if self.bar is not None:
                self.bar.update(1)
        self._update()

    def _update(self, *args, **kwargs) -> None:
        counts = self.counts()
        if self.bar is not None:
            self.bar.set_postfix(items=counts["items"], images=counts["images"], errors=counts["errors"], refresh=False)
            return
        if self.mode == "off":
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.echo("crawl: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            counts = self.counts()
            self.bar.set_postfix(items=counts["items"], images=counts["images"], errors=counts["errors"])
            self.bar.close()
        else:
            self._last = 0.0
            self._update()
