"""GHMFC's Richpedia-MEL / WikiMEL layout (seukgcode/MEL-GHMFC ``datasets/``, also MELBench-style records).

Layout::

    Richpedia-MEL/
      train.json            {"<key>": {"id": "Q78513", "sentence": "…", "mentions": "…", "entities": "…", "answer": "Q78513"}, …}
      test.json             (same; there is no dev file)
      qid2ne.json           {"Q23": "George Washington", …}   the KB's names
      qid2abs.json          {"Q23": "Occupation: politician, …", …}   descriptions (optional)
      img_list.json         ["raw_data/imgs/Q32529.jpg", …]   (optional; read for provenance)
      images/               mention images named <record "id">.<ext> (also imgs/)
      search_top100.json    {"<mention string>": ["Q…" × 100], …}   candidate lists (optional)

GHMFC reads each record's ``sentence``, ``mentions``, ``answer`` and its ``id`` (which names the
image), and looks candidate lists up by the mention string. The lists were made by fuzzy string
matching and do not always hold the gold: emmel keeps them as shipped and counts a missing gold
as a miss. There is no dev split: ``--dev-fraction`` of train (seeded by ``--seed``) becomes dev,
and the card and manifest say so.
"""

from __future__ import annotations

import random
from pathlib import Path

from emmel.errors import EmmelError
from importers.base import Importer, KBEntry, Mention
from importers.files import ImageFolder, first_folder


class GhmfcImporter(Importer):
    format = "ghmfc"
    title = "GHMFC's Richpedia-MEL / WikiMEL (train.json, test.json, qid2ne.json, qid2abs.json, search_top100.json)"
    license = "research use; see seukgcode/MEL-GHMFC"
    candidate_file = "search_top100.json"

    def description(self) -> str:
        return (f"{self.dataset_name()} in GHMFC's layout, imported by `emmel import ghmfc`: English multimodal entity linking, "
                "each sample a mention in a sentence with its image, linked to a Wikidata entity of `kb.jsonl`.")

    def read_kb(self):
        names = self.json(self.source / "qid2ne.json")
        if not isinstance(names.data, dict):
            raise EmmelError("expected one JSON object {QID: name}", path=names.path)
        abstracts = {}
        if (self.source / "qid2abs.json").is_file():
            abstracts = self.json(self.source / "qid2abs.json").data
            if not isinstance(abstracts, dict):
                raise EmmelError("expected one JSON object {QID: abstract}", path=self.source / "qid2abs.json")
        else:
            self.notes.append("No qid2abs.json: the entities have no descriptions.")
        if names.repeated:
            self.notes.append(f"qid2ne.json repeats {len(names.repeated)} QID(s), e.g. {names.repeated[0]}; the first name is kept.")
        for number, (qid, name) in enumerate(names.data.items(), start=1):
            where = f"qid2ne.json:{number}"
            if not isinstance(name, str) or not name.strip():
                yield KBEntry(where, qid, "", problem=("missing_field", f"{qid}: the name must be a non-empty string"))
                continue
            abstract = abstracts.get(qid, "")
            yield KBEntry(where, qid, name.strip(), description=abstract.strip() if isinstance(abstract, str) else "",
                          wikidata=qid if qid[:1] == "Q" and qid[1:].isdigit() else "")

    def read_mentions(self):
        folder = Path(self.config.images) if self.config.images else first_folder(self.source, ("images", "imgs", "img"))
        if folder is None or not folder.is_dir():
            raise EmmelError("no images/ (or imgs/) folder of mention images; pass --images DIR", path=self.source)
        images = ImageFolder(folder)
        if (self.source / "img_list.json").is_file():
            self.remember(self.source / "img_list.json")
        lists = self._candidate_lists()
        fraction = self.config.dev_fraction
        if not 0 < fraction < 1:
            raise EmmelError(f"--dev-fraction must be between 0 and 1, got {fraction}")
        train = self._records("train.json")
        keys = sorted({key for key, _, _ in train})
        random.Random(self.config.seed).shuffle(keys)
        dev = set(keys[: round(len(keys) * fraction)])
        self.split_policy = {"official_splits": True,
                             "dev": f"dev carved from train: {len(dev)} of {len(train)} train records ({fraction:.0%}, seed {self.config.seed}); "
                                    "train and test as published"}
        for key, where, record in train:
            yield self._mention("dev" if key in dev else "train", key, where, record, images, lists)
        for key, where, record in self._records("test.json"):
            yield self._mention("test", key, where, record, images, lists)

    def _records(self, name: str) -> list[tuple[str, str, object]]:
        parsed = self.json(self.source / name)
        if not isinstance(parsed.data, dict):
            raise EmmelError("expected one JSON object {key: record}", path=parsed.path)
        rows = [(key, f"{name}:{number}", record) for number, (key, record) in enumerate(parsed.data.items(), start=1)]
        # a repeated key: json.load keeps the last silently; here the first is kept and the others rejected
        rows += [(key, f"{name}:repeated {key}", None) for key in parsed.repeated]
        return rows

    def _candidate_lists(self) -> dict | None:
        if self.config.candidates == "generated":
            return None
        if not (self.source / self.candidate_file).is_file():
            if self.config.candidates == "imported":
                raise EmmelError(f"no {self.candidate_file} to import", path=self.source)
            self.candidate_file = ""  # none shipped: emmel generates its own
            self.notes.append("No search_top100.json: candidates generated by emmel.")
            return None
        parsed = self.json(self.source / self.candidate_file)
        if not isinstance(parsed.data, dict):
            raise EmmelError("expected one JSON object {mention: [QID, …]}", path=parsed.path)
        malformed = [m for m, ids in parsed.data.items() if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)]
        if malformed:
            self.notes.append(f"{len(malformed)} list(s) of {self.candidate_file} are not lists of QIDs (e.g. {malformed[0]!r}); "
                              "their mentions have no candidates (each a miss).")
        return {m: ids for m, ids in parsed.data.items() if m not in malformed}

    def _mention(self, split, key, where, record, images: ImageFolder, lists: dict | None) -> Mention:
        m = Mention(record=where, record_id=key, split=split)
        if record is None:
            m.problem = ("duplicate_record", f"key {key!r} appears more than once in the file (the first is kept)")
            return m
        if not isinstance(record, dict):
            m.problem = ("malformed_record", "a record must be a JSON object")
            return m
        values = {name: record.get(name) for name in ("sentence", "mentions", "answer")}
        absent = [name for name, value in values.items() if value is None]
        if absent:
            m.problem = ("missing_field", f"no {absent[0]!r}")
            return m
        if not all(isinstance(value, str) for value in values.values()):
            m.problem = ("malformed_record", "'sentence', 'mentions' and 'answer' must be strings")
            return m
        m.text, m.mention = values["sentence"].strip(), values["mentions"].strip()
        m.answer = None if values["answer"].strip().lower() == "nil" else values["answer"].strip()
        image_id = record.get("id", key)
        try:
            m.image = images.by_stem(str(image_id)) if isinstance(image_id, (str, int)) else None
        except ValueError as exc:
            m.problem = ("unsafe_path", f"image of {image_id}: {exc}")
        m.image_note = f"no image named {image_id}.* in {images.path.name}/"
        if lists is not None:
            m.candidates = lists.get(values["mentions"], [])
        return m
