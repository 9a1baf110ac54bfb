"""MIMIC's cleaned WikiMEL / RichpediaMEL / WikiDiverse (pengfei-luo/MIMIC, KDD'23).

Layout (the three archives alike; RichpediaMEL's names its mention folder ``mention_images/``)::

    WikiMEL/
      kb_entity.json        [{"id": 0, "type": "entity", "entity_name": "<URL-quoted>", "attr": "…", "image_list": ["…jpg"]}, …]
      qid2id.json           {"Q23": 0, …} on ONE line (MIMIC reads it with json.loads(f.readline()))
      WIKIMEL_train.json    [{"mentions": "<URL-quoted>", "sentence": "…", "imgPath": "…", "answer": "Q23"}, …]
      WIKIMEL_dev.json      (prefix RichpediaMEL_ / wiki_diverse_ in the other two; found by itself)
      WIKIMEL_test.json
      kb_image/             entity images, named as in image_list
      mention_image/        mention images: MIMIC opens <stem of imgPath>.jpg whatever imgPath's extension

Faithful to MIMIC's loader: names and mentions are URL-unquoted, a ``"nil"`` answer is a NIL
mention, the image of a mention is ``<imgPath basename up to its first dot>.jpg`` (the file named
as in ``imgPath`` is tried next). Where MIMIC feeds a blank image (no ``imgPath``, a missing or
unreadable file) emmel rejects the mention with ``missing_image``/``not_an_image``: a sample needs
its image. ``imgPath`` values that are absolute or climb out with ``..`` are ``unsafe_path``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from emmel.errors import EmmelError
from importers.base import Importer, KBEntry, Mention
from importers.files import ImageFolder, first_folder

KNOWN_PREFIXES = {"WIKIMEL": "WikiMEL", "RichpediaMEL": "RichpediaMEL", "wiki_diverse": "WikiDiverse"}
SPLIT_FILES = {"train": "train", "dev": "dev", "test": "test"}


class MimicImporter(Importer):
    format = "mimic"
    title = "MIMIC's cleaned WikiMEL / RichpediaMEL / WikiDiverse (kb_entity.json, qid2id.json, <PREFIX>_{train,dev,test}.json)"
    license = "research use; see the benchmark's terms (WikiMEL/RichpediaMEL: seukgcode/MELBench; WikiDiverse: CC BY-SA 4.0)"

    def __init__(self, source, config=None):
        super().__init__(source, config)
        self.prefix = self.config.prefix or self._find_prefix()
        self.id_to_qid: dict[int, str] = {}

    # ------------------------------------------------------------------ layout
    def _find_prefix(self) -> str:
        if not self.source.is_dir():
            raise EmmelError("benchmark folder not found", path=self.source)
        found = sorted(p.name[: -len("_train.json")] for p in self.source.glob("*_train.json")
                       if all((self.source / f"{p.name[: -len('_train.json')]}_{s}.json").is_file() for s in ("dev", "test")))
        if len(found) == 1:
            return found[0]
        if not found:
            raise EmmelError("no <PREFIX>_train/_dev/_test.json split files (e.g. WIKIMEL_train.json); is this MIMIC's layout?",
                             path=self.source)
        raise EmmelError(f"several split-file prefixes ({', '.join(found)}); choose one with --prefix", path=self.source)

    def dataset_name(self) -> str:
        return KNOWN_PREFIXES.get(self.prefix, self.prefix)

    def description(self) -> str:
        return (f"{self.dataset_name()} in MIMIC's cleaned release, imported by `emmel import mimic`: English multimodal entity "
                "linking, each sample a mention in a sentence with its image, linked to a Wikidata entity of `kb.jsonl`.")

    # ------------------------------------------------------------------ KB
    def read_kb(self):
        qids = self.json(self.source / "qid2id.json", first_line=True)
        if not isinstance(qids.data, dict):
            raise EmmelError("expected one JSON object {QID: id}", path=qids.path)
        if qids.repeated:
            self.notes.append(f"qid2id.json repeats {len(qids.repeated)} QID(s), e.g. {qids.repeated[0]}; the first mapping is kept.")
        clashes = []
        for qid, number in qids.data.items():
            if qid.lower() == "nil" or not isinstance(number, int) or isinstance(number, bool):
                continue  # MIMIC maps "nil" too (it looks answers up before skipping NILs); it is no entity
            if number in self.id_to_qid:
                clashes.append(qid)
                continue
            self.id_to_qid[number] = qid
        if clashes:
            self.notes.append(f"qid2id.json maps {len(clashes)} QID(s) to an id already taken, e.g. {clashes[0]}; the first QID keeps it.")
        kb_file = self.json(self.source / "kb_entity.json")
        if not isinstance(kb_file.data, list):
            raise EmmelError("expected a JSON list of entities", path=kb_file.path)
        folder = first_folder(self.source, ("kb_image",))
        if folder is None:
            self.notes.append("No kb_image/ folder: the entities carry no images.")
        images = ImageFolder(folder) if folder else None
        for number, record in enumerate(kb_file.data, start=1):
            yield self._entity(f"kb_entity.json:{number}", record, images)

    def _entity(self, where: str, record, images: ImageFolder | None) -> KBEntry:
        if not isinstance(record, dict):
            return KBEntry(where, "", "", problem=("malformed_record", "an entity must be a JSON object"))
        number, name = record.get("id"), record.get("entity_name")
        if not isinstance(number, int) or isinstance(number, bool):
            return KBEntry(where, "", "", problem=("missing_field", "'id' must be an integer"))
        if not isinstance(name, str) or not name.strip():
            return KBEntry(where, "", "", problem=("missing_field", f"entity {number}: 'entity_name' must be a non-empty string"))
        attr = record.get("attr") or ""
        listed = record.get("image_list") or []
        if not isinstance(attr, str) or not isinstance(listed, list):
            return KBEntry(where, "", "", problem=("malformed_record", f"entity {number}: 'attr' must be a string, 'image_list' a list"))
        qid = self.id_to_qid.get(number) or (record.get("qid") if isinstance(record.get("qid"), str) else "")
        files = []
        for image in listed:
            if images is None or not isinstance(image, str) or not image:
                continue
            try:
                files.append(images.join(image))
            except ValueError:
                files.append(image)  # a str marks a path that failed the check (counted as unsafe_path)
        return KBEntry(where, qid or f"id:{number}", unquote(name).strip(), description=attr.strip(), wikidata=qid, image_files=files)

    # ------------------------------------------------------------------ mentions
    def read_mentions(self):
        folder = Path(self.config.images) if self.config.images else first_folder(self.source, ("mention_image", "mention_images"))
        if folder is None or not folder.is_dir():
            raise EmmelError("no mention_image/ (or mention_images/) folder; pass --images DIR", path=self.source)
        images = ImageFolder(folder)
        self.fallbacks = 0
        for split, suffix in SPLIT_FILES.items():
            name = f"{self.prefix}_{suffix}.json"
            records = self.json(self.source / name)
            if not isinstance(records.data, list):
                raise EmmelError("expected a JSON list of mentions", path=records.path)
            for number, record in enumerate(records.data, start=1):
                yield self._mention(split, f"{name}:{number}", record, images)
        if self.fallbacks:
            self.notes.append(f"{self.fallbacks} mention image(s) were found under imgPath's own name, not <stem>.jpg.")

    def _mention(self, split: str, where: str, record, images: ImageFolder) -> Mention:
        m = Mention(record=where, record_id=where, split=split)
        if not isinstance(record, dict):
            m.problem = ("malformed_record", "a mention must be a JSON object")
            return m
        if isinstance(record.get("id"), (str, int)) and not isinstance(record.get("id"), bool):
            m.source["id"] = record["id"]  # kept, but not the record id: nothing says it is unique per mention
        values = {key: record.get(key) for key in ("mentions", "sentence", "imgPath", "answer")}
        absent = [key for key, value in values.items() if value is None]
        if absent:
            m.problem = ("missing_field", f"no {absent[0]!r}")
            return m
        wrong = [key for key, value in values.items() if not isinstance(value, str)]
        if wrong:
            m.problem = ("malformed_record", f"{wrong[0]!r} must be a string")
            return m
        m.text, m.mention = values["sentence"].strip(), unquote(values["mentions"]).strip()
        m.answer = None if values["answer"].strip().lower() == "nil" else values["answer"].strip()
        if values["imgPath"]:
            m.source["imgPath"] = values["imgPath"]
        path = values["imgPath"]
        if not path:
            m.image_note = "no imgPath (MIMIC would feed a blank image)"
            return m
        try:
            base = images.join(path).name  # refuses absolute paths and '..' before anything is opened
            jpg, own = images.join(base.split(".")[0] + ".jpg"), images.join(base)
        except ValueError as exc:
            m.problem = ("unsafe_path", f"imgPath: {exc}")
            return m
        if jpg.is_file():
            m.image = jpg
        elif own.is_file():
            m.image, self.fallbacks = own, self.fallbacks + 1
        else:
            m.image_note = f"{jpg.name} not in {images.path.name}/"
        return m
