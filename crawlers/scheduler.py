"""A Scrapy scheduler whose frontier survives a hard kill (``SCHEDULER`` for crawls without Redis).

Scrapy's own scheduler with its memory queues, plus the journal of ``crawlers.journal``: every new
request is journaled before it is queued, duplicates are filtered against the journal (it replaces
the dupefilter and ``JOBDIR``), a request is marked done once Scrapy has fully processed its
response, and on resume the requests the journal lists as not done are queued again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scrapy import signals
from scrapy.core.scheduler import Scheduler
from twisted.internet.task import LoopingCall

from crawlers.journal import KEY, Journal

logger = logging.getLogger(__name__)

COMMIT_EVERY = 1.0  # seconds between group commits of 'done' lines


class JournalScheduler(Scheduler):
    """Settings: ``EMMEL_JOURNAL`` (the journal file), ``EMMEL_PARTS_DIR`` (where the spider's parts
    file is, fsync'd before pages are marked done); ``JOBDIR`` must be unset and
    ``DUPEFILTER_CLASS`` should be ``scrapy.dupefilters.BaseDupeFilter`` (the journal filters)."""

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.get("JOBDIR"):
            raise ValueError("JournalScheduler keeps the job state itself: unset JOBDIR")
        if not crawler.settings.get("EMMEL_JOURNAL"):
            raise ValueError("JournalScheduler needs the EMMEL_JOURNAL setting (the journal file)")
        return super().from_crawler(crawler)

    def open(self, spider):
        result = super().open(spider)
        settings = self.crawler.settings
        parts = Path(settings["EMMEL_PARTS_DIR"]) / f"{spider.name}.jsonl" if settings.get("EMMEL_PARTS_DIR") else None
        self.journal = Journal(settings["EMMEL_JOURNAL"], spider, sync_first=[parts] if parts else [])
        if self.journal.log.cut:
            logger.warning("journal: dropped a line cut short by a kill (%d bytes)", self.journal.log.cut)
        self._watch_scraper()
        self._transit = None  # a journaled request announced by the engine, not yet enqueued
        self.crawler.signals.connect(self._announced, signal=signals.request_scheduled)
        replayed = 0
        for request in self.journal.pending_requests():
            super().enqueue_request(request)  # already journaled (BaseDupeFilter lets it through)
            replayed += 1
        if replayed:
            self.stats.set_value("emmel/journal/replayed", replayed)
            logger.info("resuming: %d requests scheduled before and not done are queued again", replayed)
        self._committer = LoopingCall(self.journal.commit)
        self._committer.start(COMMIT_EVERY, now=False)
        return result

    def close(self, reason):
        if getattr(self, "_committer", None) is not None and self._committer.running:
            self._committer.stop()
        self._settle_transit()
        self.crawler.signals.disconnect(self._announced, signal=signals.request_scheduled)
        self.journal.close()
        return super().close(reason)

    def enqueue_request(self, request) -> bool:
        if self._transit is request:
            self._transit = None
        self._settle_transit()
        fp = self.crawler.request_fingerprinter.fingerprint(request).hex()
        key = request.meta.get(KEY)
        if not request.dont_filter and self.journal.has_seen(fp):
            self.stats.inc_value("dupefilter/filtered")
            if key is not None:  # a redirect to a page scheduled before (or a loop): that request does the work
                self.stats.inc_value("emmel/skipped/redirect_to_seen")
                logger.info("skipped (redirect to a page already scheduled): %s", request.url)
                self.journal.finish(key)
            return False
        if key is None:
            try:
                self.journal.schedule(request, fp)
            except (TypeError, ValueError) as exc:  # meta or cb_kwargs that are not JSON
                self.stats.inc_value("emmel/error/journal/unserializable")
                logger.error("request not journaled (not JSON: %s), a kill would lose it: %s", exc, request)
        else:
            self.journal.alias(fp, key)
        return super().enqueue_request(request)

    def next_request(self):
        self._settle_transit()
        return super().next_request()

    def has_pending_requests(self) -> bool:
        self._settle_transit()
        return super().has_pending_requests()

    def _announced(self, request, spider=None) -> None:
        """``request_scheduled``: the engine offers a request; a handler of this signal may still drop
        it (Scrapy's OffsiteMiddleware drops a redirect to another host so), and then the engine
        does not call :meth:`enqueue_request` and sends no other signal."""
        self._settle_transit()
        if request.meta.get(KEY) is not None:
            self._transit = request

    def _settle_transit(self) -> None:
        """The engine offers and enqueues in one synchronous call: a journaled request still in
        transit at the scheduler's next call was dropped, and nothing more will come of it."""
        if self._transit is not None:
            self.stats.inc_value("emmel/journal/dropped_on_schedule")
            self.journal.finish(self._transit.meta[KEY])
            self._transit = None

    def _watch_scraper(self) -> None:
        """Mark a request done when Scrapy has processed its response or failure.

        ``Scraper.enqueue_scrape`` returns a Deferred that fires once the callback (or errback) has
        run, every request it yielded is scheduled and every item it yielded has been through all
        item pipelines. Scrapy has no public signal for that moment, so its result is watched here.
        """
        scraper = getattr(self.crawler.engine, "scraper", None)
        enqueue = getattr(scraper, "enqueue_scrape", None)
        if enqueue is None:  # pragma: no cover (a Scrapy without it: fail loudly, not silently)
            raise RuntimeError("this Scrapy has no Scraper.enqueue_scrape; the crawl journal cannot track pages")

        def enqueue_scrape(result, request, *args, **kwargs):
            deferred = enqueue(result, request, *args, **kwargs)
            deferred.addBoth(self._processed, request)
            return deferred

        scraper.enqueue_scrape = enqueue_scrape

    def _processed(self, result, request):
        key = request.meta.get(KEY)
        if key is not None:
            self.journal.finish(key)
        return result
