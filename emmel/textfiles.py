"""The text encoding of a records file (raw ``records.jsonl``, generic JSONL/CSV, KB seeds).

Chinese data often comes out of Excel as GBK/GB18030 ("CSV" on a Chinese Windows) or as UTF-8
with a byte-order mark ("CSV UTF-8"). ``detect_encoding`` decides once per file, so every line
of one file is read the same way:

1. an explicit encoding (``emmel build --encoding NAME``) wins;
2. a UTF-8 BOM means UTF-8 (the BOM is dropped, never part of the first record);
3. otherwise every line with non-ASCII bytes votes: UTF-8 if it decodes as UTF-8, else GB18030 if
   it decodes as GB18030 (a superset of GBK and GB2312); GB18030 wins only with more votes, so a
   UTF-8 file with a few broken lines stays UTF-8 and only those lines are rejected (``bad_encoding``).

>>> check_encoding("GBK"), check_encoding("utf8"), check_encoding("cp936")
('gbk', 'utf-8', 'gbk')
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from emmel.errors import EmmelError
from emmel.io import encoding_label, open_regular

__all__ = ["DETECTED", "check_encoding", "detect_encoding", "encoding_label"]

DETECTED = ("utf-8", "utf-8-sig", "gb18030")  # what detection can answer
_ASCII_PROBE = b'{"record_id": "a1", "title": "x"},\r\n\t'


def check_encoding(name: str) -> str:
    """Python's canonical name of codec ``name``; unknown codecs and ones that are not ASCII-compatible
    (UTF-16/32: lines cannot be split on newline bytes) are an ``EmmelError``."""
    try:
        canonical = codecs.lookup(str(name).strip()).name
    except LookupError:
        raise EmmelError(f"unknown encoding {name!r} (e.g. utf-8, gb18030, gbk, big5)") from None
    try:
        compatible = _ASCII_PROBE.decode(canonical) == _ASCII_PROBE.decode("ascii")
    except (UnicodeDecodeError, LookupError, TypeError):  # TypeError: a bytes-to-bytes codec such as base64
        compatible = False
    if not compatible:
        raise EmmelError(f"encoding {name!r} is not ASCII-compatible; save the file as UTF-8 (or GB18030) first")
    return canonical


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: str | os.PathLike, override: str | None = None) -> str:
    """The codec to read the text file ``path`` with (see the module docstring)."""
    path = Path(path)
    try:
        with open_regular(path) as handle:
            head = handle.read(4)
            if override is not None:
                name = check_encoding(override)
                return "utf-8-sig" if name == "utf-8" and head.startswith(codecs.BOM_UTF8) else name
            if head.startswith(codecs.BOM_UTF8):
                return "utf-8-sig"
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise EmmelError("the file is UTF-16 (Excel's 'Unicode text'); save it as UTF-8 or 'CSV UTF-8' and try again", path=path)
            handle.seek(0)
            votes = {"utf-8": 0, "gb18030": 0}
            for raw in handle:
                if raw.isascii():
                    continue
                if _decodes(raw, "utf-8"):
                    votes["utf-8"] += 1
                elif _decodes(raw, "gb18030"):
                    votes["gb18030"] += 1
    except FileNotFoundError:
        raise EmmelError("file not found", path=path) from None
    except OSError as exc:  # NotRegularFileError: a FIFO, device or folder
        raise EmmelError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return "gb18030" if votes["gb18030"] > votes["utf-8"] else "utf-8"
