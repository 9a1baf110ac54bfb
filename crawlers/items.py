"""The item every spider yields: one heritage entity page with its images."""

import scrapy


class HeritageItem(scrapy.Item):
    spider = scrapy.Field()  # spider name, e.g. "ihchina"
    entity_id = scrapy.Field()  # the site's id of the entity page (stable across crawls)
    title = scrapy.Field()
    category = scrapy.Field()
    region = scrapy.Field()  # declaring region or unit
    ethnic_group = scrapy.Field()  # ethnic group named in the title or region, "" when none
    batch = scrapy.Field()  # e.g. "第一批"
    year = scrapy.Field()  # e.g. "2006"
    num = scrapy.Field()  # item number on the list, e.g. "Ⅶ-16"
    description = scrapy.Field()
    url = scrapy.Field()  # page URL
    crawled_at = scrapy.Field()  # UTC ISO time the page was parsed
    image_urls = scrapy.Field()  # absolute URLs, page order (ImagesPipeline input)
    image_meta = scrapy.Field()  # [{"url", "caption", "alt"}] parallel to image_urls
    images = scrapy.Field()  # ImagesPipeline results: [{"url", "path", "checksum", "width", "height", "status"}]
    problems = scrapy.Field()  # field-level problems noticed while parsing, e.g. ["missing:category"]
