"""``python -m tests.synth [--data DIR]``: regenerate the bundled sample (data/mirror, data/sample_book.pdf).

Same seeds and same Pillow/reportlab give byte-identical files (``tests/test_crawl_mirror.py``
checks the mirror); ``git diff --stat data/`` shows what changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.synth import book, mirror

DATA = Path(__file__).resolve().parents[2] / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA), help="the bundled data folder (default: data/ of this checkout)")
    data = Path(parser.parse_args(argv).data)
    mirror.main(["--out", str(data / "mirror")])
    book.main(["--out", str(data / "sample_book.pdf")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
