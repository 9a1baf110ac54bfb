"""The national list on ihchina.cn: a JSON list endpoint plus one HTML detail page per item."""

from __future__ import annotations

import json
import re

from w3lib.url import add_or_replace_parameter

from crawlers.records import clean_text, split_batch
from crawlers.spiders.base import HeritageSpider, guarded

LIST_QUERY = "province=&rx_time=&type=&cate=&keywords=&category_id=16&limit=10&p=1"


class IhchinaSpider(HeritageSpider):
    name = "ihchina"
    site_name = "中国非物质文化遗产网·中国非物质文化遗产数字博物馆"
    license = "© 中国非物质文化遗产网 www.ihchina.cn; text and images reproduced for research with attribution"
    allowed_domains = ["ihchina.cn"]
    start_url = f"https://www.ihchina.cn/getProject.html?{LIST_QUERY}"
    list_path = f"getProject.html?{LIST_QUERY}"
    mirror_path = f"ihchina/getProject.html?{LIST_QUERY}"

    # Selectors (correct them here when the site changes).
    DETAIL_PATH = "project_details/{id}.html"  # relative to the list endpoint
    TITLE_CSS = "div.h30"
    DESCRIPTION_CSS = "div.inherit_xx1.article-mod2 div.text div.p"
    IMAGES_CSS = "div.inherit_xx1"
    PAGE_PARAM = "p"

    @guarded
    def parse_list(self, response, page: int):
        try:
            data = json.loads(response.text)
        except json.JSONDecodeError as exc:
            self.count("emmel/error/bad_json")
            self.logger.error("list page is not JSON (%s): %s", exc.msg, response.url)
            return
        records = data.get("list") if isinstance(data, dict) else None
        if not isinstance(records, list):
            self.count("emmel/error/bad_list")
            self.logger.error("list page without a 'list' array: %s", response.url)
            return
        self.count("emmel/pages/list")
        for record in records:
            if not isinstance(record, dict) or not str(record.get("id") or "").strip():
                self.count("emmel/field/missing/id")
                self.logger.warning("list record without id on %s", response.url)
                continue
            entity_id = str(record["id"]).strip()
            context = {key: clean_text(record.get(key)) for key in ("title", "type", "num", "province", "content")}
            context["rx_time"] = str(record.get("rx_time") or "")
            context["entity_id"] = entity_id
            yield self.detail_request(response.urljoin(self.DETAIL_PATH.format(id=entity_id)), record=context)
        if page == 1:
            total = _int((data.get("links") or {}).get("total_pages")) or 1
            for n in range(2, total + 1):
                if self.may_follow(n):
                    yield self.list_request(add_or_replace_parameter(response.url, self.PAGE_PARAM, str(n)), page=n)

    @guarded
    def parse_detail(self, response, record: dict):
        self.count("emmel/pages/detail")
        title = self.text_of(response.css(self.TITLE_CSS)) or record.get("title", "")
        description = self.text_of(response.css(self.DESCRIPTION_CSS).css("p")) or self.text_of(response.css(self.DESCRIPTION_CSS))
        if not description:
            description = record.get("content", "")
        year, batch = split_batch(record.get("rx_time", ""))
        yield self.make_item(
            response, entity_id=record["entity_id"], title=title, category=record.get("type", ""),
            region=record.get("province", "") or _declaring(description), batch=batch, year=year,
            num=record.get("num", ""), description=description, images=self.images_in(response, self.IMAGES_CSS),
        )


def _int(value) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _declaring(description: str) -> str:
    match = re.match(r"\s*申报地区或单位[：:]\s*(\S+)", description)
    return match.group(1) if match else ""
