"""JSON for request dicts: the scrapy-redis queue serializer (``SCHEDULER_SERIALIZER``) and the
crawl journal (``crawlers.journal``).

scrapy-redis pickles requests by default; a shared Redis server is input from elsewhere, so the
queue holds JSON instead. Bytes (headers, bodies) are stored as ``{"__bytes__": base64}``.
"""

from __future__ import annotations

import base64
import json


def encode(obj):
    """A request dict (``Request.to_dict``) as JSON-ready values."""
    if isinstance(obj, bytes):
        return {"__bytes__": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, dict):
        return {str(_key(k)): encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    return obj


def _key(key):
    return key.decode("latin-1") if isinstance(key, bytes) else key


def decode(obj):
    """The inverse of :func:`encode`."""
    if isinstance(obj, dict):
        if set(obj) == {"__bytes__"}:
            return base64.b64decode(obj["__bytes__"])
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def dumps(obj) -> str:
    return json.dumps(encode(obj), ensure_ascii=False, sort_keys=True)


def loads(data) -> dict:
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return decode(json.loads(data))
