"""Fixtures for the site tests: a benchmark run folder in the format `emmel benchmark` writes
(``results.json`` + ``predictions/<model>.jsonl``), and a browser helper that opens a page and
collects what went wrong on it."""

from __future__ import annotations

import json
import random
from pathlib import Path

from emmel.dataset import Dataset


def write_run(folder: Path, dataset_dir: Path, models=("mcr", "clip-zeroshot"), seed: int = 0) -> Path:
    """A run folder for ``dataset_dir``: every test query ranked over its stored candidates, the
    gold at a seeded rank (sometimes first, sometimes missing from the top 10)."""
    dataset = Dataset.load(dataset_dir)
    rng = random.Random(seed)
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    results = {"dataset": {"name": dataset.meta.get("name"), "kb_sha256": "", "lambda": dataset.meta.get("lambda")}, "results": {}}
    for model in models:
        lines, hits = [], 0
        for sample in sorted(dataset.samples["test"], key=lambda s: s.id):
            ids = list(dataset.candidates["test"][sample.id])
            rng.shuffle(ids)
            ranked = [{"id": eid, "score": round(1 - k * 0.07, 3), "scores": {"visual": round(rng.random(), 3), "text": round(rng.random(), 3)}}
                      for k, eid in enumerate(ids[:10])]
            rank = next((k + 1 for k, r in enumerate(ranked) if r["id"] == sample.entity_id), None)
            hits += rank == 1
            lines.append({"sample_id": sample.id, "gold": sample.entity_id, "gold_rank": rank, "ranked": ranked, "protocol": "candidates"})
        (folder / "predictions" / f"{model}.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
        n = max(1, len(lines))
        results["results"][model] = {"test": {"top1": 100 * hits / n, "top5": 50.0, "top10": 80.0}}
    (folder / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    return folder


class PageProblems:
    """Open a site page in a fresh tab; ``errors`` holds console errors, page errors, failed loads and dialogs."""

    def __init__(self, browser, uri: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        # a load cut short by the next navigation (net::ERR_ABORTED) is not a broken link
        self.page.on("requestfailed", lambda r: "ERR_ABORTED" not in (r.failure or "") and self.errors.append(f"failed: {r.url} {r.failure}"))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.goto(uri)

    def goto(self, uri: str) -> None:
        self.page.goto(uri)
        self.page.wait_for_load_state("load")

    def images(self) -> list[dict]:
        """Every <img>, loaded (lazy ones too): src and natural size."""
        return self.page.evaluate(
            """async () => {
                const imgs = [...document.images];
                for (const img of imgs) { img.loading = 'eager'; }
                await Promise.all(imgs.map(img => img.decode().catch(() => null)));
                return imgs.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth}));
            }"""
        )

    def close(self) -> None:
        self.page.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
