"""Model-flagged image–text mismatches: the rule that turns pair scores into flags (docs/suspect.md).

A scorer (any :class:`PairScorer`; ``emmel build --clip-model`` and ``emmel flag`` wire in the
baseline's CLIP, ``baseline.mismatch.ClipPairScorer``) gives every original sample two scores:
**image–text** (its image against its own description) and **image–label** (its image against its
entity's label). A pair is far below its entity's typical score when its robust z-score

    z = 0.6745 · (x − median) / MAD        (the modified z-score of Iglewicz & Hoaglin)

is below ``−threshold`` (default 3.5), where median and MAD (median absolute deviation) are those of
the same entity's scored samples; an entity with fewer than ``min_entity_samples`` samples is
compared with all samples (median and MAD of the whole distribution), and an entity's MAD counts as
at least ``mad_floor`` × the global MAD, so an entity whose few scores happen to agree closely does
not turn a small difference into a large z. A sample's z is the lower of its two; only low scores
count. Median and MAD ignore the outliers they are meant to find, which a mean and a standard
deviation would not.

Flagged samples keep their place in the dataset (``Sample.suspect`` holds the scores, the z-scores
and the reason; docs/FORMAT.md) unless ``reject`` is set: then they become rejects with reason
``suspect_mismatch``, so ``input_records = kept + rejected`` still holds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from emmel.config import SuspectConfig
from emmel.errors import EmmelError
from emmel.schema import Sample

REASON = "suspect_mismatch"
CONSISTENCY = 0.6745  # Φ⁻¹(3/4): makes MAD-based z-scores comparable to standard ones on normal data
SCORE_DIGITS = 6  # scores are stored (and judged) rounded, so a dataset's flags can be recomputed from its files
Z_DIGITS = 3
HISTOGRAM_BINS = 30
Z_RANGE = (-20.0, 10.0)  # z-scores beyond are counted in the outermost bins of the histogram
# each score of a pair: (its field, the field of the median it is compared with, its z-score's field, its name)
KINDS = (("image_text", "median_text", "z_text", "image–text"), ("image_label", "median_label", "z_label", "image–label"))


@dataclass(frozen=True)
class PairInput:
    """One original sample as a scorer sees it."""

    sample_id: str
    split: str
    image: Path  # the image file
    text: str  # the sample's description
    label: str  # the label of the entity it is linked to


@dataclass(frozen=True)
class PairScores:
    image_text: float
    image_label: float


class PairScorer(Protocol):
    """Scores pairs (a model from above the core: the build takes it as an argument)."""

    def __call__(self, pairs: Sequence[PairInput]) -> list[PairScores]:
        """One :class:`PairScores` per pair, in order (it may first fit itself on the pairs of the train split)."""

    def describe(self) -> dict:
        """Which model scored, and how it was fitted: ``{"model": str, "fit": dict | None}`` (for the manifest and card)."""


@dataclass
class Flags:
    """The outcome of scoring: each scored sample's ``suspect`` field, and the run's summary (``meta["suspect"]``)."""

    by_sample: dict[str, dict]
    summary: dict

    @property
    def flagged(self) -> list[str]:
        """Ids of the flagged samples, most suspect first."""
        return [sid for sid, _ in sorted(((s, v) for s, v in self.by_sample.items() if v["flagged"]), key=lambda p: (p[1]["z"], p[0]))]


# ------------------------------------------------------------------------------------------ the rule

def median_mad(values: Sequence[float]) -> tuple[float, float]:
    """Median and median absolute deviation."""
    center = statistics.median(values)
    return center, statistics.median(abs(v - center) for v in values)


def robust_z(value: float, center: float, mad: float) -> float:
    """The modified z-score; 0 when the spread is 0 (nothing to compare against)."""
    return CONSISTENCY * (value - center) / mad if mad > 0 else 0.0


def judge(entity_ids: Sequence[str], scores: Sequence[PairScores], config: SuspectConfig) -> list[dict]:
    """The ``suspect`` field of each pair: its scores, their robust z-scores, and whether (and why) it is flagged."""
    out = [{kind: round(float(getattr(s, kind)), SCORE_DIGITS) for kind, *_ in KINDS} for s in scores]
    members: dict[str, list[int]] = {}
    for k, eid in enumerate(entity_ids):
        members.setdefault(eid, []).append(k)
    for kind, median_key, z_key, _ in KINDS:
        values = [field[kind] for field in out]
        g_center, g_mad = median_mad(values)
        for rows in members.values():
            if len(rows) >= config.min_entity_samples:
                center, mad = median_mad([values[k] for k in rows])
                mad, reference, n = max(mad, config.mad_floor * g_mad), "entity", len(rows)
            else:
                center, mad, reference, n = g_center, g_mad, "global", len(values)
            for k in rows:
                out[k].update({z_key: round(robust_z(values[k], center, mad), Z_DIGITS), median_key: round(center, SCORE_DIGITS),
                               "reference": reference, "n": n})
    for field in out:
        field["z"] = min(field["z_text"], field["z_label"])
        field["flagged"] = field["z"] < -config.threshold
        if field["flagged"]:
            field["reason"] = _reason(field, config.threshold)
    return out


def _reason(field: dict, threshold: float) -> str:
    """Why a pair is flagged, in one line: the score(s) below the threshold and what they were compared with."""
    among = f"the {field['n']} samples of its entity" if field["reference"] == "entity" else f"all {field['n']} samples"
    parts = [f"{name} {field[kind]:.3f} vs median {field[median_key]:.3f} (z {field[z_key]:.2f})"
             for kind, median_key, z_key, name in KINDS if field[z_key] < -threshold]
    return f"{'; '.join(parts)} among {among}; flagged below z -{threshold:g}"


def suspect_rank(sample: Sample) -> tuple:
    """Sort key that puts flagged samples first, most suspect (lowest z) first; the others keep their order."""
    return (0, sample.suspect["z"]) if sample.flagged else (1, 0.0)


# ------------------------------------------------------------------------------------------ scoring

def flag_pairs(pairs: Sequence[PairInput], entity_ids: Sequence[str], scorer: PairScorer, config: SuspectConfig) -> Flags:
    """Score ``pairs`` with ``scorer`` and judge them (``entity_ids``: each pair's entity); see the module docstring."""
    if not pairs:
        raise EmmelError("no samples to score for mismatches")
    scores = list(scorer(list(pairs)))
    if len(scores) != len(pairs):
        raise EmmelError(f"the pair scorer returned {len(scores)} scores for {len(pairs)} pairs; please report this")
    broken = next((p for p, s in zip(pairs, scores) if not all(math.isfinite(getattr(s, kind)) for kind, *_ in KINDS)), None)
    if broken is not None:
        raise EmmelError(f"the model gave a non-finite score to sample {broken.sample_id} (image {broken.image}); "
                         "is the checkpoint broken, or the fit's learning rate too high?")
    fields = judge(entity_ids, scores, config)
    by_sample = {p.sample_id: f for p, f in zip(pairs, fields)}
    return Flags(by_sample, summarize(fields, scorer.describe(), config))


def summarize(fields: list[dict], provenance: dict, config: SuspectConfig) -> dict:
    """``meta["suspect"]``: the model and fit, the settings, counts and histograms (the card's plot reads them,
    so it still shows the whole run after flagged samples were rejected or reviewed)."""
    flagged = [f for f in fields if f["flagged"]]
    return {
        "model": provenance.get("model", ""),
        "fit": provenance.get("fit"),
        "settings": config.settings(),
        "scored": len(fields),
        "flagged": len(flagged),
        "rejected": len(flagged) if config.reject else 0,
        "reference": {ref: sum(1 for f in fields if f["reference"] == ref) for ref in ("entity", "global")},
        "histograms": {
            "z": histogram([f["z"] for f in fields], Z_RANGE, flagged=[f["z"] for f in flagged]),
            **{kind: histogram([f[kind] for f in fields], (-1.0, 1.0)) for kind, *_ in KINDS},
        },
    }


def summary_line(summary: dict) -> str:
    """One line on a flagging run (``meta["suspect"]``) for the terminal."""
    fate = f", moved to the rejects ({summary['rejected']})" if summary["rejected"] else "; emmel annotate export puts them first"
    return f"suspect pairs: {summary['flagged']} of {summary['scored']} samples flagged by {summary['model']}{fate}"


def histogram(values: list[float], bounds: tuple[float, float], *, flagged: list[float] | None = None) -> dict:
    """Counts in ``HISTOGRAM_BINS`` equal bins between the data's range clipped to ``bounds`` (outliers in the end bins)."""
    lo = max(bounds[0], min(values))
    hi = min(bounds[1], max(values))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / HISTOGRAM_BINS

    def counts(vals: list[float]) -> list[int]:
        out = [0] * HISTOGRAM_BINS
        for v in vals:
            out[min(HISTOGRAM_BINS - 1, max(0, int((v - lo) // width)))] += 1
        return out

    edges = [round(lo + k * width, 6) for k in range(HISTOGRAM_BINS + 1)]
    return {"edges": edges, "counts": counts(values), **({"flagged": counts(flagged)} if flagged is not None else {})}
