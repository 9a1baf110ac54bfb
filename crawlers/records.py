"""Pure functions from crawled pages to raw records (docs/FORMAT.md §1).

One item (an entity page) becomes one record per stored image. The record text is the image's
caption, else its alt text, else a short excerpt of the description; which one was used is kept
in ``source.text_from`` so the build and readers can weigh it.
"""

from __future__ import annotations

import html
import re
import unicodedata

EXCERPT_CHARS = 30
_TAG = re.compile(r"<[^>]+>")
_BR = re.compile(r"<\s*(br|/p|/div|/li|/h\d)\s*/?\s*>", re.I)
_SPACE = re.compile(r"[ \t\r\f\v\u3000\xa0]+")
_DECLARING = re.compile(r"^\s*申报地区或单位[：:][^\n]*\n?")
_SENTENCE_END = "。！？；!?;\n"
_GENERIC_ALT = re.compile(r"^(图片?|照片|image|img|photo|pic|picture|未命名|无标题)?\s*\d*$", re.I)
_FILENAME = re.compile(r"\.(jpe?g|png|gif|webp|bmp)$", re.I)


def clean_text(value: object) -> str:
    """HTML (possibly escaped) to plain one-paragraph-per-line text, NFC, trimmed."""
    if value is None:
        return ""
    text = str(value)
    for _ in range(2):  # ihchina escapes its HTML once; unescape until stable (at most twice)
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = _BR.sub("\n", text)
    text = _TAG.sub("", text)
    text = unicodedata.normalize("NFC", text)
    lines = [_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def excerpt(description: str, limit: int = EXCERPT_CHARS) -> str:
    """First sentence (or clause) of a description, at most ``limit`` characters.

    The ihchina header line ``申报地区或单位：…`` is skipped: it names a place, not the entity.
    """
    text = _DECLARING.sub("", description.strip())
    sentence = ""
    for char in text:
        if char in _SENTENCE_END:
            if sentence.strip():
                break
            sentence = ""
            continue
        sentence += char
    sentence = sentence.strip()
    if len(sentence) <= limit:
        return sentence
    head = sentence[:limit]
    cut = max(head.rfind("，"), head.rfind("、"), head.rfind(","))
    return head[:cut] if cut >= 8 else head


def usable_label(text: str, title: str) -> bool:
    """Is a caption / alt text a real description (not empty, the title itself, or a file name)?"""
    text = text.strip()
    return bool(text) and text != title.strip() and not _GENERIC_ALT.match(text) and not _FILENAME.search(text)


def choose_text(caption: str, alt: str, description: str, title: str) -> tuple[str, str]:
    """``(text, text_from)`` with text_from in ``caption``, ``alt``, ``description`` or ``none``."""
    if usable_label(caption, title):
        return caption.strip(), "caption"
    if usable_label(alt, title):
        return alt.strip(), "alt"
    short = excerpt(description)
    return (short, "description") if short else ("", "none")


def split_batch(rx_time: str) -> tuple[str, str]:
    """``"2006</br>(第一批)"`` -> ``("2006", "第一批")``; either part may be ``""``."""
    text = clean_text(rx_time or "")
    year = re.search(r"(1[89]|20)\d\d", text)
    batch = re.search(r"第[一二三四五六七八九十\d]+批", text)
    return (year.group(0) if year else "", batch.group(0) if batch else "")


def item_to_records(item: dict, *, license: str) -> tuple[list[dict], list[str]]:
    """Raw records of one item (one per stored image) and the image URLs that gave none."""
    stored = {img["url"]: img for img in item.get("images") or []}
    records, lost = [], []
    title = item.get("title") or ""
    description = item.get("description") or ""
    for k, meta in enumerate(item.get("image_meta") or []):
        image = stored.get(meta["url"])
        if not image:
            lost.append(meta["url"])
            continue
        text, text_from = choose_text(meta.get("caption", ""), meta.get("alt", ""), description, title)
        source = {
            "kind": "web", "spider": item["spider"], "url": item["url"], "image_url": meta["url"],
            "crawled_at": item.get("crawled_at", ""), "batch": item.get("batch", ""), "year": item.get("year", ""),
            "num": item.get("num", ""), "ethnic_group": item.get("ethnic_group", ""),
            "checksum": image.get("checksum", ""), "text_from": text_from,
            "caption": meta.get("caption", ""), "alt": meta.get("alt", ""),
        }
        records.append({
            "record_id": f"{item['spider']}:{item['entity_id']}:{k}",
            "title": title,
            "text": text,
            "image": image["path"],
            "category": item.get("category") or "",
            "region": item.get("region") or "",
            "aliases": [],
            "entity_description": description,
            "source": source,
            "license": license,
        })
    return records, lost
