"""Benchmark: `emmel view` on a paper-scale dataset.

Generates, directly in the dataset format, a dataset the size of EMMEL: a KB of every entity of the
bundled national ICH list (~3,000), 9,000 original samples on 800 of them (7,200 train, 900 dev,
900 test, λ = 100 candidates chosen as the build chooses them), 1,000 augmented train copies, near-duplicate groups, 1,500 rejects
(600 of them duplicates pointing at kept samples), small photo-like JPEGs (320×240), and a run
folder with predictions of two models for every test query. Then builds the site from scratch,
rebuilds it over itself (thumbnails taken over), and prints the seconds, pages, files and sizes.
Target: the site of the paper-scale dataset in under 1 minute.

    PYTHONPATH=. python bench/view_scale.py [--samples 9000] [--entities 800] [--workdir DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emmel.candidates import CandidateIndex, select_candidates  # noqa: E402
from emmel.dataset import Dataset  # noqa: E402
from emmel.io import sha256_bytes, stable_id  # noqa: E402
from emmel.kg import build_graph  # noqa: E402
from emmel.schema import Entity, Reject, Sample  # noqa: E402
from pages.dataset_site import SiteOptions, build_site  # noqa: E402
from tests.view_fixtures import write_run  # noqa: E402

TEXTS = ["{label}现场，村民身着民族服饰", "{label}的传统表演", "图为{label}活动场景", "{label}传承人在演示技艺", "{region}的{label}"]


def photo(rng: random.Random) -> bytes:
    """A small photo-like JPEG: a smooth random gradient with a few shapes."""
    from PIL import Image, ImageDraw

    low = Image.new("RGB", (4, 3))
    low.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(12)])
    image = low.resize((320, 240), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y, r = rng.randrange(320), rng.randrange(240), rng.randrange(8, 50)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def generate(folder: Path, n_samples: int, n_entities: int, n_augmented: int, n_rejects: int, lam: int, seed: int = 13) -> Path:
    rng = random.Random(seed)
    with open(ROOT / "data" / "ihchina_national_list.csv", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    kb, seen = [], set()
    for row in rows:
        if row["name"] not in seen:
            seen.add(row["name"])
            kb.append(Entity(id=stable_id("E", row["name"]), label=row["name"], category=row["category"], region=row["region"].strip(),
                             description=f"{row['name']}，{row['region'].strip()}申报的{row['category']}项目。", source_urls=[row["detail_url"]]))
    linked = rng.sample(kb, min(n_entities, len(kb)))
    staging = Path(tempfile.mkdtemp(prefix=".bench-", dir=folder.parent))

    def store(data: bytes) -> tuple[str, str]:
        digest = sha256_bytes(data)
        rel = f"images/{digest[:2]}/{digest}.jpg"
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_bytes(data)
        return rel, digest

    samples: dict[str, list[Sample]] = {"train": [], "dev": [], "test": []}
    group = None
    for i in range(n_samples):
        entity = linked[i % len(linked)]
        split = "test" if i % 10 == 0 else "dev" if i % 10 == 1 else "train"
        rel, digest = store(photo(rng))
        sid = stable_id("S", "bench", str(i))
        group = group if (split == "train" and i % 20 == 3) else sid  # every 20th train sample shares its neighbour's group
        samples[split].append(Sample(
            id=sid, image=rel, text=rng.choice(TEXTS).format(label=entity.label, region=entity.region or "当地"), entity_id=entity.id,
            split=split, image_sha256=digest, width=320, height=240, phash=digest[:16], group=group,
            source={"name": "bench", "record_id": f"bench:{i}", "kind": "web", "url": entity.source_urls[0]}, license="© ihchina.cn, research use"))
    train = list(samples["train"])
    for k in range(n_augmented):
        original = train[k % len(train)]
        rel, digest = store(photo(rng))
        samples["train"].append(Sample(
            id=f"{original.id}-rotate{k // len(train)}", image=rel, text=original.text, entity_id=original.entity_id, split="train",
            image_sha256=digest, width=320, height=240, phash=digest[:16], group=original.group, source=original.source,
            license=original.license, augmented_from=original.id, augmentation={"op": "rotate", "params": {"angle": rng.randint(-15, 15)}}))
    index = CandidateIndex(kb, build_graph(kb))  # the build's own hard negatives (same base, similar labels, graph neighbours)
    candidates = {split: {s.id: select_candidates(index, s.entity_id, s.text, lam, seed, s.id) for s in samples[split]} for split in ("dev", "test")}
    originals = [s for split in samples.values() for s in split if s.augmented_from is None]
    rejects = []
    reasons = ["low_resolution", "text_too_short", "not_an_image", "missing_image", "malformed_record"]
    for k in range(n_rejects):
        line = n_samples + k + 1
        if k < 0.4 * n_rejects:
            kept = originals[rng.randrange(len(originals))]
            reason = "near_duplicate_image" if k % 3 else "duplicate_image"
            rejects.append(Reject(record=f"bench/records.jsonl:{line}", reason=reason, detail=f"pHash within 8 bits of {kept.id}",
                                  record_id=f"bench:{line}", source="bench", duplicate_of=kept.id))
        else:
            rejects.append(Reject(record=f"bench/records.jsonl:{line}", reason=reasons[k % len(reasons)], detail="generated",
                                  record_id=f"bench:{line}", source="bench"))
    meta = {"name": "EMMEL-scale", "seed": seed, "lambda": lam, "config": {"bench": True},
            "sources": [{"name": "bench", "kind": "web", "records": n_samples + n_rejects, "records_sha256": "0" * 64}],
            "input_records": n_samples + n_rejects}
    try:
        Dataset(root=staging, kb=kb, samples=samples, candidates=candidates, rejects=rejects, meta=meta).save(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=9000, help="original samples (default 9000; + augmented copies)")
    parser.add_argument("--augmented", type=int, default=1000)
    parser.add_argument("--entities", type=int, default=800, help="entities with samples (the KB is the whole national list)")
    parser.add_argument("--rejects", type=int, default=1500)
    parser.add_argument("--lambda", dest="lam", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None, help="thumbnail processes (default: the CPUs, at most 8)")
    parser.add_argument("--workdir", help="where to write (default: a temporary folder, removed at the end)")
    args = parser.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="emmel-view-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dataset = work / "EMMEL-scale"
        if not (dataset / "manifest.json").exists():
            started = time.perf_counter()
            generate(dataset, args.samples, args.entities, args.augmented, args.rejects, args.lam)
            print(f"generated the dataset in {time.perf_counter() - started:.1f} s: {dataset}")
        loaded = Dataset.load(dataset)
        counts = loaded.counts()
        run = work / "run"
        if not (run / "results.json").exists():
            write_run(run, dataset)
        print(f"dataset: {sum(counts['samples'].values()):,} samples ({counts['kept']:,} originals + {counts['augmented']:,} augmented), "
              f"KB {counts['entities']:,} entities, {counts['rejected']:,} rejects, λ = {counts['candidates_per_sample']}; run: 2 models")
        site = work / "site"
        shutil.rmtree(site, ignore_errors=True)
        options = SiteOptions(workers=args.workers)
        started = time.perf_counter()
        report = build_site(dataset, site, results=run, options=options)
        cold = time.perf_counter() - started
        pages = [p.stat().st_size for p in site.rglob("*.html")]
        index = (site / "assets" / "search-index.js").stat().st_size
        started = time.perf_counter()
        build_site(dataset, site, results=run, options=options, overwrite=True)
        warm = time.perf_counter() - started
        load = os.getloadavg()
        print(f"site from scratch:             {cold:6.1f} s   (target < 60 s)")
        print(f"site rebuilt over itself:      {warm:6.1f} s   (thumbnails taken over from the previous site)")
        print(f"pages: {report.pages:,}   files: {report.files:,}   thumbnails: {report.thumbnails:,}")
        print(f"size: {report.bytes / 1e6:.1f} MB of the site's own files (pages, thumbnails, assets) "
              f"+ {report.linked_bytes / 1e6:.1f} MB of full images hard-linked from the dataset")
        print(f"pages: median {sorted(pages)[len(pages) // 2] / 1e3:.1f} kB, largest {max(pages) / 1e3:.1f} kB; search index {index / 1e6:.2f} MB")
        print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
