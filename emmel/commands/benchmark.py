"""`emmel benchmark` (not built yet: issue #6)."""

from emmel.errors import EmmelError


def add_arguments(parser) -> None:
    parser.add_argument("args", nargs="*", help="not built yet")


def run(args) -> int:
    raise EmmelError("`emmel benchmark` is not built yet (issue #6)")
