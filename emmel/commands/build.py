"""`emmel build` (in progress: issue #2)."""

from emmel.errors import EmmelError


def add_arguments(parser) -> None:
    parser.add_argument("args", nargs="*")


def run(args) -> int:
    raise EmmelError("`emmel build` is not built yet (issue #2)")
