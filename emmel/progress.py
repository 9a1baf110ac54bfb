"""Progress bars for long stages: tqdm on a terminal, silent elsewhere (CI logs, pipes)."""

from __future__ import annotations

import os
import sys


def progress(iterable, *, desc: str, total: int | None = None, **kwargs):
    from tqdm.auto import tqdm

    setting = os.environ.get("EMMEL_PROGRESS", "auto")
    disable = not sys.stderr.isatty() if setting == "auto" else setting in ("0", "off", "false")
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
