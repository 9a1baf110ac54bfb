"""The crawl's pure parts: text choice, excerpts, batch parsing, settings, merging, serializers,
backoff, the mirror server's routing, and the spiders' parsing of real response objects."""

from __future__ import annotations

import json

import pytest
from scrapy.http import HtmlResponse, Request, TextResponse

from crawlers import redis_json
from crawlers.ethnic import ethnic_group
from crawlers.middlewares import EncodingFallbackMiddleware, backoff_delay
from crawlers.mirror_server import file_key
from crawlers.records import choose_text, clean_text, excerpt, item_to_records, split_batch, usable_label
from crawlers.runner import CrawlOptions, CrawlReport, build_settings, merge_outputs, summary
from crawlers.spiders.guizhou import parse_info
from crawlers.spiders.ihchina import IhchinaSpider
from emmel.errors import EmmelError
from emmel.io import dumps


def test_clean_text_unescapes_ihchina_content_once_or_twice():
    escaped = "&lt;p&gt;申报地区或单位：河北省蔚县&lt;/p&gt;&lt;p&gt;蔚县剪纸&amp;nbsp;历史悠久。&lt;/p&gt;"
    assert clean_text(escaped) == "申报地区或单位：河北省蔚县\n蔚县剪纸 历史悠久。"
    assert clean_text(None) == "" and clean_text("  a\u3000 b  ") == "a b"


def test_excerpt_skips_the_declaring_line_and_cuts_at_a_clause():
    text = "申报地区或单位：河北省蔚县\n蔚县剪纸是流传于蔚县一带的传统美术项目，已有数百年的历史。其作品……"
    assert excerpt(text) == "蔚县剪纸是流传于蔚县一带的传统美术项目，已有数百年的历史"  # 28 chars: whole sentence
    longer = "蔚县剪纸是流传于河北省张家口市蔚县一带的传统美术项目，以阴刻为主，已有数百年的历史。"
    assert excerpt(longer) == "蔚县剪纸是流传于河北省张家口市蔚县一带的传统美术项目"  # cut at the last clause
    assert excerpt("短句。后面") == "短句"
    long = "一二三四五六七八九十" * 4
    assert excerpt(long) == long[:30]
    assert excerpt("") == "" and excerpt("申报地区或单位：某地") == ""


def test_choose_text_prefers_caption_then_alt_then_description():
    desc = "萨满舞是鄂温克族的传统舞蹈。"
    assert choose_text("萨满舞表演现场", "alt", desc, "萨满舞") == ("萨满舞表演现场", "caption")
    assert choose_text("", "鄂温克族萨满舞", desc, "萨满舞") == ("鄂温克族萨满舞", "alt")
    assert choose_text("", "萨满舞", desc, "萨满舞") == ("萨满舞是鄂温克族的传统舞蹈", "description")  # alt == title
    assert choose_text("", "IMG_0012.jpg", "", "萨满舞") == ("", "none")
    assert not usable_label("图片1", "x") and not usable_label(" ", "x") and usable_label("剪纸作品", "x")


def test_split_batch_and_info_lines():
    assert split_batch("2006</br>(第一批)") == ("2006", "第一批")
    assert split_batch("第三批（2011年）") == ("2011", "第三批")
    assert split_batch(None) == ("", "") and split_batch("未知") == ("", "")
    info = parse_info("类别：传统技艺　地区：贵州省雷山县　民族：苗族　批次：第一批（2006）",
                      {"类别": "category", "地区": "region", "民族": "ethnic_group", "批次": "batch"})
    assert info == {"category": "传统技艺", "region": "贵州省雷山县", "ethnic_group": "苗族", "batch": "第一批（2006）"}


def test_ethnic_group_finds_groups_and_stems():
    assert ethnic_group("鄂温克抢枢", "内蒙古自治区") == "鄂温克族"
    assert ethnic_group("苗族银饰锻制技艺", "贵州省雷山县") == "苗族"
    assert ethnic_group("剪纸（蔚县剪纸）", "河北省蔚县") == ""
    assert ethnic_group("侗戏", "广西壮族自治区三江侗族自治县") == "壮族"  # first named wins


