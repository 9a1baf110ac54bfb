"""Every threshold of ``emmel build`` in one dataclass tree, loaded from TOML and overridable.

>>> cfg = load_config(None, overrides=["clean.min_side=256", "seed=7"])
>>> cfg.clean.min_side, cfg.seed
(256, 7)

A TOML file uses the same names (see data/build.toml)::

    seed = 13
    [clean]
    min_side = 200
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from emmel.errors import EmmelError
from emmel.textfiles import check_encoding


@dataclass
class NormalizeConfig:
    nfkc: bool = True  # full-width -> half-width, compatibility forms
    collapse_whitespace: bool = True
    t2s: bool = True  # traditional -> simplified Chinese (OpenCC tables)


@dataclass
class CleanConfig:
    min_side: int = 200  # pixels; smaller images are rejected (low_resolution)
    max_aspect: float = 3.0  # longer/shorter side; beyond is extreme_aspect_ratio
    max_pixels: int = 89_478_485  # decompression-bomb limit (Pillow's default); every image opener uses it
    max_bytes: int = 256 << 20  # bytes of one image file (an uncompressed RGB image at max_pixels fits)
    min_text_len: int = 2  # characters after normalisation
    max_text_len: int = 200


@dataclass
class DedupConfig:
    image_radius: int = 8  # pHash Hamming distance: near-duplicate images of one entity (rejected)
    conflict_radius: int = 4  # near-exact copies linked to two different entities (image_entity_conflict)
    group_radius: int = 12  # looser radius: similar images are kept but stay in one split
    text_threshold: float = 0.8  # Jaccard of character n-grams for near-duplicate texts
    text_ngram: int = 2
    text_mode: str = "group"  # "group": keep, but in one split; "reject": keep one per entity


@dataclass
class SplitConfig:
    train: float = 0.8
    dev: float = 0.1
    test: float = 0.1
    min_train_per_entity: int = 1  # groups of an entity that go to train before any eval split


@dataclass
class AugmentConfig:
    enabled: bool = True
    ops: list[str] = field(default_factory=lambda: ["rotate", "translate"])
    copies: int = 1  # outputs per op per training image
    rotate_limit: float = 15.0  # degrees
    translate_limit: float = 0.1  # fraction of the side
    jpeg_quality: int = 95


@dataclass
class CandidateConfig:
    size: int = 100  # λ
    splits: list[str] = field(default_factory=lambda: ["dev", "test"])


@dataclass
class SuspectConfig:
    """Model-flagged image–text mismatches (``emmel.suspect``, docs/suspect.md): off unless ``clip_model`` is set."""

    clip_model: str | None = None  # CLIP checkpoint (folder or .pt) that scores the pairs; None: no flagging
    threshold: float = 3.5  # flag when a robust z-score (0.6745·(x − median)/MAD) is below −threshold
    min_entity_samples: int = 5  # an entity with fewer scored samples is compared with all samples instead
    mad_floor: float = 0.5  # an entity's MAD counts as at least this fraction of the global MAD
    reject: bool = False  # move flagged samples to the rejects (reason suspect_mismatch) instead of keeping them
    fit_epochs: int = 0  # fit CLIP on the train split first (0: a pretrained checkpoint as given)
    fit_lr: float | None = None  # None: the baseline's learning rate for checkpoints (baseline.config.TrainConfig)
    fit_batch_size: int | None = None  # None: the baseline's batch size for checkpoints
    batch_size: int = 256  # images decoded and scored at a time (bounds memory)

    def validate(self) -> SuspectConfig:
        for name in ("fit_lr", "fit_batch_size"):
            value = getattr(self, name)
            if isinstance(value, str):  # from --set, where the default None gives no type to read it as
                try:
                    setattr(self, name, (float if name == "fit_lr" else int)(value))
                except ValueError:
                    raise EmmelError(f"setting suspect.{name}: cannot read {value!r} as a number") from None
        if not self.threshold > 0:
            raise EmmelError(f"suspect.threshold must be > 0, got {self.threshold}")
        if self.min_entity_samples < 1 or self.batch_size < 1 or self.fit_epochs < 0:
            raise EmmelError("suspect.min_entity_samples and suspect.batch_size must be >= 1, suspect.fit_epochs >= 0")
        if self.mad_floor < 0:
            raise EmmelError(f"suspect.mad_floor must be >= 0, got {self.mad_floor}")
        if (self.fit_lr is not None and not self.fit_lr > 0) or (self.fit_batch_size is not None and self.fit_batch_size < 1):
            raise EmmelError("suspect.fit_lr must be > 0 and suspect.fit_batch_size >= 1")
        return self

    def settings(self) -> dict:
        """What the flags depend on besides the model: recorded with every flagging run."""
        return {k: v for k, v in asdict(self).items() if k != "clip_model"}


@dataclass
class BuildConfig:
    name: str = "EMMEL"
    seed: int = 13
    kb_seed: str | None = None  # CSV/JSONL of extra KB entities (e.g. data/ihchina_national_list.csv)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    workers: int = 1  # processes for the per-image stage
    encoding: str | None = None  # records files: None = detect (UTF-8, UTF-8 with BOM, GB18030), or a codec name
    suspect: SuspectConfig = field(default_factory=SuspectConfig)

    def to_dict(self) -> dict:
        """The settings, as the manifest records them; the ``suspect`` section only when a CLIP model flags pairs,
        so a build without one is byte-identical to a build by an emmel that had no such section."""
        data = asdict(self)
        if self.suspect.clip_model is None:
            del data["suspect"]
        return data

    def validate(self) -> BuildConfig:
        s = self.split
        if min(s.train, s.dev, s.test) < 0 or abs(s.train + s.dev + s.test - 1.0) > 1e-6:
            raise EmmelError(f"split ratios must be >= 0 and sum to 1 (got {s.train}/{s.dev}/{s.test})")
        if self.dedup.text_mode not in ("group", "reject"):
            raise EmmelError(f"dedup.text_mode must be 'group' or 'reject', got {self.dedup.text_mode!r}")
        if not all(0 <= r <= 32 for r in (self.dedup.image_radius, self.dedup.conflict_radius, self.dedup.group_radius)):
            raise EmmelError("dedup radii must be within 0..32")
        if self.candidates.size < 1:
            raise EmmelError("candidates.size (λ) must be >= 1")
        if self.clean.max_pixels < 1 or self.clean.max_bytes < 1:
            raise EmmelError("clean.max_pixels and clean.max_bytes must be >= 1")
        if self.encoding is not None:
            self.encoding = check_encoding(self.encoding)
        unknown = set(self.augment.ops) - {"rotate", "translate", "scale", "flip", "color"}
        if unknown:
            raise EmmelError(f"unknown augmentation op(s): {', '.join(sorted(unknown))}")
        self.suspect.validate()
        return self


def _update(obj: Any, data: dict, where: str) -> None:
    known = {f.name: f for f in fields(obj)}
    for key, value in data.items():
        if key not in known:
            raise EmmelError(f"unknown setting {where}{key!r} (known: {', '.join(known)})")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise EmmelError(f"setting {where}{key} must be a table")
            _update(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, current, f"{where}{key}"))


def _coerce(value: Any, current: Any, name: str) -> Any:
    if isinstance(value, str) and not isinstance(current, str):
        text = value.strip()
        try:
            if isinstance(current, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return text.lower() in ("true", "1", "yes")
            if isinstance(current, int):
                return int(text)
            if isinstance(current, float):
                return float(text)
            if isinstance(current, list):
                return [part.strip() for part in text.split(",") if part.strip()]
        except ValueError:
            raise EmmelError(f"setting {name}: cannot read {value!r} as {type(current).__name__}") from None
        if current is None:
            return None if text.lower() in ("", "none", "null") else text
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> BuildConfig:
    """Defaults, then the TOML file, then ``key.sub=value`` overrides (CLI flags)."""
    config = BuildConfig()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EmmelError("config file not found", path=path) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EmmelError(f"invalid TOML: {exc}", path=path) from None
        _update(config, data, "")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise EmmelError(f"override {item!r} must look like section.key=value")
        *parents, leaf = key.strip().split(".")
        _update(config, _nest(parents, leaf, value), "")
    return config.validate()


def _nest(parents: list[str], leaf: str, value: str) -> dict:
    data: dict = {leaf: value}
    for parent in reversed(parents):
        data = {parent: data}
    return data
