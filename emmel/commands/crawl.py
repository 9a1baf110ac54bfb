"""`emmel crawl` (not built yet: issue #3)."""

from emmel.errors import EmmelError


def add_arguments(parser) -> None:
    parser.add_argument("args", nargs="*", help="not built yet")


def run(args) -> int:
    raise EmmelError("`emmel crawl` is not built yet (issue #3)")
