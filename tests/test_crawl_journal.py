"""The crawl journal's own rules, without a crawl: cut-off lines, replay, checks before a resume,
what a kill between two commits leaves, and how the command ends when pages are left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawlers.journal import (
    CorruptState,
    Frontier,
    Journal,
    JsonLines,
    check_job,
    cut_torn_tail,
    journal_path,
    parts_path,
)
from crawlers.runner import CrawlReport, verdict
from crawlers.spiders.ihchina import IhchinaSpider

URL = "http://127.0.0.1:1/ihchina/project_details/{}.html"


def _spider() -> IhchinaSpider:
    return IhchinaSpider(start_url="http://127.0.0.1:1/ihchina/")


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_a_line_cut_by_a_kill_is_dropped_and_the_next_write_starts_clean(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    log = JsonLines(path)
    assert log.cut == len(b'{"c":')
    log.write([{"d": 4}])
    log.close()
    assert _lines(path) == [{"a": 1}, {"b": 2}, {"d": 4}]
    assert cut_torn_tail(path) == 0  # a sound file is left alone
    path.write_bytes(b'{"only": "torn')
    assert cut_torn_tail(path) == len(b'{"only": "torn') and path.read_bytes() == b""


def test_journal_replays_pending_requests_and_commits_done_after_the_parts(tmp_path):
    spider = _spider()
    path, parts = tmp_path / "job" / "ihchina.jsonl", tmp_path / "parts" / "ihchina.jsonl"
    journal = Journal(path, spider, sync_first=[parts])
    requests = [spider.detail_request(URL.format(n), record={"entity_id": str(n), "title": "侗族大歌"}) for n in range(3)]
    keys = [journal.schedule(r, f"fp{n}") for n, r in enumerate(requests)]
    assert keys == [0, 1, 2] and requests[1].meta["emmel_job_key"] == 1
    journal.alias("fp-redirected", 2)
    journal.finish(0)
    journal.commit()
    journal.finish(1)  # processed, but the process is killed before the next commit
    journal.log.close()
    frontier = Frontier.load(path, "ihchina")
    assert frontier.pending == [1, 2] and not frontier.complete
    assert frontier.seen == {"fp0", "fp1", "fp2", "fp-redirected"}
    again = Journal(path, spider)  # a resume: the pending requests come back as Request objects
    replayed = list(again.pending_requests())
    assert [r.url for r in replayed] == [URL.format(1), URL.format(2)]
    assert replayed[0].callback == spider.parse_detail and replayed[0].errback == spider.on_error
    assert replayed[0].cb_kwargs == {"record": {"entity_id": "1", "title": "侗族大歌"}} and replayed[0].priority == 10
    assert [r.meta["emmel_job_key"] for r in replayed] == [1, 2]
    assert again.schedule(spider.list_request(URL.format("list"), page=2), "fp9") == 3  # keys go on
    for key in (1, 2, 3):
        again.finish(key)
    again.close()
    assert Frontier.load(path, "ihchina").complete
    assert _lines(path)[0] == {"journal": "emmel-crawl", "spider": "ihchina", "version": 1}


def _write_journal(path: Path, *rows: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {"journal": "emmel-crawl", "version": 1, "spider": "ihchina"}
    path.write_text("".join(json.dumps(r) + "\n" for r in (head, *rows)), encoding="utf-8")


def _add(key: int, **request) -> dict:
    return {"add": key, "fp": f"fp{key}", "request": {"url": URL.format(key), "callback": "parse_detail", **request}}


@pytest.mark.parametrize("row, why", [
    (_add(1, _class="scrapy.http.FormRequest"), "another class"),
    (_add(1, callback="__init__"), "not a method of the spider"),
    (_add(1, url="file:///etc/passwd"), r"http\(s\) URL"),
    ({"done": 5}, "never scheduled"),
    ({"add": "x", "fp": 1, "request": {}}, "malformed"),
    ({"what": 1}, "unknown journal line"),
])
def test_replay_refuses_lines_no_crawl_writes(tmp_path, row, why):
    path = tmp_path / "j.jsonl"
    _write_journal(path, _add(0), row)
    methods = {"parse_list", "parse_detail", "on_error"}
    with pytest.raises(CorruptState, match=why) as info:
        Frontier.load(path, "ihchina", methods)
    assert info.value.line == 3


def test_check_job_sets_a_corrupt_journal_aside_and_starts_the_spider_again(tmp_path):
    state = tmp_path / ".emmel-crawl"
    journal = journal_path(state, "ihchina")
    _write_journal(journal, _add(0), {"done": 0})
    with journal.open("a", encoding="utf-8") as handle:
        handle.write('{"add": 1, "fp"\n{"done": 1}\n{"add": 2, "f')  # a bad line, then a torn one
    frontier, warning = check_job(state, "ihchina", IhchinaSpider)
    assert frontier.requests == {} and not frontier.complete  # crawled again from the first page
    assert warning.startswith("warning: ") and "line 4" in warning and "\n" not in warning
    assert not journal.exists() and (journal.parent / "ihchina.jsonl.corrupt").exists()


def test_check_job_drops_a_corrupt_parts_line_and_keeps_the_rest(tmp_path):
    state = tmp_path / ".emmel-crawl"
    _write_journal(journal_path(state, "ihchina"), _add(0), {"done": 0})
    parts = parts_path(state, "ihchina")
    parts.parent.mkdir(parents=True)
    good = {"item": {"url": URL.format(0), "entity_id": "0"}, "records": [{"record_id": "ihchina:0:0"}]}
    parts.write_text(json.dumps(good) + "\n\x00\x00garbage\n" + json.dumps(good) + "\n", encoding="utf-8")
    frontier, warning = check_job(state, "ihchina", IhchinaSpider)
    assert frontier.requests == {} and "parts" in warning and "line 2" in warning
    assert _lines(parts) == [good, good]  # what was sound is kept (one copy per page in the outputs)
    assert (parts.parent / "ihchina.jsonl.corrupt").read_bytes().count(b"garbage") == 1
    frontier, warning = check_job(state, "ihchina", IhchinaSpider)  # now sound: nothing to say
    assert warning == "" and frontier.requests == {}


def test_sound_state_is_resumed_as_it_is(tmp_path):
    state = tmp_path / ".emmel-crawl"
    _write_journal(journal_path(state, "ihchina"), _add(0), _add(1), {"done": 0})
    frontier, warning = check_job(state, "ihchina", IhchinaSpider)
    assert warning == "" and frontier.pending == [1]


def test_a_crawl_is_never_called_finished_with_pages_left():
    finished = {"finish_reason": "finished"}
    done = CrawlReport(stats={"ihchina": finished}, records=3, interrupted=False, elapsed=1.0, pending={"ihchina": 0})
    assert verdict(done) == (0, "")
    left = CrawlReport(stats={"ihchina": finished, "guizhou": finished}, records=3, interrupted=False, elapsed=1.0,
                       pending={"ihchina": 6, "guizhou": 0})
    code, message = verdict(left)
    assert code == 1 and "6 scheduled pages were not crawled (ihchina 6)" in message and "--resume" in message
    stopped = CrawlReport(stats={"ihchina": {"finish_reason": "shutdown"}}, records=1, interrupted=True, elapsed=1.0,
                          pending={"ihchina": 4})
    assert verdict(stopped) == (130, ("crawl interrupted (4 scheduled pages not fetched yet: ihchina 4): "
                                      "continue with the same command plus --resume"))
