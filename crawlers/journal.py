"""The crawl's job state, written so that a hard kill (SIGKILL, the OOM killer, a power cut) loses
nothing and duplicates nothing.

Scrapy's ``JOBDIR`` only survives a graceful stop: the priority queue's state (``active.json``) is
written when the spider closes, and a request popped from the queue is forgotten while its
fingerprint stays in ``requests.seen``. After a kill a resumed crawl therefore skips pages it
never fetched. emmel keeps its own journal instead: one append-only JSON-lines file per spider,
``OUT/.emmel-crawl/job/<spider>.jsonl``::

    {"journal": "emmel-crawl", "version": 1, "spider": "ihchina"}    first line
    {"add": 7, "fp": "…", "request": {…}}   request 7 was scheduled (its fields as JSON, never pickled)
    {"seen": "…", "of": 7}                  request 7 was redirected to this fingerprint
    {"done": 7}                             request 7 is processed and everything it led to is stored

Invariant: a ``done`` line is written only once the page's items are in the parts file and fsync'd,
and every request the page yielded has its own ``add`` line before it. So after any kill the work
left is exactly ``add − done`` (re-fetching a page whose item was already stored is harmless: the
outputs are rebuilt from the parts with one copy per page), and a journal with nothing pending is
a complete crawl.

Lines are appended with one ``write`` each; a kill can only cut the last line short, which is
dropped on reopen. ``done`` lines are grouped and written by :meth:`Journal.commit` (every second
and at the end) after an ``fsync`` of the parts and of the journal; a kill loses at most the last
second of ``done`` lines, i.e. a few pages are fetched again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crawlers import redis_json
from emmel.io import atomic_write_text, dumps

FORMAT = "emmel-crawl"
VERSION = 1
KEY = "emmel_job_key"  # Request.meta: the journal key of the request (kept across retries and redirects)


class CorruptState(ValueError):
    """A job-state line that no kill can explain (not the cut-off last line)."""

    def __init__(self, path: Path, line: int, why: str):
        super().__init__(f"{path}:line {line}: {why}")
        self.path, self.line, self.why = path, line, why


class JsonLines:
    """An append-only JSON-lines file: each write is one ``os.write`` of whole lines."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cut = cut_torn_tail(self.path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, rows: Iterable[dict]) -> None:
        data = "".join(dumps(row) + "\n" for row in rows).encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes it in one go; loop for the rare short write
            view = view[os.write(self.fd, view):]

    def sync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


