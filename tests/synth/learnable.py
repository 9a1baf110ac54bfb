"""A seeded, learnable synthetic MEL dataset for testing and demonstrating the MCR baseline.

The KB is a grid of look-alike entities, the way the real national list is: every *craft* (a real
ICH base name such as 剪纸) has a plain entity ``剪纸`` and one regional variant per *place*
(``剪纸(湘西剪纸)``, ``剪纸(蔚县剪纸)`` ...). The two factors are split over the modalities:

- the **image** carries the craft: a background colour per craft (with jitter) and a foreground
  shape that, only in ``cross_cue_rate`` of the images, is the place's shape (else random);
- the **description** carries the place (its short name, e.g. 湘西; none for the plain entity),
  names the craft itself only in ``cross_cue_rate`` of the texts, and the craft's category
  (shared by two crafts) in about half of them.

So the image alone cannot tell 剪纸(湘西剪纸) from 剪纸(蔚县剪纸), the text alone cannot tell
剪纸(湘西剪纸) from 木雕(湘西木雕), and both together identify the entity. Candidate sets hold
the gold and the hardest negatives first (same craft, then same place, then same category, then
random), like ``emmel build``'s. Everything is generated (and said so in the dataset card);
only the craft names and categories come from the real list.
"""

from __future__ import annotations

import colorsys
import io
import math
import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from emmel.io import sha256_bytes, stable_id

# (craft, category) from data/ihchina_national_list.csv; paired so that each category has two crafts.
CRAFTS = [
    ("剪纸", "传统美术"), ("木雕", "传统美术"),
    ("皮影戏", "传统戏剧"), ("木偶戏", "传统戏剧"),
    ("龙舞", "传统舞蹈"), ("狮舞", "传统舞蹈"),
    ("唢呐艺术", "传统音乐"), ("花儿", "传统音乐"),
]
# (short place name used as the cue word, region field of the KB)
PLACES = [
    ("湘西", "湖南省湘西土家族苗族自治州"), ("蔚县", "河北省蔚县"), ("丹寨", "贵州省丹寨县"),
    ("延边", "吉林省延边朝鲜族自治州"), ("大理", "云南省大理白族自治州"), ("凉山", "四川省凉山彝族自治州"),
    ("泉州", "福建省泉州市"), ("阿坝", "四川省阿坝藏族羌族自治州"), ("喀什", "新疆维吾尔自治区喀什地区"),
    ("黔东南", "贵州省黔东南苗族侗族自治州"),
]
SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "bar", "star", "dot", "frame")

PLACE_TEMPLATES = [
    "{place}老艺人展示作品",
    "流传于{place}的技艺",
    "{place}节日活动现场",
    "{place}村民的手艺",
    "{place}传承人的作品",
]
PLAIN_TEMPLATES = [
    "传统作品的细节",
    "民间艺人展示手艺",
    "节日活动现场",
    "代代相传的手艺",
]


@dataclass
class LearnableConfig:
    """Size and difficulty of the synthetic dataset (defaults: 6 crafts x 5 places, 36 entities)."""

    seed: int = 13
    crafts: int = 6
    places: int = 5
    plain_entities: bool = True
    train_per_entity: int = 8
    dev_per_entity: int = 2
    test_per_entity: int = 2
    candidates: int = 20  # λ
    cross_cue_rate: float = 0.2
    category_rate: float = 0.5
    min_side: int = 160
    max_side: int = 320
    name: str = "EMMEL-synth"

    def __post_init__(self) -> None:
        if not 1 <= self.crafts <= len(CRAFTS) or not 1 <= self.places <= len(PLACES):
            raise ValueError(f"crafts must be in 1..{len(CRAFTS)} and places in 1..{len(PLACES)}")
        if self.candidates < 2:
            raise ValueError("candidates (λ) must be at least 2")


