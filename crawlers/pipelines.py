"""Item pipelines: clean and check fields, store images, write raw records.

Problems never stop a crawl: each is logged once with the page URL and counted in the stats under
``emmel/…`` (shown in the summary).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FSFilesStore
from scrapy.pipelines.images import ImageException, ImagesPipeline
from scrapy.utils.python import to_bytes

from crawlers.ethnic import ethnic_group
from crawlers.journal import JsonLines
from crawlers.records import clean_text, item_to_records
from emmel.images import ImageLimits, ImageProblem, read_header, read_image_file
from emmel.io import atomic_write_bytes, sha256_file
from emmel.sources.raw import RawRecord

logger = logging.getLogger(__name__)

OPTIONAL_FIELDS = ("category", "region", "batch", "description")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}


class CleanItemPipeline:
    """Normalise text fields; drop an item without a title; count every missing field."""

    def __init__(self, crawler):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        for name in ("title", "category", "region", "batch", "year", "num", "entity_id"):
            adapter[name] = clean_text(adapter.get(name)).replace("\n", " ")
        adapter["description"] = clean_text(adapter.get("description"))
        problems = list(adapter.get("problems") or [])
        if not adapter["title"]:
            self.stats.inc_value("emmel/dropped/missing_title")
            logger.warning("dropped item without a title: %s", adapter.get("url"))
            raise DropItem(f"no title on {adapter.get('url')}")
        if not adapter.get("ethnic_group"):
            adapter["ethnic_group"] = ethnic_group(adapter["title"], adapter["region"])
        for name in OPTIONAL_FIELDS:
            if not adapter.get(name):
                problems.append(f"missing:{name}")
        for problem in problems:
            self.stats.inc_value(f"emmel/field/{problem.replace(':', '/')}")
        if problems:
            logger.warning("%s: %s", adapter.get("url"), ", ".join(sorted(set(problems))))
        metas = []
        for meta in adapter.get("image_meta") or []:
            metas.append({"url": meta["url"], "caption": clean_text(meta.get("caption")).replace("\n", " "),
                          "alt": clean_text(meta.get("alt")).replace("\n", " ")})
        # The same picture twice on a page gives one record (its first caption wins).
        seen, unique = set(), []
        for meta in metas:
            if meta["url"] not in seen:
                seen.add(meta["url"])
                unique.append(meta)
        adapter["image_meta"] = unique
        adapter["image_urls"] = [m["url"] for m in unique]
        adapter["problems"] = sorted(set(problems))
        if not unique:
            self.stats.inc_value("emmel/items_without_images")
        return item


class HeritageImagesPipeline(ImagesPipeline):
    """Scrapy's ImagesPipeline, keeping the original bytes.

    The site's file is stored as served (no re-encoding) under ``images/full/<sha1(url)><ext>`` in
    the output folder, after a header-only check (``emmel.images.read_header``, the core's image
    rules with the crawl's own limits): it must open as an image, be at least the configured minimum
    size and at most ``EMMEL_IMAGE_MAX_PIXELS`` (decompression bombs) and ``EMMEL_IMAGE_MAX_BYTES``.
    Truncated files are kept: the build rejects them with a reason.
    ``checksum`` is the sha256 of the stored file.
    """

    def __init__(self, store_uri, download_func=None, *, crawler):
        super().__init__(store_uri, crawler=crawler)
        self.crawler = crawler
        self.limits = ImageLimits(max_bytes=crawler.settings.getint("EMMEL_IMAGE_MAX_BYTES"),
                                  max_pixels=crawler.settings.getint("EMMEL_IMAGE_MAX_PIXELS"))
        self._rejected: dict[str, str] = {}  # image URL -> why _check refused it

    def get_media_requests(self, item, info):
        return [Request(u, callback=NO_CALLBACK, meta={"download_maxsize": self.limits.max_bytes, "emmel_image": True})
                for u in ItemAdapter(item).get(self.images_urls_field) or []]

    def file_path(self, request, response=None, info=None, *, item=None):
        guid = hashlib.sha1(to_bytes(request.url)).hexdigest()  # noqa: S324 (a name, not security)
        suffix = Path(urlsplit(request.url).path).suffix.lower()
        return f"images/full/{guid}{suffix if suffix in IMAGE_SUFFIXES else '.jpg'}"

    def _check(self, body: bytes) -> tuple[int, int, str]:
        """The header check of ``emmel.images.read_header`` with the crawl's own limits (settings), then
        the minimum size; displayed width and height (EXIF orientation applied) and the format."""
        try:
            width, height, fmt = read_header(body, self.limits)
        except ImageProblem as exc:
            reason = "too_large" if exc.reason in ("decompression_bomb", "file_too_large") else exc.reason
            raise ImageException(f"{reason}: {exc.detail}") from None
        if width < self.min_width or height < self.min_height:
            raise ImageException(f"too_small: {width}x{height} < {self.min_width}x{self.min_height}")
        return width, height, fmt

    async def image_downloaded(self, response, request, info, *, item=None):
        try:
            self._check(response.body)
        except ImageException as exc:
            self._rejected[request.url] = str(exc).split(":", 1)[0]
            raise
        path = self.file_path(request, response=response, info=info, item=item)
        if isinstance(self.store, FSFilesStore):
            atomic_write_bytes(self.store._get_filesystem_path(path), response.body)  # a kill leaves no half file
        else:  # pragma: no cover (remote stores)
            self.store.persist_file(path, BytesIO(response.body), info,
                                    headers={"Content-Type": mimetypes.guess_type(path)[0] or "image/jpeg"})
        return hashlib.sha256(response.body).hexdigest()

    def item_completed(self, results, item, info):
        adapter = ItemAdapter(item)
        stored = []
        stats = self.crawler.stats
        for url, (ok, value) in zip(adapter.get(self.images_urls_field) or [], results):
            if not ok:
                # Our own check says why; otherwise the download itself failed (HTTP error, size limit,
                # offsite, robots.txt: details in the log).
                reason = self._rejected.get(url, "download_failed")
                stats.inc_value(f"emmel/error/image/{reason}")
                logger.warning("image not stored (%s): %s on %s", reason, url, adapter.get("url"))
                continue
            full = Path(self.store.basedir, value["path"]) if isinstance(self.store, FSFilesStore) else None
            entry = dict(value)
            if full is not None and full.exists():
                entry["checksum"] = sha256_file(full)  # "uptodate" results carry an md5 otherwise
                try:
                    entry["width"], entry["height"], _ = read_header(read_image_file(full, self.limits), self.limits)
                except ImageProblem:  # a stored file that no longer opens: the build decides
                    entry["width"] = entry["height"] = 0
            stats.inc_value("emmel/images/stored")
            stored.append(entry)
        adapter["images"] = stored
        return item


class RawRecordPipeline:
    """Append each item with its raw records to ``<out>/.emmel-crawl/parts/<spider>.jsonl``.

    One line per item, ``{"item": …, "records": […]}``, written with one ``write`` (a kill cannot
    split an item from its records). The runner rebuilds ``records.jsonl`` and
    ``items/<spider>.jsonl`` from the parts when the crawl ends (also after an interruption, and
    after a resume: a page fetched twice counts once).
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.parts = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None):
        spider = self.crawler.spider
        self.parts = JsonLines(Path(self.crawler.settings["EMMEL_PARTS_DIR"]) / f"{spider.name}.jsonl")
        self.license = spider.license

    def close_spider(self, spider=None):
        if self.parts:
            self.parts.close()

    def process_item(self, item, spider=None):
        stored = ItemAdapter(item).asdict()
        records, lost = item_to_records(stored, license=self.license)
        for record in records:
            RawRecord.from_dict(record)  # refuse to write what the build could not read
            self.stats.inc_value(f"emmel/text_from/{record['source']['text_from']}")
        self.parts.write([{"item": stored, "records": records}])
        self.stats.inc_value("emmel/records", len(records))
        if lost:
            self.stats.inc_value("emmel/images_without_record", len(lost))
        if not records:
            self.stats.inc_value("emmel/items_without_records")
        return item
