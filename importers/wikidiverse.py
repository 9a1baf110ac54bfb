"""The original WikiDiverse release (wangxw5/wikiDiverse, ACL 2022): the mention-level files with 10 candidates.

Layout::

    WikiDiverse/
      wikidiverse_w_cands/          (or the three files at the top level)
        train_w_10cands.json        [[sentence, img_url, mention, type, lctx, rctx, entity_url, cands, topic, start, end], …]
        valid_w_10cands.json
        test_w_10cands.json
      entity2desc.tsv               one entity a line: "<title or Wikipedia URL>@@@@<description>" (any file entity2desc*)
      wikinews_images/              mention images named md5(basename of img_url) + extension (also WikinewsImgs/, images/)

The release's conventions, as its README and ``eval_cands_recall.py`` state them: gold URLs may
carry a stray first character (``nhttps``, ``hhttps``, ``]https``); an answer ``nil`` is NIL;
candidates are titles or URLs, compared after removing the URL prefix, ``_`` → space and URL
unquoting (their script also maps ``-`` to a space: emmel tries that form when the exact title is
not in the KB); an image file is ``md5(name).hexdigest()`` followed by the name's extension for
jpg/png/svg/jpeg names (svg saved as png), and by the whole name otherwise.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import unquote

from emmel.errors import EmmelError
from importers.base import Importer, KBEntry, Mention
from importers.files import ImageFolder, first_folder, text_lines

SPLIT_FILES = {"train": "train_w_10cands.json", "dev": "valid_w_10cands.json", "test": "test_w_10cands.json"}
SEPARATOR = "@@@@"
_URL = re.compile(r"^.{0,2}?h?ttps?://[^/]*wikipedia\.org/+wiki/", re.IGNORECASE)  # also "nhttps", "]https", "ttps"
_EXTENSION = re.compile(r"(\S+(?=\.(?:jpg|JPG|png|PNG|svg|SVG)))|(\S+(?=\.(?:jpeg|JPEG)))")


def page_title(name: str) -> str:
    """A Wikipedia URL or title as a title: URL prefix (and a stray first character) removed, ``_`` → space, unquoted."""
    return unquote(_URL.sub("", name.strip()).replace("_", " ")).strip()


def image_file_name(img_url: str) -> str:
    """The file name WikiDiverse's image archive uses for ``img_url``."""
    name = img_url.split("/")[-1]
    return (hashlib.md5(name.encode()).hexdigest() + _EXTENSION.sub("", name)).replace(".svg", ".png").replace(".SVG", ".png")


class WikiDiverseImporter(Importer):
    format = "wikidiverse"
    title = "the original WikiDiverse release (*_w_10cands.json, entity2desc with @@@@, md5-named Wikinews images)"
    license = "CC BY-SA 4.0 (WikiDiverse)"
    candidate_file = "*_w_10cands.json (10 candidates per mention)"

    def __init__(self, source, config=None):
        super().__init__(source, config)
        self.titles: dict[str, str] = {}  # title, and its '-'→' ' form, -> KB key

    def dataset_name(self) -> str:
        return "WikiDiverse"

    def description(self) -> str:
        return ("WikiDiverse (original release), imported by `emmel import wikidiverse`: English multimodal entity linking on "
                "Wikinews image-caption pairs, each sample a mention of a caption with its image, linked to a Wikipedia entity of `kb.jsonl`.")

    def read_kb(self):
        files = sorted(p for p in self.source.glob("entity2desc*") if p.is_file())
        if not files:
            raise EmmelError("no entity2desc file (lines 'title@@@@description')", path=self.source)
        path = files[0]
        if path.suffix == ".json":
            data = self.json(path).data
            if not isinstance(data, dict):
                raise EmmelError("expected one JSON object {title: description}", path=path)
            rows = [(f"{path.name}:{n}", title, desc) for n, (title, desc) in enumerate(data.items(), start=1)]
        else:
            self.remember(path)
            rows = []
            for number, line, _ in text_lines(path):
                where = f"{path.name}:{number}"
                if line is None:
                    rows.append((where, None, "bad_encoding"))
                elif SEPARATOR not in line:
                    rows.append((where, None, "malformed_record"))
                else:
                    title, desc = line.split(SEPARATOR, 1)
                    rows.append((where, title, desc))
        for where, title, desc in rows:
            if title is None:
                detail = "line is not UTF-8" if desc == "bad_encoding" else f"no {SEPARATOR} separator"
                yield KBEntry(where, "", "", problem=(desc, detail))
                continue
            key = page_title(title) if isinstance(title, str) else ""
            if not key or not isinstance(desc, str):
                yield KBEntry(where, "", "", problem=("missing_field", "empty title or description that is not text"))
                continue
            self.titles.setdefault(key, key)
            self.titles.setdefault(key.replace("-", " "), key)
            yield KBEntry(where, key, key, description=desc.strip())

    def _key(self, name: str) -> str:
        title = page_title(name)
        return self.titles.get(title) or self.titles.get(title.replace("-", " ")) or title

    def read_mentions(self):
        base = first_folder(self.source, ("wikidiverse_w_cands",)) or self.source
        folder = Path(self.config.images) if self.config.images else first_folder(
            self.source, ("wikinews_images", "WikinewsImgs", "wikinewsImgs", "images", "mention_images", "mention_image"))
        if folder is None or not folder.is_dir():
            raise EmmelError("no folder of Wikinews images (wikinews_images/ or images/); pass --images DIR", path=self.source)
        images = ImageFolder(folder)
        for split, name in SPLIT_FILES.items():
            parsed = self.json(base / name)
            if not isinstance(parsed.data, list):
                raise EmmelError("expected a JSON list of mentions", path=parsed.path)
            for number, row in enumerate(parsed.data, start=1):
                yield self._mention(split, f"{name}:{number}", row, images)

    def _mention(self, split: str, where: str, row, images: ImageFolder) -> Mention:
        m = Mention(record=where, record_id=where, split=split)
        if not isinstance(row, list) or len(row) < 8:
            m.problem = ("malformed_record", "a mention must be a list [sentence, img_url, mention, type, lctx, rctx, entity_url, cands, …]")
            return m
        sentence, img_url, mention, kind, _, _, entity, cands = row[:8]
        if not all(isinstance(v, str) for v in (sentence, img_url, mention, entity)) or not isinstance(cands, list):
            m.problem = ("malformed_record", "sentence, img_url, mention and entity_url must be strings, cands a list")
            return m
        m.text, m.mention = sentence.strip(), mention.strip()
        m.answer = None if entity.strip().lower() == "nil" else self._key(entity)
        m.candidates = [self._key(c) for c in cands if isinstance(c, str)]
        topic = row[8] if len(row) > 8 and isinstance(row[8], str) else ""
        m.source = {k: v for k, v in (("image_url", img_url), ("topic", topic), ("mention_type", kind if isinstance(kind, str) else "")) if v}
        if not img_url.strip():
            m.image_note = "no img_url"
            return m
        file_name = image_file_name(img_url.strip())
        try:
            exact = images.join(file_name)
            m.image = exact if exact.is_file() else images.by_stem(file_name[:32])  # the md5 under another extension
        except ValueError as exc:
            m.problem = ("unsafe_path", f"image of img_url {img_url!r}: {exc}")
            return m
        m.image_note = f"{file_name} not in {images.path.name}/"
        return m
