"""The ``emmel`` command: a thin layer over the library.

Each subcommand lives in ``emmel/commands/<name>.py`` (``<name>_.py`` for a Python keyword, PEP 8:
``import`` -> ``import_.py``) with ``add_arguments(parser)`` and ``run(args) -> int``; its one-line
help is in ``COMMANDS``. A command's module is imported only when that command runs (some pull in
torch or Scrapy), so ``emmel --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import keyword
import os
import sys

from emmel import __version__
from emmel.errors import EmmelError

COMMANDS = {
    "crawl": "crawl intangible-cultural-heritage sites with Scrapy into a raw source",
    "ocr": "extract figures and captions from a (scanned) PDF book into a raw source",
    "build": "clean, dedup, split, augment raw sources into an EMMEL dataset",
    "import": "import a published MEL benchmark (WikiMEL, RichpediaMEL, WikiDiverse, COCO-CN) as a dataset",
    "annotate": "Label Studio round trip: export/import tasks, push/pull to a server",
    "benchmark": "train and evaluate the MCR baseline and its ablations on a dataset",
    "link": "link one image + description to the top-k entities of a dataset's KB",
    "stats": "print Table-1 statistics of a dataset and check its integrity",
    "view": "browse a dataset (and a benchmark run of it) as a static site that opens from disk",
    "demo": "run the whole chain on the bundled sample (crawl, OCR, build, annotate, benchmark)",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``emmel`` parser with every subcommand listed and ``command``'s own arguments added."""
    parser = argparse.ArgumentParser(prog="emmel", description="Build and benchmark the EMMEL multimodal entity linking dataset.")
    parser.add_argument("--version", action="version", version=f"emmel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            command_module(name).add_arguments(command_parser)
    return parser


def module_name(command: str) -> str:
    """``emmel.commands.<command>``, or ``<command>_`` for a command named like a Python keyword (PEP 8)."""
    return f"emmel.commands.{command}{'_' if keyword.iskeyword(command) else ''}"


def command_module(name: str):
    return importlib.import_module(module_name(name))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    try:
        return int(command_module(args.command).run(args) or 0)
    except EmmelError as exc:
        print(f"emmel {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"emmel {args.command}: interrupted", file=sys.stderr)
        return 130
