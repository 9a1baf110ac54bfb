"""Small, valid EMMEL datasets for tests, written with the Dataset API (no `emmel build` needed).

``make_dataset(folder)`` writes a dataset whose KB holds look-alike labels (春节 vs 春节(查干萨日)),
with generated PNG and JPEG images, train/dev/test samples, augmented train copies, λ candidates per
dev/test sample (gold included, seeded order), a few build rejects and consistent accounting, so
``emmel stats --check`` passes on it. Everything depends only on the arguments.
"""

from __future__ import annotations

import io
import random
import shutil
import tempfile
from pathlib import Path

from emmel.dataset import Dataset
from emmel.io import sha256_bytes, stable_id
from emmel.schema import Entity, Reject, Sample

# (label, category, region): real-looking ICH names with deliberate look-alikes.
ENTITIES = [
    ("春节", "民俗", ""),
    ("春节(查干萨日)", "民俗", "内蒙古自治区"),
    ("那达慕", "民俗", "内蒙古自治区"),
    ("萨满舞(鄂温克族萨满舞)", "传统舞蹈", "内蒙古自治区鄂温克族自治旗"),
    ("萨满舞", "传统舞蹈", "吉林省"),
    ("蒙古族长调民歌", "传统音乐", "内蒙古自治区"),
    ("侗族大歌", "传统音乐", "贵州省黎平县"),
    ("苗族刺绣", "传统美术", "贵州省雷山县"),
    ("藏戏", "传统戏剧", "西藏自治区"),
    ("维吾尔族木卡姆艺术", "传统音乐", "新疆维吾尔自治区"),
    ("泼水节", "民俗", "云南省西双版纳傣族自治州"),
    ("火把节(彝族火把节)", "民俗", "四川省凉山彝族自治州"),
]
TEXTS = ["{label}现场，{region}的村民身着民族服饰", "{label}的传统表演", "图为{label}活动场景", "{category}：{label}"]


def _image(rng: random.Random, fmt: str) -> tuple[bytes, int, int]:
    from PIL import Image, ImageDraw

    width, height = rng.choice([(48, 36), (40, 40), (36, 52)])
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle([x, y, x + rng.randrange(4, 20), y + rng.randrange(4, 20)], fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue(), width, height


def build_dataset(
    staging: Path,
    *,
    n_entities: int = 8,
    samples_per_entity: int = 4,
    lam: int = 5,
    seed: int = 0,
    augment: bool = True,
    build_rejects: int = 2,
) -> Dataset:
    """An in-memory Dataset whose images are written under ``staging``."""
    rng = random.Random(seed)
    specs = [ENTITIES[i % len(ENTITIES)] for i in range(n_entities)]
    kb = []
    for i, (label, category, region) in enumerate(specs):
        if i >= len(ENTITIES):
            label = f"{label}{i // len(ENTITIES) + 1}"
        kb.append(Entity(id=stable_id("E", label), label=label, category=category, region=region,
                         aliases=[f"{label}活动"] if i % 3 == 0 else [], description=f"{label}，{region or '多地'}的{category}项目。",
                         source_urls=[f"https://www.ihchina.cn/project_details/{13000 + i}.html"]))
    samples = {"train": [], "dev": [], "test": []}
    number = 0

    def add_image(fmt: str) -> tuple[str, str, int, int]:
        data, width, height = _image(rng, fmt)
        digest = sha256_bytes(data)
        rel = f"images/{digest[:2]}/{digest}.{'jpg' if fmt == 'JPEG' else 'png'}"
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_bytes(data)
        return rel, digest, width, height

    for entity in kb:
        for k in range(samples_per_entity):
            number += 1
            split = "test" if k == 0 else "dev" if k == 1 else "train"
            record_id = f"factory:{number}"
            sid = stable_id("S", "raw", record_id)
            rel, digest, width, height = add_image("JPEG" if number % 2 else "PNG")
            text = rng.choice(TEXTS).format(label=entity.label, region=entity.region or "当地", category=entity.category)
            sample = Sample(id=sid, image=rel, text=text, entity_id=entity.id, split=split, image_sha256=digest,
                            width=width, height=height, phash=digest[:16], group=sid,
                            source={"name": "raw", "record_id": record_id, "kind": "web", "url": f"https://example.org/{number}.html"},
                            license="CC BY 4.0 (test fixture)")
            samples[split].append(sample)
            if augment and split == "train" and k == 2:
                rel2, digest2, w2, h2 = add_image("PNG")
                samples["train"].append(Sample(id=f"{sid}-rotate0", image=rel2, text=text, entity_id=entity.id, split="train",
                                               image_sha256=digest2, width=w2, height=h2, phash=digest2[:16], group=sid,
                                               source=dict(sample.source), license=sample.license, augmented_from=sid,
                                               augmentation={"op": "rotate", "params": {"angle": 7}}))
    ids = [e.id for e in kb]
    size = min(lam, len(ids))
    candidates = {}
    for split in ("dev", "test"):
        candidates[split] = {}
        for s in samples[split]:
            negatives = [e for e in ids if e != s.entity_id]
            chosen = rng.sample(negatives, size - 1) + [s.entity_id]
            rng.shuffle(chosen)
            candidates[split][s.id] = chosen
    rejects = [Reject(record=f"raw/records.jsonl:{number + i + 1}", reason="low_resolution", detail="min side 120 px < 200",
                      record_id=f"factory:{number + i + 1}", source="raw") for i in range(build_rejects)]
    meta = {
        "name": "EMMEL-test",
        "seed": seed,
        "lambda": lam,
        "config": {"factory": True, "lambda": lam},
        "sources": [{"name": "raw", "kind": "web", "records": number + build_rejects, "records_sha256": "0" * 64}],
        "input_records": number + build_rejects,
    }
    return Dataset(root=staging, kb=kb, samples=samples, candidates=candidates, rejects=rejects, meta=meta)


def make_dataset(folder: str | Path, *, plots: bool = False, **kwargs) -> Path:
    """Write a test dataset to ``folder`` (see ``build_dataset`` for the knobs); returns the folder."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".factory-", dir=folder.parent))
    try:
        build_dataset(staging, **kwargs).save(folder, plots=plots)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
