"""Downloader middlewares: retry with backoff, and GBK pages that do not declare their charset."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet.task import deferLater

logger = logging.getLogger(__name__)


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor  # imported late: the crawler process installs the reactor

    await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


def backoff_delay(retry_number: int, base: float, cap: float, retry_after: str | None = None) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based): ``Retry-After`` when given, else
    ``base * 2**(n-1)``; never more than ``cap``."""
    if retry_after:
        value = retry_after.strip()
        try:
            return max(0.0, min(cap, float(value)))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return max(0.0, min(cap, (when - datetime.now(UTC)).total_seconds()))
            except (TypeError, ValueError):
                pass
    return max(0.0, min(cap, base * (2 ** (retry_number - 1))))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry, but waiting before each retry and slowing the whole domain down.

    A 429 or 5xx means the server is overloaded: besides waiting ``backoff_delay`` before the
    retry, the download slot's delay is raised to it, so other requests to that site slow down too
    (AutoThrottle lowers it again as responses come back healthy).
    """

    def __init__(self, settings):
        super().__init__(settings)
        self.base = settings.getfloat("EMMEL_BACKOFF_BASE", 2.0)
        self.cap = settings.getfloat("EMMEL_BACKOFF_MAX", 120.0)

    async def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry_number = request.meta.get("retry_times", 0) + 1
        new_request = self._retry(request, response_status_message(response.status))
        if new_request is None:
            return response
        retry_after = response.headers.get(b"Retry-After")
        delay = backoff_delay(retry_number, self.base, self.cap, retry_after.decode("latin-1") if retry_after else None)
        self.crawler.stats.inc_value(f"emmel/backoff/{response.status}")
        self._slow_down(request, delay)
        if delay > 0:
            logger.info("HTTP %s on %s: retry %d in %.1f s", response.status, request.url, retry_number, delay)
            await _sleep(delay)
        return new_request

    async def process_exception(self, request, exception, spider=None):
        if not isinstance(exception, self.exceptions_to_retry) or request.meta.get("dont_retry", False):
            return None
        retry_number = request.meta.get("retry_times", 0) + 1
        new_request = self._retry(request, exception)
        if new_request is None:
            return None
        delay = backoff_delay(retry_number, self.base, self.cap)
        self._slow_down(request, delay)
        if delay > 0:
            await _sleep(delay)
        return new_request

    def _slow_down(self, request, delay: float) -> None:
        downloader = getattr(self.crawler.engine, "downloader", None)
        key = request.meta.get("download_slot")
        slot = downloader.slots.get(key) if downloader is not None and key else None
        if slot is not None and delay > slot.delay:
            slot.delay = delay


class EncodingFallbackMiddleware:
    """Decode undeclared GBK/GB2312 pages as GB18030 instead of guessing cp1252.

    Scrapy honours a charset in the HTTP header or ``<meta>``; when a page declares none and its
    bytes are not UTF-8 but are valid GB18030 (a superset of GBK and GB2312), re-wrap the response
    with that encoding.
    """

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls()
        mw.stats = crawler.stats
        return mw

    def process_response(self, request, response, spider=None):
        if not isinstance(response, TextResponse) or not response.body:
            return response
        if response._declared_encoding():  # header, BOM or <meta>
            return response
        body = response.body
        try:
            body.decode("utf-8")
            return response
        except UnicodeDecodeError:
            pass
        try:
            body.decode("gb18030")
        except UnicodeDecodeError:
            return response
        self.stats.inc_value("emmel/encoding/gb18030_fallback")
        cls = HtmlResponse if isinstance(response, HtmlResponse) else TextResponse
        return response.replace(cls=cls, encoding="gb18030")
