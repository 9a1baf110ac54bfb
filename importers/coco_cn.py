"""COCO-CN (li-xirong/coco-cn, version 201805) as a Chinese MEL set: an image, its caption, a tag as the entity.

Layout (the distributed ``coco-cn-version1805v1.1`` folder plus the MS-COCO images)::

    coco-cn-version1805v1.1/
      coco-cn_train.txt                      one image id a line (18,341)
      coco-cn_val.txt                        (1,000; becomes dev)
      coco-cn_test.txt                       (1,000)
      imageid.human-written-caption.txt      "COCO_val2014_000000217153#0<TAB>一个男人和一个女人穿着军装玩手机。"
      imageid.human-written-tags.txt         "COCO_val2014_000000217153 男人 女人 军装 手机"
      images/ | train2014/ | val2014/        MS-COCO images named <image id>.jpg

COCO-CN has captions and tags but no entity links, so emmel applies one rule (EMMEL_RULE below):

1. one sample per image of the official split lists; its text is the image's human-written
   caption with the lowest number (``#0`` first; other captions are not used, no augmentation);
2. the entity is one of the image's human-written tags (file order, duplicates dropped): of the
   tags that occur verbatim in that caption, the longest (the most specific: 网球场 over 网球),
   ties going to the earlier tag; it is also the sample's ``mention``;
3. an image without tags, or none of whose tags occurs in its caption, is rejected as
   ``no_usable_tag`` (the detail says which), an image without a caption as ``empty_text``;
4. the KB is the set of tags chosen by rule 2 (label = the tag, no description).
"""

from __future__ import annotations

from pathlib import Path

from emmel.errors import EmmelError
from importers.base import Importer, KBEntry, Mention
from importers.files import ImageFolder, text_lines

SPLIT_FILES = {"train": "coco-cn_train.txt", "dev": "coco-cn_val.txt", "test": "coco-cn_test.txt"}
CAPTIONS = "imageid.human-written-caption.txt"
TAGS = "imageid.human-written-tags.txt"
EMMEL_RULE = ("one sample per image (first human-written caption); entity = the longest of the image's human-written tags "
              "that occurs in the caption (ties: earlier tag); images with no such tag rejected as no_usable_tag")


def choose_tag(caption: str, tags: list[str]) -> str | None:
    """Rule 2: the longest tag found verbatim in ``caption`` (earlier tags win ties), or None."""
    found = [tag for tag in dict.fromkeys(tags) if tag and tag in caption]
    return max(found, key=len) if found else None  # max keeps the first of equal lengths


class CocoCnImporter(Importer):
    format = "coco-cn"
    title = "COCO-CN (coco-cn_{train,val,test}.txt, human-written captions and tags, MS-COCO images)"
    language = ("zh",)
    license = "COCO-CN annotations: research use on request (li-xirong/coco-cn); images: MS-COCO terms (Flickr licenses)"

    def __init__(self, source, config=None):
        super().__init__(source, config)
        self.chosen: dict[str, tuple[str, str, str]] = {}  # image id -> (caption, tag, problem)
        self.problems: dict[str, tuple[str, str]] = {}

    def dataset_name(self) -> str:
        return "COCO-CN"

    def description(self) -> str:
        return ("COCO-CN, imported by `emmel import coco-cn`: a Chinese multimodal entity linking set made from MS-COCO images "
                f"with human-written Chinese captions and tags. Rule: {EMMEL_RULE}.")

    # ------------------------------------------------------------------ annotations
    def _annotations(self) -> None:
        captions: dict[str, dict[int, str]] = {}
        for number, line, raw in self._lines(CAPTIONS):
            key, _, rest = (line or raw.decode("ascii", "replace")).partition("\t")
            image, _, index = key.strip().partition("#")
            if line is None:
                self.problems.setdefault(image, ("bad_encoding", f"{CAPTIONS}:{number} is not UTF-8"))
            elif not rest.strip() or not index.isdigit():
                self.problems.setdefault(image, ("malformed_record", f"{CAPTIONS}:{number} is not '<id>#<n><TAB><caption>'"))
            else:
                captions.setdefault(image, {}).setdefault(int(index), rest.strip())
        tags: dict[str, list[str]] = {}
        for number, line, raw in self._lines(TAGS):
            if line is None:
                image = raw.split(maxsplit=1)[0].decode("ascii", "replace")
                self.problems.setdefault(image, ("bad_encoding", f"{TAGS}:{number} is not UTF-8"))
                continue
            image, *words = line.split()
            tags.setdefault(image, []).extend(words)
        for image, numbered in captions.items():
            caption = numbered[min(numbered)]
            tag = choose_tag(caption, tags.get(image, []))
            self.chosen[image] = (caption, tag or "", "" if tag else ("no tags" if not tags.get(image) else "none of its tags in the caption"))

    def _lines(self, name: str):
        self.remember(self.source / name)
        return text_lines(self.source / name)

    # ------------------------------------------------------------------ stages
    def read_kb(self):
        self._annotations()
        tags = sorted({tag for _, tag, _ in self.chosen.values() if tag})
        for number, tag in enumerate(tags, start=1):
            yield KBEntry(f"tags:{number}", tag, tag)

    def read_mentions(self):
        folders = [ImageFolder(Path(self.config.images))] if self.config.images else [
            ImageFolder(self.source / name) for name in ("images", "train2014", "val2014")]
        if not any(folders):
            raise EmmelError("no images/ (or train2014/, val2014/) folder of MS-COCO images; pass --images DIR", path=self.source)
        outcome = {"no tags": 0, "none of its tags in the caption": 0}
        for split, name in SPLIT_FILES.items():
            for number, line, _ in self._lines(name):
                m = Mention(record=f"{name}:{number}", record_id=line or f"{name}:{number}", split=split)
                if line is None:
                    m.problem = ("bad_encoding", "the image id is not UTF-8")
                elif line in self.problems:  # a bad caption or tag line: never fall back silently to another
                    m.problem = self.problems[line]
                elif line not in self.chosen:
                    m.problem = ("empty_text", "no human-written caption for this image")
                else:
                    caption, tag, why = self.chosen[line]
                    m.text, m.mention, m.answer = caption, tag, tag
                    if not tag:
                        outcome[why] += 1
                        m.problem = ("no_usable_tag", why)
                    else:
                        try:
                            m.image = next((f for f in (folder.by_stem(line) for folder in folders if folder) if f), None)
                        except ValueError as exc:
                            m.problem = ("unsafe_path", f"image {line}: {exc}")
                        m.image_note = f"no image {line}.jpg"
                yield m
        self.notes.append(f"Rule: {EMMEL_RULE}.")
        self.notes.append(f"Images with no usable tag: {sum(outcome.values())} "
                          f"({outcome['no tags']} without tags, {outcome['none of its tags in the caption']} whose tags are not in the caption).")
