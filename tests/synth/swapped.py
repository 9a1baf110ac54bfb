"""A learnable dataset in which some captions were swapped between entities: the fixture of the
mismatch flags (``emmel.suspect``, ``emmel flag``, ``emmel build --clip-model``).

It is :mod:`tests.synth.learnable` with every description naming its craft and every image showing
its place's shape (``cross_cue_rate = 1``), so image and description agree in two ways a tiny CLIP
learns in a few epochs (colour ↔ craft, shape ↔ place). ``n_pairs`` pairs of samples of different
crafts and places then trade descriptions: their image–text pairs are the mismatches a model should
rank lowest.
The same data can be written as a raw source, for ``emmel build``.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from tests.synth.learnable import LearnableConfig, generate


def swapped_config(**overrides) -> LearnableConfig:
    """4 crafts × 3 places (16 entities with the 4 plain ones, 12 samples each), small images, descriptions that name
    the craft (and the place, but for plain entities)."""
    values = dict(crafts=4, places=3, cross_cue_rate=1.0, category_rate=0.0, min_side=48, max_side=72, candidates=6,
                  name="EMMEL-swapped")
    values.update(overrides)
    return LearnableConfig(**values)


def swap_captions(dataset, n_pairs: int, seed: int = 0) -> set[str]:
    """Swap the descriptions of ``n_pairs`` pairs of original samples whose entities differ in craft and in place
    (so the description disagrees with both the colour and the shape of the image; each sample in at most one
    pair); returns the ids of the swapped samples. Changes ``dataset`` in place."""
    entities = dataset.entities
    kind = {eid: (e.label.split("(")[0], e.region) for eid, e in entities.items()}  # (craft, place)
    originals = sorted((s for s in dataset.all_samples() if s.augmented_from is None), key=lambda s: s.id)
    rng = random.Random(seed)
    rng.shuffle(originals)
    swapped: set[str] = set()
    for a in originals:
        if len(swapped) == 2 * n_pairs:
            break
        if a.id in swapped:
            continue
        b = next((b for b in originals if b.id not in swapped and b.id != a.id
                  and all(x != y for x, y in zip(kind[a.entity_id], kind[b.entity_id]))), None)
        if b is None:
            break
        a.text, b.text = b.text, a.text
        swapped |= {a.id, b.id}
    if len(swapped) != 2 * n_pairs:
        raise ValueError(f"could not swap {n_pairs} pairs")
    return swapped


def write_swapped_dataset(out: str | Path, n_pairs: int = 3, *, cfg: LearnableConfig | None = None, seed: int = 0) -> set[str]:
    """The dataset folder ``out`` with ``n_pairs`` captions swapped; returns the swapped sample ids."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="emmel-swapped-") as tmp:
        dataset = generate(cfg or swapped_config(), tmp)
        swapped = swap_captions(dataset, n_pairs, seed)
        dataset.save(out)
    return swapped


def write_swapped_source(folder: str | Path, n_pairs: int = 3, *, cfg: LearnableConfig | None = None, seed: int = 0) -> set[str]:
    """The same data as a raw source folder (``records.jsonl`` + images) for ``emmel build``; returns the record ids
    of the swapped samples."""
    import tempfile

    from emmel.sources.raw import RawRecord, RawSourceWriter

    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="emmel-swapped-") as tmp:
        dataset = generate(cfg or swapped_config(), tmp)
        swapped = swap_captions(dataset, n_pairs, seed)
        entities = dataset.entities
        folder.mkdir(parents=True)
        with RawSourceWriter(folder, kind="synthetic") as out:
            for sample in sorted(dataset.all_samples(), key=lambda s: s.id):
                entity = entities[sample.entity_id]
                target = folder / sample.image
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(tmp) / sample.image, target)
                out.write(RawRecord(record_id=sample.source["record_id"], title=entity.label, text=sample.text, image=sample.image,
                                    category=entity.category, region=entity.region, license=sample.license))
    return {s.source["record_id"] for s in dataset.all_samples() if s.id in swapped}