def cut_torn_tail(path: Path) -> int:
    """Drop a last line without its newline (a write cut by a kill); return the bytes dropped."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        block, end = 1 << 16, size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - block)
            handle.seek(start)
            newline = handle.read(end - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        else:
            keep = 0
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def scan_lines(path: Path) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """``(line number, object)`` for every complete line of an append-only file (the cut-off last
    line ignored), and ``(line number, why)`` for each line that is not a JSON object."""
    with open(path, "rb") as handle:
        data = handle.read()
    rows, bad = [], []
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):  # after the last newline: a torn write
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            bad.append((number, f"not a JSON line ({type(exc).__name__})"))
            continue
        if isinstance(row, dict):
            rows.append((number, row))
        else:
            bad.append((number, "not a JSON object"))
    return rows, bad


def read_lines(path: Path) -> list[dict]:
    """Like :func:`scan_lines`, but a bad line raises :class:`CorruptState`."""
    rows, bad = scan_lines(path)
    if bad:
        raise CorruptState(path, *bad[0])
    return [row for _, row in rows]


def part_problem(row: dict) -> str:
    """Why a parts line is not ``{"item": {…, "url": …}, "records": [{"record_id": …}, …]}`` ("" if it is)."""
    item, records = row.get("item"), row.get("records")
    if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not isinstance(records, list):
        return "not an item line of the crawl"
    if not all(isinstance(r, dict) and isinstance(r.get("record_id"), str) for r in records):
        return "an item line with a malformed record"
    return ""


@dataclass
class Frontier:
    """The crawl state a journal describes: what was scheduled, what is done, what is pending."""

    spider: str
    requests: dict[int, dict] = field(default_factory=dict)  # key -> request fields (JSON)
    done: set[int] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)  # fingerprints scheduled (and redirect targets)

    @property
    def pending(self) -> list[int]:
        return sorted(set(self.requests) - self.done)

    @property
    def complete(self) -> bool:
        """Something was scheduled and all of it is done."""
        return bool(self.requests) and not self.pending

    @property
    def next_key(self) -> int:
        return max(self.requests, default=-1) + 1

    @classmethod
    def replay(cls, rows: list[dict], path: Path, spider: str, methods: set[str] | None = None) -> Frontier:
        """Rebuild the state from journal lines, checking each (``methods``: the spider's callbacks)."""
        frontier = cls(spider)
        for number, row in enumerate(rows, start=1):
            if number == 1:
                if row.get("journal") != FORMAT or row.get("spider") != spider:
                    raise CorruptState(path, 1, f"not an emmel crawl journal of spider {spider!r}")
                if row.get("version") != VERSION:
                    raise CorruptState(path, 1, f"journal version {row.get('version')!r} (this emmel reads {VERSION})")
                continue
            if "add" in row:
                key, fp, request = row["add"], row.get("fp"), row.get("request")
                if not isinstance(key, int) or key in frontier.requests or not isinstance(fp, str) \
                        or not isinstance(request, dict):
                    raise CorruptState(path, number, "malformed 'add' line")
                problem = check_request(request, methods)
                if problem:
                    raise CorruptState(path, number, problem)
                frontier.requests[key] = request
                frontier.seen.add(fp)
            elif "seen" in row:
                if not isinstance(row["seen"], str) or row.get("of") not in frontier.requests:
                    raise CorruptState(path, number, "malformed 'seen' line")
                frontier.seen.add(row["seen"])
            elif "done" in row:
                if row["done"] not in frontier.requests:
                    raise CorruptState(path, number, f"'done' for request {row['done']!r}, never scheduled")
                frontier.done.add(row["done"])
            else:
                raise CorruptState(path, number, "unknown journal line")
        return frontier

    @classmethod
    def load(cls, path: Path, spider: str, methods: set[str] | None = None) -> Frontier:
        """The state in ``path`` (an empty frontier when the file is missing or empty)."""
        if not path.exists():
            return cls(spider)
        return cls.replay(read_lines(path), path, spider, methods)


def check_request(request: dict, methods: set[str] | None) -> str:
    """Why a journaled request may not be replayed ("" when it may): plain Requests only (a
    ``_class`` would make Scrapy import any name), http(s) URLs, callbacks among the spider's."""
    if "_class" in request:
        return "a request of another class than scrapy.Request"
    url = request.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "a request without an http(s) URL"
    for name in ("callback", "errback"):
        value = request.get(name)
        if value is not None and (not isinstance(value, str) or (methods is not None and value not in methods)):
            return f"a request whose {name} {value!r} is not a method of the spider"
    return ""


def spider_methods(spider_cls) -> set[str]:
    """Names a journaled request may call back: the spider's public methods."""
    return {name for name in dir(spider_cls) if not name.startswith("_") and callable(getattr(spider_cls, name, None))}


class Journal:
    """The live, append-only journal of one spider's crawl (owned by ``JournalScheduler``).

    ``sync_first``: files to fsync before ``done`` lines are written (the spider's parts file), so a
    page is never marked done before its items are on disk.
    """

    def __init__(self, path: str | os.PathLike, spider, *, sync_first: Iterable[str | os.PathLike] = ()):
        self.path = Path(path)
        self.spider = spider
        self.frontier = Frontier.load(self.path, spider.name, spider_methods(type(spider)))
        self.log = JsonLines(self.path)
        if self.path.stat().st_size == 0:
            self.log.write([{"journal": FORMAT, "version": VERSION, "spider": spider.name}])
        self.sync_first = [Path(p) for p in sync_first]
        self._next = self.frontier.next_key
        self._finished: list[int] = []  # done, not yet committed

    # ------------------------------------------------------------------ replay
    def pending_requests(self):
        """The requests to schedule again (Request objects, journal keys in their meta)."""
        from scrapy.utils.request import request_from_dict

        for key in self.frontier.pending:
            request = request_from_dict(redis_json.decode(self.frontier.requests[key]), spider=self.spider)
            request.meta[KEY] = key
            yield request

    # ------------------------------------------------------------------ recording
    def has_seen(self, fp: str) -> bool:
        return fp in self.frontier.seen

    def schedule(self, request, fp: str) -> int:
        """Journal a new request (its key goes into ``request.meta``) before it is queued."""
        fields = redis_json.encode(request.to_dict(spider=self.spider))
        key = self._next
        self.log.write([{"add": key, "fp": fp, "request": fields}])  # TypeError (nothing written) if not JSON
        self._next += 1
        request.meta[KEY] = key
        self.frontier.requests[key] = fields
        self.frontier.seen.add(fp)
        return key

    def alias(self, fp: str, key: int) -> None:
        """A journaled request continues under a new fingerprint (a redirect)."""
        if fp not in self.frontier.seen:
            self.log.write([{"seen": fp, "of": key}])
            self.frontier.seen.add(fp)

    def finish(self, key: int) -> None:
        """Request ``key`` is processed; written with the next :meth:`commit`."""
        if key in self.frontier.requests and key not in self.frontier.done:
            self.frontier.done.add(key)
            self._finished.append(key)

    def commit(self) -> None:
        """Make the stored items durable, then the ``done`` lines."""
        finished, self._finished = self._finished, []
        if not finished:
            return
        for path in self.sync_first:
            _fsync_path(path)
        self.log.sync()  # every 'add' before these 'done' lines is on disk
        self.log.write([{"done": key} for key in finished])
        self.log.sync()

    def close(self) -> None:
        self.commit()
        self.log.close()


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- before a resume
def journal_path(state: Path, spider: str) -> Path:
    return state / "job" / f"{spider}.jsonl"


def parts_path(state: Path, spider: str) -> Path:
    return state / "parts" / f"{spider}.jsonl"


def check_job(state: Path, spider: str, spider_cls) -> tuple[Frontier, str]:
    """Check one spider's job state before a resume: drop what a kill explains (a cut-off last
    line), set aside what it does not, and say so.

    A corrupt journal, or a corrupt parts line (an item lost, but which one is unknown), is kept as
    ``*.corrupt`` and the spider's frontier starts again from its first page: every page is fetched
    once more (images already stored are not), and the outputs keep one copy per page. Returns the
    frontier to resume and a one-line warning ("" when the state was sound).
    """
    journal, parts = journal_path(state, spider), parts_path(state, spider)
    for path in (journal, parts):
        cut_torn_tail(path)
    problem, good_parts = "", None
    if parts.exists():
        rows, bad = scan_lines(parts)
        bad += [(number, part_problem(row)) for number, row in rows if part_problem(row)]
        if bad:
            number, why = min(bad)
            problem = f"{parts}:line {number}: {why}"
            good_parts = [row for _, row in rows if not part_problem(row)]
    if not problem:
        try:
            return Frontier.load(journal, spider, spider_methods(spider_cls)), ""
        except CorruptState as exc:
            problem = str(exc)
    if journal.exists():  # first: from here on the spider starts over, whatever happens next
        journal.rename(_aside(journal))
    if good_parts is not None:
        shutil.copyfile(parts, _aside(parts))
        atomic_write_text(parts, "".join(dumps(row) + "\n" for row in good_parts))
    return Frontier(spider), (f"warning: {problem}; the job state of {spider} is set aside (*.corrupt) and "
                              f"{spider} is crawled again from its first page (stored images are kept)")


def _aside(path: Path) -> Path:
    """A free name beside ``path`` for a corrupt copy kept for inspection."""
    target, n = path.with_name(path.name + ".corrupt"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt{n}")
    return target
