"""Guangdong provincial ICH pages: HTML list pages with a "next" link and HTML detail pages.

The live start URL and selectors below could not be checked from the offline development machine;
the bundled mirror (``data/mirror/guangdong``) uses exactly this layout. Correct them here.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from crawlers.records import split_batch
from crawlers.spiders.base import HeritageSpider, guarded


class GuangdongSpider(HeritageSpider):
    name = "guangdong"
    site_name = "广东省非物质文化遗产"
    license = "© 广东省非物质文化遗产保护中心 (www.gdsqyg.com); reproduced for research with attribution"
    allowed_domains = ["gdsqyg.com"]
    start_url = "https://www.gdsqyg.com/agdfyzg/ich/list.html"
    list_path = "ich/list.html"
    mirror_path = "guangdong/ich/list.html"

    # Selectors (correct them here when the site changes).
    LIST_LINKS_CSS = "ul.fy-list li a::attr(href)"
    NEXT_CSS = "div.page a.next::attr(href)"
    TITLE_CSS = "h1.fy-title"
    INFO_ROWS_CSS = "table.fy-info tr"
    DESCRIPTION_CSS = "div.fy-content p"
    IMAGES_CSS = "div.fy-gallery"
    CAPTION_XPATHS = ("following-sibling::p[contains(@class,'pic-title')][1]//text()",) + HeritageSpider.CAPTION_XPATHS
    INFO_FIELDS = {"项目类别": "category", "类别": "category", "申报地区": "region", "地区": "region",
                   "批次": "batch", "项目编号": "num", "编号": "num"}

    @guarded
    def parse_list(self, response, page: int):
        self.count("emmel/pages/list")
        links = response.css(self.LIST_LINKS_CSS).getall()
        if not links:
            self.count("emmel/error/empty_list")
            self.logger.warning("no entity links on list page %s", response.url)
        for href in links:
            yield self.detail_request(response.urljoin(href.strip()))
        nxt = response.css(self.NEXT_CSS).get()
        if nxt and self.may_follow(page + 1):
            yield self.list_request(response.urljoin(nxt.strip()), page=page + 1)

    @guarded
    def parse_detail(self, response):
        self.count("emmel/pages/detail")
        info = {}
        for row in response.css(self.INFO_ROWS_CSS):
            key = self.text_of(row.css("th")).strip("：: ")
            if key in self.INFO_FIELDS:
                info[self.INFO_FIELDS[key]] = self.text_of(row.css("td"))
        year, batch = split_batch(info.get("batch", ""))
        yield self.make_item(
            response, entity_id=page_id(response.url), title=self.text_of(response.css(self.TITLE_CSS)),
            category=info.get("category", ""), region=info.get("region", ""), batch=batch, year=year,
            num=info.get("num", ""), description=self.text_of(response.css(self.DESCRIPTION_CSS)),
            images=self.images_in(response, self.IMAGES_CSS),
        )


def page_id(url: str) -> str:
    """Stable id of a detail page: its file name without extension (``…/detail/4401.html`` -> ``4401``)."""
    stem = PurePosixPath(urlsplit(url).path).stem
    return re.sub(r"[^0-9A-Za-z_.-]", "_", stem) or "index"
