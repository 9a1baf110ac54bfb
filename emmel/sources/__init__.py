"""Raw sources: what crawlers, OCR and importers write and what ``emmel build`` reads."""

from emmel.sources.raw import RawRecord, RawSourceWriter, iter_source, read_raw_records

__all__ = ["RawRecord", "RawSourceWriter", "iter_source", "read_raw_records"]
