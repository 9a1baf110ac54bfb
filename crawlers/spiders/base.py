"""What the three site spiders share: start URL / mirror handling, page limits, error counting,
image + caption extraction and item assembly."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError

from crawlers.items import HeritageItem


def guarded(callback):
    """Run a parse callback so that an unexpected page layout is logged and counted, never fatal."""

    @functools.wraps(callback)
    def wrapper(self, response, **kwargs):
        try:
            yield from callback(self, response, **kwargs)
        except Exception as exc:  # noqa: BLE001 (one bad page must not end the crawl)
            self.count(f"emmel/error/parse/{type(exc).__name__}")
            self.logger.error("could not parse %s: %s: %s", response.url, type(exc).__name__, exc)

    return wrapper


class HeritageSpider(scrapy.Spider):
    """Base class. Subclasses set the class attributes below and write ``parse_list`` /
    ``parse_detail``; their selectors are class constants so they are easy to correct."""

    site_name = ""
    license = ""
    start_url = ""  # the live site's first list page
    mirror_path = ""  # first list page relative to a mirror root (``--mirror``)
    list_path = ""  # first list page relative to a site root URL ending in "/"
    CAPTION_XPATHS: tuple[str, ...] = (
        "ancestor::figure[1]/figcaption//text()",
        "following-sibling::*[1][contains(@class,'title') or contains(@class,'caption')]//text()",
        "ancestor::p[1]/following-sibling::*[1][contains(@class,'title') or contains(@class,'caption')]//text()",
    )

    def __init__(self, *args, start_url: str | None = None, mirror: str | None = None,
                 max_pages: int | str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if mirror and not start_url:
            start_url = urljoin(mirror if mirror.endswith("/") else mirror + "/", self.mirror_path)
        if start_url:
            if urlsplit(start_url).path in ("", "/") or start_url.endswith("/"):
                start_url = urljoin(start_url if start_url.endswith("/") else start_url + "/", self.list_path)
            self.start_url = start_url
            # A pointed-at site (a mirror) is the only allowed domain: redirects elsewhere are dropped.
            self.allowed_domains = [urlsplit(start_url).hostname]
        self.max_pages = int(max_pages) if max_pages not in (None, "", 0, "0") else None

    # ------------------------------------------------------------------ requests
    async def start(self):
        yield self.list_request(self.start_url, page=1)

    def list_request(self, url: str, page: int) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_list, errback=self.on_error, cb_kwargs={"page": page},
                              meta={"emmel_kind": "list"})

    def detail_request(self, url: str, **context) -> scrapy.Request:
        # Detail pages first: items (and their images) flow while list pages are still queued.
        return scrapy.Request(url, callback=self.parse_detail, errback=self.on_error, cb_kwargs=context,
                              priority=10, meta={"emmel_kind": "detail"})

    def may_follow(self, page: int) -> bool:
        return self.max_pages is None or page <= self.max_pages

    # ------------------------------------------------------------------ accounting
    def count(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(key, n)

    def on_error(self, failure):
        request = failure.request
        if failure.check(HttpError):  # (a subclass of IgnoreRequest: test it first)
            status = failure.value.response.status
            self.count(f"emmel/error/http/{status}")
            self.logger.warning("HTTP %s on %s", status, request.url)
            return
        if failure.check(IgnoreRequest):
            text = str(failure.value)
            reason = "robots" if "robots" in text else "offsite" if "offsite" in text.lower() else "ignored"
            self.count(f"emmel/skipped/{reason}")
            self.logger.info("skipped (%s): %s", reason, request.url)
            return
        self.count(f"emmel/error/download/{failure.type.__name__}")
        self.logger.warning("download failed: %s: %s", request.url, failure.getErrorMessage())

    # ------------------------------------------------------------------ extraction helpers
    def images_in(self, response, scope_css: str) -> list[dict]:
        """Every ``<img>`` inside ``scope_css`` as ``{"url", "caption", "alt"}``, page order."""
        scope = response.css(scope_css) or response.css("body")
        out = []
        for img in scope.css("img"):
            src = (img.attrib.get("src") or img.attrib.get("data-src") or img.attrib.get("data-original") or "").strip()
            if not src or src.startswith("data:"):
                continue
            url = response.urljoin(src)
            if urlsplit(url).scheme not in ("http", "https"):
                continue
            caption = ""
            for xpath in self.CAPTION_XPATHS:
                caption = " ".join(t.strip() for t in img.xpath(xpath).getall() if t.strip())
                if caption:
                    break
            alt = img.attrib.get("alt") or img.attrib.get("title") or ""
            out.append({"url": url, "caption": caption, "alt": alt})
        return out

    @staticmethod
    def text_of(selection) -> str:
        """Paragraph texts of a selection, one per line."""
        parts = []
        for node in selection:
            text = " ".join(t.strip() for t in node.xpath(".//text()").getall() if t.strip())
            if text:
                parts.append(text)
        return "\n".join(parts)

    def make_item(self, response, *, entity_id: str, title: str, category: str = "", region: str = "",
                  batch: str = "", year: str = "", num: str = "", description: str = "",
                  images: list[dict] | None = None, ethnic_group: str = "", problems: list[str] | None = None) -> HeritageItem:
        images = images or []
        return HeritageItem(
            spider=self.name, entity_id=str(entity_id), title=title, category=category, region=region,
            ethnic_group=ethnic_group, batch=batch, year=year, num=num, description=description,
            url=response.url, crawled_at=datetime.now(UTC).isoformat(timespec="seconds"),
            image_urls=[m["url"] for m in images], image_meta=images, images=[], problems=problems or [],
        )