def test_item_to_records_one_per_stored_image_in_page_order():
    item = {"spider": "ihchina", "entity_id": "13910", "title": "萨满舞（鄂温克族萨满舞）", "category": "传统舞蹈",
            "region": "内蒙古自治区鄂温克族自治旗", "description": "申报地区或单位：某地\n萨满舞历史悠久。", "url": "https://x/13910.html",
            "crawled_at": "2026-01-01T00:00:00+00:00", "batch": "第二批", "year": "2008", "num": "Ⅲ-1",
            "image_meta": [{"url": "https://x/a.jpg", "caption": "萨满舞表演", "alt": ""},
                           {"url": "https://x/b.jpg", "caption": "", "alt": ""},
                           {"url": "https://x/c.jpg", "caption": "", "alt": "鄂温克族萨满舞"}],
            "images": [{"url": "https://x/c.jpg", "path": "images/full/c.jpg", "checksum": "cc"},
                       {"url": "https://x/a.jpg", "path": "images/full/a.jpg", "checksum": "aa"}]}
    records, lost = item_to_records(item, license="L")
    assert [r["record_id"] for r in records] == ["ihchina:13910:0", "ihchina:13910:2"]
    assert lost == ["https://x/b.jpg"]
    assert records[0]["text"] == "萨满舞表演" and records[1]["source"]["text_from"] == "alt"
    assert records[1]["image"] == "images/full/c.jpg" and records[1]["source"]["checksum"] == "cc"
    assert records[0]["license"] == "L" and records[0]["source"]["kind"] == "web"


