"""Format-faithful miniatures of the field's MEL benchmarks, written by the tests themselves.

Each ``write_*`` lays out a folder the way its authors distribute it (see docs/benchmarks.md for
the sources), with the quirks the importer must survive, and returns a ``Layout`` that says what an
import must find: how many mention records, which rejects, which golds are missing from shipped
candidate lists. ``bench/import_scale.py`` calls ``write_mimic`` at WikiMEL's size.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

NAMES = ["Barack Obama", "Café Tacvba", "Ludwig van Beethoven", "Ada Lovelace", "Spider-Man", "Lions (band)",
         "Detroit Lions", "Green Bay Packers", "Marie Curie", "Otto Weininger", "São Paulo", "Mount Everest"]


@dataclass
class Layout:
    root: Path
    records: int  # mention records in the split files
    rejects: dict[str, int] = field(default_factory=dict)  # reason -> count an import must report
    samples: dict[str, int] = field(default_factory=dict)  # split -> kept samples
    missing_gold: dict[str, int] = field(default_factory=dict)  # split -> golds absent from shipped lists
    entities: int = 0


def image_bytes(k: int, fmt: str = "JPEG", size: tuple[int, int] = (32, 24)) -> bytes:
    """A small image whose pixels depend on ``k`` (distinct bytes for distinct k)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, ((37 * k) % 256, (91 * k) % 256, (k // 256 * 53 + 17) % 256))
    draw = ImageDraw.Draw(image)
    draw.rectangle([k % size[0], 0, k % size[0] + 5, size[1] // 2], fill=((k * 7) % 256, 200, 40))
    draw.rectangle([0, size[1] - 4, 3, size[1] - 1], fill=((k >> 16) & 255, (k >> 8) & 255, k & 255))  # k itself
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def entity_name(k: int) -> str:
    return NAMES[k] if k < len(NAMES) else f"{NAMES[k % len(NAMES)]} {k // len(NAMES)}"


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _dump(path: Path, obj, *, indent: int | None = 2) -> None:
    _write(path, json.dumps(obj, ensure_ascii=indent is None, indent=indent))


# --------------------------------------------------------------------------------------- MIMIC
def write_mimic(root: Path, *, prefix: str = "WIKIMEL", mention_dir: str = "mention_image", entities: int = 12,
                mentions: tuple[int, int, int] = (10, 5, 5), quirks: bool = True, image_size=(32, 24),
                kb_images: int = 1, progress=None) -> Layout:
    """MIMIC's cleaned layout. Quirks (with ``quirks``): URL-quoted names and mentions, a one-line
    qid2id.json that also maps "nil", imgPath with another folder and extension than the .jpg on
    disk, one 'nil' answer, one imgPath '', one image file absent, one kb image_list name absent."""
    root.mkdir(parents=True, exist_ok=True)
    kb, qid2id = [], {}
    for k in range(entities):
        qid = f"Q{1000 + k}"
        qid2id[qid] = k
        listed = [f"{qid}_{j}.jpg" for j in range(kb_images)]
        kb.append({"id": k, "type": "entity", "entity_name": quote(entity_name(k)),
                   "attr": f"{entity_name(k)} is entity {k}; occupation: example {k % 5}.", "image_list": listed})
        for j, name in enumerate(listed):
            if not (quirks and k == 1 and j == 0):  # quirk: a listed kb image that is not on disk
                _write(root / "kb_image" / name, image_bytes(100_000 + k * 8 + j, "JPEG", image_size))
        if progress:
            progress(k)
    qid2id["nil"] = entities  # MIMIC looks every answer up, "nil" too, before skipping NILs
    _dump(root / "kb_entity.json", kb)
    _write(root / "qid2id.json", json.dumps(qid2id))  # ONE line
    layout = Layout(root, 0, entities=entities)
    number = 0
    for split, count in zip(("train", "dev", "test"), mentions):
        rows = []
        for i in range(count):
            number += 1
            k = (number * 7) % entities
            name = entity_name(k)
            stem = f"{number:05d}"
            row = {"id": f"{split}-{i}", "mentions": quote(name.split(" (")[0]), "sentence": f"A photo of {name} taken in {2000 + number % 20}.",
                   "imgPath": f"{prefix}_images/{stem}.png", "answer": f"Q{1000 + k}"}
            if quirks and split == "train" and i == 1:
                row["answer"] = "nil"
                layout.rejects["nil_answer"] = layout.rejects.get("nil_answer", 0) + 1
            elif quirks and split == "train" and i == 2:
                row["imgPath"] = ""
                layout.rejects["missing_image"] = layout.rejects.get("missing_image", 0) + 1
            elif quirks and split == "dev" and i == 0:
                layout.rejects["missing_image"] = layout.rejects.get("missing_image", 0) + 1  # its file is absent
            else:
                layout.samples[split] = layout.samples.get(split, 0) + 1
            if row["imgPath"] and not (quirks and split == "dev" and i == 0):
                _write(root / mention_dir / f"{stem}.jpg", image_bytes(number, "JPEG", image_size))
            rows.append(row)
            if progress:
                progress(number)
        _dump(root / f"{prefix}_{split}.json", rows, indent=None)
    layout.records = number
    return layout


def write_candidates_tsv(layout: Layout, path: Path, *, prefix: str = "WIKIMEL", size: int = 8, missing: int = 2) -> int:
    """Candidate lists for the dev/test mentions of a ``write_mimic`` layout, one line per mention
    (``<file>:<n><TAB><QID>…``, the record ids of a MIMIC import); the first ``missing`` kept test mentions get a list without their gold.
    Returns how many kept test samples lack their gold."""
    qids = sorted(json.loads((layout.root / "qid2id.json").read_text()), key=lambda q: (len(q), q))
    qids = [q for q in qids if q != "nil"]
    lines, dropped = [], 0
    for split in ("dev", "test"):
        for number, row in enumerate(json.loads((layout.root / f"{prefix}_{split}.json").read_text()), start=1):
            gold = row["answer"]
            others = [q for q in qids if q != gold][: size - 1]
            stem = row["imgPath"].rsplit("/", 1)[-1].split(".")[0]
            kept = row["answer"] != "nil" and row["imgPath"] and (layout.root / "mention_image" / f"{stem}.jpg").exists()
            if split == "test" and kept and dropped < missing:
                dropped += 1
                lines.append("\t".join([f"{prefix}_{split}.json:{number}", *others]))
            else:
                lines.append("\t".join([f"{prefix}_{split}.json:{number}", *others[:3], gold, *others[3:]]))
    _write(path, "\n".join(lines) + "\n")
    return dropped


# --------------------------------------------------------------------------------------- GHMFC
def write_ghmfc(root: Path, *, entities: int = 14, train: int = 12, test: int = 6) -> Layout:
    """GHMFC's Richpedia-MEL layout: records keyed by QID, images named by record id, fuzzy-search
    candidate lists keyed by the mention string that miss some golds (and one mention with no list)."""
    root.mkdir(parents=True, exist_ok=True)
    qids = [f"Q{200 + k}" for k in range(entities)]
    _dump(root / "qid2ne.json", {q: entity_name(k) for k, q in enumerate(qids)})
    _dump(root / "qid2abs.json", {q: f"Occupation: example {k % 4}. Languages: English." for k, q in enumerate(qids)})
    layout = Layout(root, train + test, entities=entities)
    lists, img_list = {}, []
    for split, count, offset in (("train", train, 0), ("test", test, train)):
        records = {}
        for i in range(count):
            k = (offset + i) % entities
            key = qids[k] if offset + i < entities else f"{qids[k]}-{i}"
            mention = entity_name(k).split(" ")[-1] if k % 2 else entity_name(k)
            if split == "test" and i == 2:
                mention += " Jr."  # a mention the search file has no list for
            records[key] = {"id": key, "sentence": f"{entity_name(k)} was a notable person from example {k}.",
                            "mentions": mention, "entities": entity_name(k), "answer": qids[k]}
            _write(root / "images" / f"{key}.jpg", image_bytes(500 + offset + i))
            img_list.append(f"raw_data/imgs/{key}.jpg")
            others = [q for q in qids if q != qids[k]]
            if split == "test" and i < 2:
                lists[mention] = others  # the fuzzy search missed the gold
                layout.missing_gold["test"] = layout.missing_gold.get("test", 0) + 1
            elif split == "test" and i == 2:
                layout.missing_gold["test"] = layout.missing_gold.get("test", 0) + 1  # no list at all for this mention
            else:
                lists[mention] = [qids[k], *others][: min(100, entities)]
        _dump(root / f"{split}.json", records)
    _dump(root / "img_list.json", img_list, indent=None)
    _dump(root / "search_top100.json", lists)
    return layout


# --------------------------------------------------------------------------------------- WikiDiverse
def wikinews_file(img_url: str) -> str:
    """The archive's name for an image URL (README of wangxw5/wikiDiverse), written independently of the importer."""
    name = img_url.rsplit("/", 1)[-1]
    digest = hashlib.md5(name.encode()).hexdigest()
    _stem, dot, ext = name.rpartition(".")
    suffix = "." + ext if dot and ext in ("jpg", "JPG", "png", "PNG", "svg", "SVG", "jpeg", "JPEG") else name
    return (digest + suffix).replace(".svg", ".png").replace(".SVG", ".png")


def write_wikidiverse(root: Path, *, entities: int = 12, per_split: tuple[int, int, int] = (8, 4, 4)) -> Layout:
    """Mention-level lists with 10 candidates; gold URLs with a stray first character, a 'nil'
    answer, candidates as titles or URLs (some lists miss the gold), md5-named images (an svg saved
    as png, a gif under md5+name), entity2desc lines joined by @@@@."""
    desc = [f"{entity_name(k).replace(' ', '_')}@@@@{entity_name(k)} is a page about example {k}." for k in range(entities)]
    _write(root / "entity2desc.tsv", "\n".join(desc) + "\n")
    layout = Layout(root, sum(per_split), entities=entities)
    n = 0
    for split, count, name in zip(("train", "dev", "test"), per_split, ("train", "valid", "test")):
        rows = []
        for i in range(count):
            n += 1
            k = (n * 5) % entities
            title = entity_name(k)
            ext = {1: "svg", 2: "gif"}.get(n % 7, "jpg")
            img_url = f"https://upload.wikimedia.org/wikinews/en/{n % 9}/{n:02d}/Photo_{n}_of_{quote(title.replace(' ', '_'))}.{ext}"
            url = "https://en.wikipedia.org/wiki/" + quote(title.replace(" ", "_"))
            if n == 3:
                url = "n" + url  # the release's stray first character
            cands = [entity_name((k + j) % entities) for j in range(10)]
            cands[3] = "https://en.wikipedia.org/wiki/" + quote(cands[3].replace(" ", "_"))
            kept = True
            if split == "train" and i == 0:
                url = "nil"
                layout.rejects["nil_answer"] = layout.rejects.get("nil_answer", 0) + 1
                kept = False
            elif split == "test" and i < 2:
                cands = [c for c in cands if c != title]  # retrieval missed the gold
                layout.missing_gold["test"] = layout.missing_gold.get("test", 0) + 1
            if kept:
                layout.samples[split] = layout.samples.get(split, 0) + 1
            rows.append([f"{title} at an event in {2010 + n}.", img_url, title.split(" (")[0], "Person",
                         [], [], url, cands, "sports", 0, len(title.split(" (")[0])])
            _write(root / "wikinews_images" / wikinews_file(img_url), image_bytes(900 + n, "PNG" if ext != "jpg" else "JPEG"))
        _dump(root / "wikidiverse_w_cands" / f"{name}_w_10cands.json", rows)
    return layout


# --------------------------------------------------------------------------------------- COCO-CN
COCO = [("一个男人在网球场上打网球。", "男人 网球 网球场"), ("两只猫躺在沙发上睡觉。", "猫 沙发"), ("桌子上放着一盘水果和蛋糕。", "桌子 水果 蛋糕"),
        ("一列火车停在车站。", "火车 车站"), ("海滩上有很多人在冲浪。", "海滩 冲浪 人群"), ("一只狗在草地上奔跑。", "狗 草地"),
        ("厨房里有一个冰箱。", "厨房 冰箱"), ("街道上停着一辆红色汽车。", "街道 汽车 红色"), ("天空中飞着一架飞机。", "飞机 天空")]


def write_coco_cn(root: Path, *, per_split: tuple[int, int, int] = (9, 3, 3)) -> Layout:
    """COCO-CN's text files plus MS-COCO images; one image without tags, one whose tags are not in its caption."""
    layout = Layout(root, sum(per_split))
    captions, tags = [], []
    n = 0
    for split, count in zip(("train", "val", "test"), per_split):
        ids = []
        for _ in range(count):
            n += 1
            image = f"COCO_{'val' if n % 3 == 0 else 'train'}2014_{n:012d}"
            ids.append(image)
            caption, words = COCO[n % len(COCO)]
            captions.append(f"{image}#0\t{caption}")
            if n % 4 == 1:
                captions.append(f"{image}#1\t另一句描述。")
            if n == 2:
                layout.rejects["no_usable_tag"] = layout.rejects.get("no_usable_tag", 0) + 1  # no tag line at all
            elif n == 5:
                tags.append(f"{image} 桌面 盘子")  # tags, none in the caption
                layout.rejects["no_usable_tag"] = layout.rejects.get("no_usable_tag", 0) + 1
            else:
                tags.append(f"{image} {words}")
                key = {"train": "train", "val": "dev", "test": "test"}[split]
                layout.samples[key] = layout.samples.get(key, 0) + 1
            folder = "val2014" if "val2014" in image else "train2014"
            _write(root / folder / f"{image}.jpg", image_bytes(1500 + n))
        _write(root / f"coco-cn_{split}.txt", "\n".join(ids) + "\n")
    _write(root / "imageid.human-written-caption.txt", "\n".join(captions) + "\n")
    _write(root / "imageid.human-written-tags.txt", "\n".join(tags) + "\n")
    return layout
