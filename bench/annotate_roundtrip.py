"""Benchmark: `emmel annotate` export + import of 10,000 tasks (local JSON, no server).

Builds a dataset with a 1,000-entity KB (names from the bundled national ICH list), 10,000 samples
(8,000 train, 1,000 dev, 1,000 test, λ = 100) and tiny generated images; exports the tasks, writes a
Label Studio JSON export in which every task carries one annotation (90 % confirm the link, 6 % pick
another candidate, 2 % NIL, 2 % reject), imports it into a new dataset version and prints the
seconds of each step. Target: export + import under 10 s.

    PYTHONPATH=. python bench/annotate_roundtrip.py [--samples 10000] [--entities 1000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotation.config import ENTITY, NIL, NOTE, REJECT, TO_NAME  # noqa: E402
from annotation.images import ImageURLs  # noqa: E402
from annotation.roundtrip import import_file, make_tasks  # noqa: E402
from annotation.tasks import write_tasks  # noqa: E402
from emmel.dataset import Dataset  # noqa: E402
from emmel.io import sha256_bytes, stable_id  # noqa: E402
from emmel.schema import Entity, Sample  # noqa: E402


def build(folder: Path, n_samples: int, n_entities: int, lam: int, seed: int = 13) -> Path:
    from PIL import Image

    rng = random.Random(seed)
    with open(ROOT / "data" / "ihchina_national_list.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    kb, seen = [], set()
    for row in rows:
        if row["name"] not in seen and len(kb) < n_entities:
            seen.add(row["name"])
            kb.append(Entity(id=stable_id("E", row["name"]), label=row["name"], category=row["category"], region=row["region"],
                             source_urls=[row["detail_url"]]))
    staging = Path(tempfile.mkdtemp(prefix=".bench-", dir=folder.parent))
    samples = {"train": [], "dev": [], "test": []}
    for i in range(n_samples):
        entity = kb[i % len(kb)]
        split = "test" if i % 10 == 0 else "dev" if i % 10 == 1 else "train"
        image = Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, (i // 65536) % 256))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        digest = sha256_bytes(data)
        rel = f"images/{digest[:2]}/{digest}.png"
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_bytes(data)
        sid = stable_id("S", "bench", str(i))
        samples[split].append(Sample(id=sid, image=rel, text=f"{entity.label}的传统活动现场照片{i}", entity_id=entity.id, split=split,
                                     image_sha256=digest, width=8, height=8, phash=digest[:16], group=sid,
                                     source={"name": "bench", "record_id": str(i)}))
    ids = [e.id for e in kb]
    candidates = {}
    for split in ("dev", "test"):
        candidates[split] = {}
        for s in samples[split]:
            chosen = rng.sample([e for e in ids if e != s.entity_id], lam - 1) + [s.entity_id]
            rng.shuffle(chosen)
            candidates[split][s.id] = chosen
    meta = {"name": "EMMEL-bench", "seed": seed, "lambda": lam, "input_records": n_samples}
    try:
        Dataset(root=staging, kb=kb, samples=samples, candidates=candidates, meta=meta).save(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def annotate(tasks: list[dict], seed: int = 7) -> list[dict]:
    """A Label Studio JSON export with one annotation per task."""
    rng = random.Random(seed)
    out = []
    for number, task in enumerate(tasks, start=1):
        current = task["predictions"][0]["result"][0]["value"]["choices"][0]
        roll = rng.random()
        if roll < 0.90:
            result = [{"from_name": ENTITY, "to_name": TO_NAME, "type": "choices", "value": {"choices": [current]}}]
        elif roll < 0.96:
            other = rng.choice([c["value"] for c in task["data"]["candidates"] if c["value"] not in (current, NIL)])
            result = [{"from_name": ENTITY, "to_name": TO_NAME, "type": "choices", "value": {"choices": [other]}}]
        elif roll < 0.98:
            result = [{"from_name": ENTITY, "to_name": TO_NAME, "type": "choices", "value": {"choices": [NIL]}}]
        else:
            result = [{"from_name": REJECT, "to_name": TO_NAME, "type": "choices", "value": {"choices": ["bad_image"]}},
                      {"from_name": NOTE, "to_name": TO_NAME, "type": "textarea", "value": {"text": ["模糊"]}}]
        annotation = {"id": number, "completed_by": 1, "result": result, "was_cancelled": False}
        out.append({"id": number, "data": task["data"], "annotations": [annotation], "predictions": []})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--entities", type=int, default=1_000)
    parser.add_argument("--lam", type=int, default=100)
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="emmel-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        dataset_dir = build(work / "ds", args.samples, args.entities, args.lam)
        print(f"fixture: {args.samples} samples, {args.entities} entities, λ={args.lam} in {time.perf_counter() - start:.1f} s (not timed)")

        start = time.perf_counter()
        dataset = Dataset.load(dataset_dir)
        tasks = make_tasks(dataset, images=ImageURLs(mode="local-files", document_root=str(work)))
        write_tasks(work / "tasks.json", tasks)
        export_s = time.perf_counter() - start
        size = (work / "tasks.json").stat().st_size
        print(f"export: {len(tasks)} tasks, {size / 1e6:.1f} MB in {export_s:.2f} s")

        (work / "export.json").write_text(json.dumps(annotate(tasks), ensure_ascii=False), encoding="utf-8")
        start = time.perf_counter()
        outcome = import_file(dataset_dir, work / "export.json", work / "v2")
        import_s = time.perf_counter() - start
        r = outcome.report
        print(f"import: {r['tasks_seen']} tasks (changed {r['changed']}, nil {r['nil']}, rejected {r['rejected']}, notes {r['notes']}) "
              f"-> new version in {import_s:.2f} s")
        total = export_s + import_s
        print(f"export + import: {total:.2f} s (target < 10 s: {'met' if total < 10 else 'MISSED'})")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