def test_backoff_delay_doubles_caps_and_honours_retry_after():
    assert [backoff_delay(n, 2.0, 60) for n in (1, 2, 3, 6, 7)] == [2.0, 4.0, 8.0, 60, 60]
    assert backoff_delay(1, 2.0, 60, "5") == 5.0
    assert backoff_delay(1, 2.0, 60, "3600") == 60
    assert backoff_delay(3, 1.0, 60, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert backoff_delay(2, 1.0, 60, "soon") == 2.0  # unparsable: plain backoff


def test_undeclared_gbk_page_is_decoded_as_gb18030():
    class Stats:
        def __init__(self):
            self.values = {}

        def inc_value(self, key, n=1):
            self.values[key] = self.values.get(key, 0) + n

    mw = EncodingFallbackMiddleware()
    mw.stats = Stats()
    body = "<html><body><h1>苗族银饰锻制技艺</h1></body></html>".encode("gbk")
    response = HtmlResponse("http://127.0.0.1/a.html", body=body, headers={"Content-Type": "text/html"})
    fixed = mw.process_response(Request(response.url), response)
    assert fixed.css("h1::text").get() == "苗族银饰锻制技艺" and mw.stats.values == {"emmel/encoding/gb18030_fallback": 1}
    declared = HtmlResponse("http://127.0.0.1/b.html", body=b'<meta charset="gb2312">' + body,
                            headers={"Content-Type": "text/html"})
    assert mw.process_response(Request(declared.url), declared) is declared  # Scrapy handles declared pages
    utf8 = HtmlResponse("http://127.0.0.1/c.html", body="<h1>侗族大歌</h1>".encode(), headers={"Content-Type": "text/html"})
    assert mw.process_response(Request(utf8.url), utf8) is utf8


def test_build_settings_is_polite_by_default_and_switches_to_redis(tmp_path):
    base = build_settings(CrawlOptions(out=tmp_path / "o"), "ihchina")
    assert base["ROBOTSTXT_OBEY"] is True and "JOBDIR" not in base  # the journal replaces Scrapy's JOBDIR
    assert base["SCHEDULER"] == "crawlers.scheduler.JournalScheduler"
    assert base["EMMEL_JOURNAL"].endswith(".emmel-crawl/job/ihchina.jsonl")
    assert "AUTOTHROTTLE_ENABLED" not in base and "DOWNLOAD_DELAY" not in base  # crawlers.settings decide
    assert base["IMAGES_STORE"] == str((tmp_path / "o").resolve())
    fast = build_settings(CrawlOptions(out=tmp_path / "o", throttle=False, cache=True), "guizhou")
    assert fast["AUTOTHROTTLE_ENABLED"] is False and fast["DOWNLOAD_DELAY"] == 0.0 and fast["HTTPCACHE_ENABLED"] is True
    redis = build_settings(CrawlOptions(out=tmp_path / "o", redis_url="redis://127.0.0.1:1/0", resume=True), "ihchina")
    assert redis["SCHEDULER"] == "scrapy_redis.scheduler.Scheduler" and "EMMEL_JOURNAL" not in redis
    assert redis["DUPEFILTER_CLASS"] == "scrapy_redis.dupefilter.RFPDupeFilter"
    assert redis["SCHEDULER_FLUSH_ON_START"] is False and redis["SCHEDULER_SERIALIZER"] == "crawlers.redis_json"
    import crawlers.settings as defaults

    assert defaults.CONCURRENT_REQUESTS_PER_DOMAIN == 1 and defaults.AUTOTHROTTLE_ENABLED and 429 in defaults.RETRY_HTTP_CODES
    assert defaults.TELNETCONSOLE_ENABLED is False


def test_redis_json_round_trips_a_request_dict():
    spider = IhchinaSpider()
    request = spider.detail_request("http://127.0.0.1:1/ihchina/project_details/1.html", record={"title": "侗族大歌"})
    data = request.to_dict(spider=spider)
    text = redis_json.dumps(data)
    assert "pickle" not in text and json.loads(text)
    back = redis_json.loads(text.encode())
    assert back == {k: v for k, v in data.items()} or back["url"] == data["url"]
    from scrapy.utils.request import request_from_dict

    again = request_from_dict(back, spider=spider)
    assert again.url == request.url and again.cb_kwargs == {"record": {"title": "侗族大歌"}}
    assert again.callback == spider.parse_detail and again.priority == 10


def test_merge_outputs_keeps_one_copy_per_page_sorted_and_skips_a_cut_line(tmp_path):
    parts = tmp_path / ".emmel-crawl" / "parts"
    parts.mkdir(parents=True)
    rec = lambda rid, text: {"record_id": rid, "title": "t", "text": text, "image": "images/full/a.jpg"}  # noqa: E731
    line = lambda eid, url, *records: dumps({"item": {"entity_id": eid, "url": url}, "records": list(records)}) + "\n"  # noqa: E731
    (parts / "ihchina.jsonl").write_text(
        line("10", "http://x/10.html", rec("ihchina:10:0", "old"), rec("ihchina:10:1", "old"))
        + line("9", "http://x/9.html", rec("ihchina:9:1", "b"))
        + line("10", "http://x/10.html", rec("ihchina:10:0", "new"))  # the page fetched again after a kill
        + '{"item": {"entity_id": "11", "url": "http://x/11.html"}, "rec', encoding="utf-8")  # cut by a kill
    (parts / "guizhou.jsonl").write_text(line("t1", "http://y/t1.html", rec("guizhou:t1:0", "g")), encoding="utf-8")
    assert merge_outputs(tmp_path) == 3
    lines = [json.loads(x) for x in (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["record_id"] for r in lines] == ["guizhou:t1:0", "ihchina:9:1", "ihchina:10:0"]
    assert lines[2]["text"] == "new"  # the last copy of a page, with its own records only
    items = [json.loads(x) for x in (tmp_path / "items" / "ihchina.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [i["entity_id"] for i in items] == ["9", "10"]
    stamp = (tmp_path / "records.jsonl").stat().st_mtime_ns
    assert merge_outputs(tmp_path) == 3 and (tmp_path / "records.jsonl").stat().st_mtime_ns == stamp  # unchanged: untouched
    with (parts / "guizhou.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("garbage\n" + line("t2", "http://y/t2.html"))
    with pytest.raises(EmmelError, match=r"guizhou.jsonl:line 2: "):
        merge_outputs(tmp_path)


def test_summary_lists_main_counters_and_problems():
    report = CrawlReport(stats={"ihchina": {"finish_reason": "finished", "item_scraped_count": 3, "emmel/records": 7,
                                            "emmel/error/image/not_an_image": 1}}, records=7, interrupted=False, elapsed=1.0)
    text = summary(report)
    assert "items" in text and "error/image/not_an_image" in text and "7 records in records.jsonl" in text


def test_file_key_maps_query_urls_to_mirror_files():
    assert file_key("/ihchina/getProject.html?province=&rx_time=&type=&cate=&keywords=&category_id=16&limit=10&p=2") == \
        "ihchina/getProject.html@category_id=16&limit=10&p=2"
    assert file_key("/") == "index.html" and file_key("/a/b/") == "a/b/index.html"
    assert file_key("/%E5%89%AA%E7%BA%B8.html") == "剪纸.html"


def test_ihchina_spider_parses_a_list_and_a_detail_page():
    spider = IhchinaSpider(start_url="http://127.0.0.1:8/ihchina/")
    assert spider.start_url.startswith("http://127.0.0.1:8/ihchina/getProject.html?") and spider.allowed_domains == ["127.0.0.1"]
    payload = {"total": 21, "links": {"total_pages": 3}, "list": [
        {"id": 13910, "num": "Ⅲ-9", "title": "萨满舞（鄂温克族萨满舞）", "type": "传统舞蹈", "rx_time": "2008</br>(第二批)",
         "province": "内蒙古自治区鄂温克族自治旗", "content": "&lt;p&gt;申报地区或单位：内蒙古自治区鄂温克族自治旗&lt;/p&gt;"},
        {"title": "no id"}]}
    response = TextResponse(spider.start_url, body=json.dumps(payload).encode(), encoding="utf-8",
                            request=Request(spider.start_url))

    class Stats(dict):
        def inc_value(self, key, n=1, spider=None):
            self[key] = self.get(key, 0) + n

    class FakeCrawler:  # only stats are read by the spider's counters
        stats = Stats()

    spider.crawler = FakeCrawler()
    out = list(spider.parse_list(response, page=1))
    assert [r.url.rsplit("/", 1)[1] for r in out[:1]] == ["13910.html"]
    assert [r.url.rsplit("p=", 1)[1] for r in out[1:]] == ["2", "3"]
    assert FakeCrawler.stats["emmel/field/missing/id"] == 1
    page = ('<div class="inherit_xx1 article-mod2"><div class="h30">萨满舞（鄂温克族萨满舞）</div>'
            '<div class="text"><div class="p"><p>申报地区或单位：内蒙古自治区鄂温克族自治旗</p><p>萨满舞历史悠久。</p></div></div>'
            '<figure><img src="../Uploads/a.jpg" alt="x"><figcaption>萨满舞表演现场</figcaption></figure>'
            '<img src="data:image/png;base64,AAAA"></div>')
    detail = HtmlResponse("http://127.0.0.1:8/ihchina/project_details/13910.html", body=page.encode(), encoding="utf-8")
    (item,) = spider.parse_detail(detail, record={**{k: "" for k in ("title", "type", "num", "province", "content")},
                                                  "entity_id": "13910", "rx_time": "2008</br>(第二批)", "type": "传统舞蹈",
                                                  "province": "内蒙古自治区鄂温克族自治旗"})
    assert item["title"] == "萨满舞（鄂温克族萨满舞）" and item["year"] == "2008" and item["batch"] == "第二批"
    assert item["description"] == "申报地区或单位：内蒙古自治区鄂温克族自治旗\n萨满舞历史悠久。"
    assert item["image_meta"] == [{"url": "http://127.0.0.1:8/ihchina/Uploads/a.jpg", "caption": "萨满舞表演现场", "alt": "x"}]
    broken = TextResponse(spider.start_url, body=b"<html>maintenance</html>", encoding="utf-8", request=Request(spider.start_url))
    assert list(spider.parse_list(broken, page=1)) == [] and FakeCrawler.stats["emmel/error/bad_json"] == 1


def test_unknown_page_layout_is_counted_not_raised():
    spider = IhchinaSpider()

    class Stats(dict):
        def inc_value(self, key, n=1, spider=None):
            self[key] = self.get(key, 0) + n

    class FakeCrawler:
        stats = Stats()

    spider.crawler = FakeCrawler()
    detail = HtmlResponse("https://www.ihchina.cn/project_details/1.html", body=b"<html></html>", encoding="utf-8")
    assert list(spider.parse_detail(detail, record={})) == []  # KeyError inside: logged and counted
    assert FakeCrawler.stats["emmel/error/parse/KeyError"] == 1


def test_spiders_come_from_scrapy_spider_loader(tmp_path, monkeypatch, capsys):
    """One registry: a spider in a SPIDER_MODULES package is listed, accepted and loaded without editing anything else."""
    from crawlers import settings
    from crawlers.runner import check_options, spider_loader
    from emmel.cli import main

    package = tmp_path / "extra_spiders"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "museum.py").write_text(
        "from crawlers.spiders.base import HeritageSpider\n\n\n"
        "class MuseumSpider(HeritageSpider):\n"
        "    name = 'museum'\n    site_name = 'A museum'\n    start_url = 'http://127.0.0.1:9/list.html'\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sorted(spider_loader().list()) == ["guangdong", "guizhou", "ihchina"]
    monkeypatch.setattr(settings, "SPIDER_MODULES", [*settings.SPIDER_MODULES, "extra_spiders"])
    assert spider_loader().load("museum").site_name == "A museum"
    assert main(["crawl", "--list"]) == 0
    assert "museum     A museum  http://127.0.0.1:9/list.html" in capsys.readouterr().out
    check_options(CrawlOptions(out=tmp_path / "raw", spiders=["museum", "ihchina"]))
    with pytest.raises(EmmelError, match="unknown spider 'nope' \\(choose from guangdong, guizhou, ihchina, museum\\)"):
        check_options(CrawlOptions(out=tmp_path / "raw", spiders=["nope"]))
    assert CrawlOptions(out=tmp_path / "raw").spiders == ["guangdong", "guizhou", "ihchina", "museum"]
