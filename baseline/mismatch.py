"""CLIP scores of (image, description) and (image, entity label) pairs, for the mismatch flags of
:mod:`emmel.suspect`: ``emmel build --clip-model`` and ``emmel flag`` wire :class:`ClipPairScorer` in.

The checkpoint is loaded the one way every CLIP is (:func:`baseline.checkpoints.load_clip`: a
transformers ChineseCLIPModel folder or an original Chinese-CLIP ``.pt``; never remote code) and
preprocessed as the visual-text module is (:mod:`baseline.images`). With ``fit_epochs`` it is first
fitted on the train split by the baseline's own training loop (:func:`baseline.train.fit`) with the
visual-text module's loss (:func:`baseline.train.visual_loss_fn`) applied twice: InfoNCE of each
image against its entity's label plus InfoNCE of each image against its own description, in-batch
negatives. A pretrained Chinese-CLIP needs no fit (the default); a tiny or random one does.

Scoring is batched and bounded: descriptions and labels are embedded once each (in batches of
``EvalBatches.labels``), images are decoded and embedded ``batch_size`` at a time, and a pair's
score is the cosine of the two normalised embeddings.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from baseline.config import CLIP_MEAN, CLIP_STD, EvalBatches, ModelConfig, TrainConfig
from baseline.images import ImageSource, Normaliser, image_bank
from baseline.modules import VisualText
from baseline.negatives import NegativeSampler
from baseline.pairs import LabelSide, Template, single_table
from baseline.runtime import Runtime, seed_everything
from baseline.scoring import image_embeddings, label_embeddings
from emmel.config import SuspectConfig
from emmel.errors import EmmelError
from emmel.progress import progress
from emmel.suspect import PairInput, PairScores


class ClipPairScorer:
    """An ``emmel.suspect.PairScorer`` backed by a CLIP checkpoint; loading it checks the checkpoint at once."""

    def __init__(self, checkpoint: str | Path, *, fit_epochs: int = 0, fit_lr: float | None = None, fit_batch_size: int | None = None,
                 seed: int = 13, device: str = "cpu", batch_size: int = 256, text_length: int = ModelConfig.clip_label_length,
                 threads: int | None = None, log=None):
        from baseline.checkpoints import center_crop, load_clip

        if threads:
            torch.set_num_threads(threads)
        self.checkpoint = Path(checkpoint)
        self.rt = Runtime.create(device, progress=sys.stderr.isatty())
        clip, self.tokenizer, self.form = load_clip(self.checkpoint)
        self.template = Template.of(self.tokenizer)
        self.crop = center_crop(self.checkpoint)  # OpenAI CLIP folders crop the centre, as the visual-text module does
        self.module = VisualText(clip).to(self.rt.device).eval()
        self.train = TrainConfig.for_preset(None, epochs=fit_epochs, seed=seed, device=device,
                                            **({"lr": fit_lr} if fit_lr is not None else {}),
                                            **({"batch_size": fit_batch_size} if fit_batch_size is not None else {}))
        self.batch_size, self.text_length = batch_size, min(text_length, self.module.max_text_length)
        self.batches = EvalBatches()
        self.log = log or (lambda line: print(line, file=sys.stderr))
        self.fitted: dict | None = None

    @classmethod
    def from_config(cls, config: SuspectConfig, *, seed: int, device: str = "cpu", threads: int | None = None, log=None) -> ClipPairScorer:
        """The scorer of a build config's ``[suspect]`` section (``clip_model``, fit and batch settings)."""
        if not config.clip_model:
            raise EmmelError("no CLIP model given to score pairs with (--clip-model)")
        return cls(config.clip_model, fit_epochs=config.fit_epochs, fit_lr=config.fit_lr, fit_batch_size=config.fit_batch_size,
                   seed=seed, device=device, batch_size=config.batch_size, threads=threads, log=log)

    def describe(self) -> dict:
        """Which model scored and how it was fitted (for the manifest and the dataset card)."""
        return {"model": f"{self.form} {self.checkpoint}", "fit": self.fitted}

    # ------------------------------------------------------------------------------------------ inputs
    def _side(self, texts: list[str]) -> LabelSide:
        """Texts tokenised once as CLIP text inputs (the tokenizer's own specials, at most ``text_length`` tokens)."""
        return LabelSide.build(single_table(self.tokenizer, self.template, texts, self.text_length), self.template, self.text_length,
                               self.rt.device)

    def _images(self, pairs: Sequence[PairInput]) -> ImageSource:
        bank = image_bank([p.image for p in pairs], self.module.image_size, labels=[f"image of sample {p.sample_id}" for p in pairs],
                          progress=False, crop=self.crop)
        if self.rt.cuda:
            bank = bank.to(self.rt.device)
        return ImageSource(bank, torch.arange(len(pairs)), Normaliser(CLIP_MEAN, CLIP_STD, self.rt.device))

    # --------------------------------------------------------------------------------------------- fit
    def fit(self, pairs: Sequence[PairInput]) -> None:
        """``train.epochs`` epochs of InfoNCE image→label + image→description on ``pairs`` (the train split)."""
        from baseline.train import fit, visual_loss_fn

        if not pairs:
            raise EmmelError("--fit-epochs needs train samples to fit CLIP on, and the train split is empty")
        cfg = self.train
        started = time.perf_counter()
        self.log(f"fitting CLIP on {len(pairs)} train samples: {cfg.epochs} epochs, lr {cfg.lr:g}, batch {cfg.batch_size}")
        seed_everything(cfg.seed)
        images = self._images(pairs)
        losses = []
        for key in ("label", "text"):
            values = [getattr(p, key) for p in pairs]
            vocabulary = sorted(set(values))
            position = {v: k for k, v in enumerate(vocabulary)}
            gold = torch.tensor([position[v] for v in values], dtype=torch.long)
            # in-batch negatives only; a column holding the image's own label or text again is masked by the loss
            none = NegativeSampler(torch.zeros((len(vocabulary), 0), dtype=torch.long), len(vocabulary), 0)
            losses.append(visual_loss_fn(self.module, images, self._side(vocabulary), gold, none, self.rt))

        def loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            return losses[0](rows, generator) + losses[1](rows, generator)

        result = fit(self.module, loss, len(pairs), None, cfg, self.rt, seed=cfg.seed, desc="fit CLIP")
        self.fitted = {"split": "train", "samples": len(pairs), "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
                       "seed": cfg.seed, "loss": [h["loss"] for h in result.history]}
        self.log(f"fit CLIP: loss {result.history[0]['loss']:.3f} → {result.history[-1]['loss']:.3f} ({time.perf_counter() - started:.1f} s)")

    # ------------------------------------------------------------------------------------------- score
    def __call__(self, pairs: Sequence[PairInput]) -> list[PairScores]:
        """Fit first if asked (on the pairs of the train split), then the two cosines of every pair."""
        if self.train.epochs:
            self.fit([p for p in pairs if p.split == "train"])
        return self.score(pairs)

    @torch.no_grad()
    def score(self, pairs: Sequence[PairInput]) -> list[PairScores]:
        """The image–text and image–label cosines of every pair, with the weights as they are."""
        started = time.perf_counter()
        self.module.eval()
        embedded = {}
        for key in ("label", "text"):
            vocabulary = sorted({getattr(p, key) for p in pairs})
            table = label_embeddings(self.module, self._side(vocabulary), self.batches.labels, self.rt)
            embedded[key] = (table, {v: k for k, v in enumerate(vocabulary)})
        out: list[PairScores] = []
        chunks = range(0, len(pairs), self.batch_size)
        for start in progress(chunks, desc="score pairs", total=len(chunks)):
            chunk = pairs[start : start + self.batch_size]
            images = image_embeddings(self.module, self._images(chunk), self.batches.images, self.rt)
            cosines = {}
            for key, (table, position) in embedded.items():
                rows = torch.tensor([position[getattr(p, key)] for p in chunk], device=table.device)
                cosines[key] = (images * table[rows]).sum(-1).float().cpu().tolist()
            out += [PairScores(image_text=t, image_label=lab) for t, lab in zip(cosines["text"], cosines["label"])]
        self.log(f"scored {len(pairs)} image–text and image–label pairs in {time.perf_counter() - started:.1f} s")
        return out
