"""Guizhou provincial ICH pages (TRS-style CMS, GBK-encoded): list pages ``index.html``,
``index_1.html``, … and detail pages ``t<date>_<id>.html``.

The live start URL and selectors below could not be checked from the offline development machine;
the bundled mirror (``data/mirror/guizhou``) uses exactly this layout. Correct them here.
"""

from __future__ import annotations

import re

from crawlers.records import split_batch
from crawlers.spiders.base import HeritageSpider, guarded
from crawlers.spiders.guangdong import page_id


class GuizhouSpider(HeritageSpider):
    name = "guizhou"
    site_name = "贵州省非物质文化遗产"
    license = "© 贵州省非物质文化遗产保护中心 (www.gzfwz.org.cn); reproduced for research with attribution"
    allowed_domains = ["gzfwz.org.cn"]
    start_url = "http://www.gzfwz.org.cn/fwzml/index.html"
    list_path = "fwzml/index.html"
    mirror_path = "guizhou/fwzml/index.html"

    # Selectors (correct them here when the site changes).
    LIST_LINKS_CSS = "table.ml-table td.mc a::attr(href)"
    NEXT_CSS = "div.page a.next::attr(href)"
    TITLE_CSS = "div.xl_title h2"
    INFO_CSS = "div.xl_info"
    BODY_CSS = "div.TRS_Editor"
    CAPTION_XPATHS = (
        "ancestor::p[1]/following-sibling::*[1][contains(@class,'pic_title')]//text()",
    ) + HeritageSpider.CAPTION_XPATHS
    INFO_FIELDS = {"类别": "category", "地区": "region", "民族": "ethnic_group", "批次": "batch", "编号": "num"}

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
        info = parse_info(self.text_of(response.css(self.INFO_CSS)), self.INFO_FIELDS)
        body = response.css(self.BODY_CSS)
        paragraphs = body.xpath("./p[not(.//img) and not(contains(@class,'pic_title'))]")
        year, batch = split_batch(info.get("batch", ""))
        ethnic = info.get("ethnic_group", "")
        yield self.make_item(
            response, entity_id=page_id(response.url), title=self.text_of(response.css(self.TITLE_CSS)),
            category=info.get("category", ""), region=info.get("region", ""), batch=batch, year=year,
            num=info.get("num", ""), description=self.text_of(paragraphs),
            images=self.images_in(response, self.BODY_CSS),
            ethnic_group=ethnic if ethnic and ethnic not in ("—", "-", "无") else "",
        )


def parse_info(text: str, fields: dict[str, str]) -> dict[str, str]:
    """``"类别：传统技艺　地区：贵州省雷山县"`` -> ``{"category": "传统技艺", "region": "贵州省雷山县"}``."""
    out = {}
    for key, value in re.findall(r"(\S+?)[：:]\s*([^\s　]+)", text):
        if key in fields and fields[key] not in out:
            out[fields[key]] = value
    return out
