"""``emmel import FORMAT SOURCE --out DIR``: the field's MEL benchmarks as ordinary emmel datasets.

Formats are wired by configuration, like Scrapy's components: ``IMPORTERS`` maps a format name to
the dotted path of its ``Importer`` class, loaded only when used. A FORMAT containing a dot is
taken as such a path itself, so a project can plug in its own importer without editing emmel.
"""

from __future__ import annotations

import importlib

from emmel.errors import EmmelError
from importers.base import ImportConfig, Importer, ImportReport

IMPORTERS = {
    "mimic": "importers.mimic.MimicImporter",
    "ghmfc": "importers.ghmfc.GhmfcImporter",
    "wikidiverse": "importers.wikidiverse.WikiDiverseImporter",
    "coco-cn": "importers.coco_cn.CocoCnImporter",
}

__all__ = ["IMPORTERS", "ImportConfig", "ImportReport", "Importer", "importer_class", "run_import"]


def importer_class(name: str) -> type[Importer]:
    """The importer class for a format name (or a dotted path to an ``Importer`` subclass)."""
    path = IMPORTERS.get(name) or (name if "." in name else None)
    if path is None:
        raise EmmelError(f"unknown format {name!r} (choose from {', '.join(IMPORTERS)}, or give module.Class)")
    module, _, attribute = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise EmmelError(f"cannot load importer {path!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Importer)):
        raise EmmelError(f"{path!r} is not an importers.Importer subclass")
    return cls


def run_import(name: str, source, out, config: ImportConfig | None = None, *, overwrite: bool = False) -> ImportReport:
    """Import the benchmark folder ``source`` in format ``name`` into the dataset folder ``out``."""
    return importer_class(name)(source, config).run(out, overwrite=overwrite)