def _hue_rgb(index: int, count: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(index / count, 0.85, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_image(rng: random.Random, colour: tuple[int, int, int], shape: str, min_side: int, max_side: int) -> bytes:
    """One JPEG: jittered background colour, a shape, a few grey distractor dots; arbitrary size."""
    from PIL import Image, ImageDraw

    width, height = rng.randint(min_side, max_side), rng.randint(min_side, max_side)

    def jitter(c: int) -> int:
        return max(0, min(255, c + rng.randint(-25, 25)))

    image = Image.new("RGB", (width, height), tuple(jitter(c) for c in colour))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(3, max(4, min(width, height) // 20))
        grey = rng.randint(90, 170)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(grey, grey, grey))
    side = rng.randint(min(width, height) // 3, int(min(width, height) * 0.6))
    x0, y0 = rng.randint(0, width - side), rng.randint(0, height - side)
    x1, y1, cx, cy = x0 + side, y0 + side, x0 + side // 2, y0 + side // 2
    ink = (250, 250, 250) if rng.random() < 0.5 else (20, 20, 20)
    if shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=ink)
    elif shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=ink)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x0, y1), (x1, y1)], fill=ink)
    elif shape == "cross":
        t = side // 6
        draw.rectangle([cx - t, y0, cx + t, y1], fill=ink)
        draw.rectangle([x0, cy - t, x1, cy + t], fill=ink)
    elif shape == "ring":
        draw.ellipse([x0, y0, x1, y1], outline=ink, width=max(2, side // 8))
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=ink)
    elif shape == "bar":
        draw.rectangle([x0, cy - side // 6, x1, cy + side // 6], fill=ink)
    elif shape == "star":
        points = []
        for k in range(10):
            radius = side / 2 if k % 2 == 0 else side / 5
            angle = math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
        draw.polygon(points, fill=ink)
    elif shape == "dot":
        r = side // 6
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ink)
    else:  # frame
        draw.rectangle([x0, y0, x1, y1], outline=ink, width=max(2, side // 10))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def describe(rng: random.Random, cfg: LearnableConfig, craft: str, category: str, place: str | None) -> str:
    """A description with the place cue (if any), sometimes the craft, sometimes the category."""
    text = rng.choice(PLACE_TEMPLATES).format(place=place) if place else rng.choice(PLAIN_TEMPLATES)
    if rng.random() < cfg.cross_cue_rate:
        text = f"{craft}：{text}"
    if rng.random() < cfg.category_rate:
        text += f"，{category}"
    return text + "。"


def _entities(cfg: LearnableConfig):
    from emmel.schema import Entity

    rows = []  # (entity, craft index, place index or None)
    for c, (craft, category) in enumerate(CRAFTS[: cfg.crafts]):
        if cfg.plain_entities:
            rows.append((Entity(id=stable_id("E", craft), label=craft, category=category, description=f"{craft}（合成数据）"), c, None))
        for p, (place, region) in enumerate(PLACES[: cfg.places]):
            label = f"{craft}({place}{craft})"
            rows.append((Entity(id=stable_id("E", label), label=label, category=category, region=region, description=f"{place}{craft}（合成数据）"), c, p))
    return rows


def _candidates(rng: random.Random, gold: tuple, rows: list, lam: int) -> list[str]:
    """Gold plus the hardest negatives (same craft, same place, same category, random), shuffled."""
    entity, craft, place = gold
    others = [r for r in rows if r[0].id != entity.id]
    tiers = [
        [r for r in others if r[1] == craft],
        [r for r in others if place is not None and r[2] == place],
        [r for r in others if r[0].category == entity.category],
        others,
    ]
    chosen: list[str] = []
    for tier in tiers:
        tier = [r[0].id for r in tier if r[0].id not in chosen]
        rng.shuffle(tier)
        chosen.extend(tier[: max(0, lam - 1 - len(chosen))])
    ids = [entity.id, *chosen[: lam - 1]]
    rng.shuffle(ids)
    return ids


def generate(cfg: LearnableConfig, root: str | Path):
    """Build the dataset in memory; images are written under ``root``. Returns a ``Dataset``."""
    from PIL import Image

    from emmel.dataset import Dataset
    from emmel.schema import Sample

    rng = random.Random(cfg.seed)
    root = Path(root)
    rows = _entities(cfg)
    colours = [_hue_rgb(c, cfg.crafts) for c in range(cfg.crafts)]
    samples: dict[str, list] = {"train": [], "dev": [], "test": []}
    candidates: dict[str, dict[str, list[str]]] = {"dev": {}, "test": {}}
    per_split = (("train", cfg.train_per_entity), ("dev", cfg.dev_per_entity), ("test", cfg.test_per_entity))
    for row in rows:
        entity, craft, place = row
        craft_name, category = CRAFTS[craft]
        place_name = PLACES[place][0] if place is not None else None
        for split, count in per_split:
            for k in range(count):
                record_id = f"{entity.label}:{split}:{k}"
                cue = place is not None and rng.random() < cfg.cross_cue_rate
                shape = SHAPES[place] if cue else rng.choice(SHAPES)
                data = draw_image(rng, colours[craft], shape, cfg.min_side, cfg.max_side)
                digest = sha256_bytes(data)
                rel = f"images/{digest[:2]}/{digest}.jpg"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
                sid = stable_id("S", "synth-learnable", record_id)
                samples[split].append(Sample(
                    id=sid, image=rel, text=describe(rng, cfg, craft_name, category, place_name), entity_id=entity.id,
                    split=split, image_sha256=digest, width=width, height=height, group=sid,
                    source={"name": "synth-learnable", "record_id": record_id, "kind": "synthetic"},
                    license="synthetic data generated by emmel (CC0)",
                ))
                if split in candidates:
                    candidates[split][sid] = _candidates(rng, row, rows, cfg.candidates)
    total = sum(len(v) for v in samples.values())
    meta = {
        "name": cfg.name,
        "seed": cfg.seed,
        "lambda": min(cfg.candidates, len(rows)),
        "config": {"generator": "tests.synth.learnable", **asdict(cfg)},
        "sources": [{"name": "synth-learnable", "kind": "synthetic", "records": total}],
        "notes": [
            "Synthetic learnable dataset: images carry the craft (colour), descriptions carry the place (cue word); "
            "only craft names and categories come from the real national ICH list.",
        ],
        "input_records": total,
    }
    return Dataset(root=root, kb=[r[0] for r in rows], samples=samples, candidates=candidates, meta=meta)


def write_learnable(out: str | Path, cfg: LearnableConfig | None = None, *, overwrite: bool = False, plots: bool = True) -> Path:
    """Generate and save the dataset folder ``out`` (atomically, byte-identical for the same config)."""
    cfg = cfg or LearnableConfig()
    with tempfile.TemporaryDirectory(prefix="emmel-synth-") as tmp:
        dataset = generate(cfg, tmp)
        return dataset.save(out, overwrite=overwrite, plots=plots)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.synth.learnable OUT [--seed S] [--crafts N] [--places N] [--candidates L]``."""
    import argparse

    parser = argparse.ArgumentParser(description="write a learnable synthetic MEL dataset")
    parser.add_argument("out")
    defaults = LearnableConfig()
    for name in ("seed", "crafts", "places", "train_per_entity", "dev_per_entity", "test_per_entity", "candidates"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--cross-cue-rate", type=float, default=defaults.cross_cue_rate)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k not in ("out", "overwrite")}
    path = write_learnable(args.out, LearnableConfig(**values), overwrite=args.overwrite)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
