"""The learnable synthetic MEL dataset: valid, deterministic, and its signal split across modalities."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from emmel.dataset import Dataset
from emmel.integrity import check
from tests.synth.learnable import CRAFTS, PLACES, LearnableConfig, write_learnable

CFG = LearnableConfig(crafts=3, places=3, train_per_entity=3, dev_per_entity=1, test_per_entity=2, candidates=6, min_side=80, max_side=140)


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_is_a_valid_dataset_and_byte_identical_per_seed(tmp_path):
    one = write_learnable(tmp_path / "one", CFG, plots=False)
    two = write_learnable(tmp_path / "two", CFG, plots=False)
    assert check(one) == []
    assert files(one) == files(two)
    other = write_learnable(tmp_path / "other", LearnableConfig(**{**CFG.__dict__, "seed": 14}), plots=False)
    assert files(other)["test.jsonl"] != files(one)["test.jsonl"]


def test_image_carries_the_craft_and_text_carries_the_place(tmp_path):
    from PIL import Image

    ds = Dataset.load(write_learnable(tmp_path / "d", CFG, plots=False))
    entities = ds.entities
    crafts = [c for c, _ in CRAFTS[: CFG.crafts]]
    places = [p for p, _ in PLACES[: CFG.places]]
    assert len(ds.kb) == CFG.crafts * (CFG.places + 1)
    assert {e.label for e in ds.kb} >= {"剪纸", f"剪纸({places[0]}剪纸)"}
    colour = defaultdict(list)
    sizes = set()
    for sample in ds.all_samples():
        label = entities[sample.entity_id].label
        craft = next(c for c in crafts if label.startswith(c))
        place = next((p for p in places if p in label), None)
        with Image.open(ds.image_path(sample)) as image:
            sizes.add(image.size)
            pixels = np.asarray(image.convert("RGB"), dtype=float)
        colour[craft].append(np.median(pixels.reshape(-1, 3), axis=0))  # the background dominates
        if place:
            assert place in sample.text and all(p not in sample.text for p in places if p != place)
        else:
            assert all(p not in sample.text for p in places)
    assert len(sizes) > 5  # arbitrary sizes: the benchmark must resize
    centres = {c: np.mean(v, axis=0) for c, v in colour.items()}
    spread = max(np.abs(np.array(v) - centres[c]).max() for c, v in colour.items())
    gap = min(np.abs(centres[a] - centres[b]).max() for a in centres for b in centres if a < b)
    assert gap > 2 * spread  # every image of a craft is nearer its own colour than any other craft's


def test_candidate_sets_hold_the_gold_and_the_hardest_look_alikes(tmp_path):
    ds = Dataset.load(write_learnable(tmp_path / "d", CFG, plots=False))
    entities = ds.entities
    for split in ("dev", "test"):
        for sample in ds.samples[split]:
            ids = ds.candidates[split][sample.id]
            assert len(ids) == CFG.candidates == len(set(ids)) and sample.entity_id in ids
            gold = entities[sample.entity_id].label
            base = gold.split("(")[0]
            same_craft = [e for e in ds.kb if e.label.split("(")[0] == base and e.id != sample.entity_id]
            assert all(e.id in ids for e in same_craft)  # λ-1 = 5 >= the 3 same-craft look-alikes
