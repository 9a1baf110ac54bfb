"""One exception type for every user-facing failure.

The CLI prints ``emmel: error: <message>`` (one line, no traceback) for an ``EmmelError``;
messages name the file and the record so the user can fix the input.
"""

from __future__ import annotations


class EmmelError(Exception):
    """A problem with the user's input or environment, reported as one line."""

    def __init__(self, message: str, *, path: object | None = None, record: object | None = None):
        where = ""
        if path is not None:
            where = str(path)
            if record is not None:
                where += f":{record}"
            where += ": "
        super().__init__(where + message)
