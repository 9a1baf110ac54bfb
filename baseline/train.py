"""Training of the two modules; one loop (:func:`fit`) with the losses as small pure-ish functions.

- Text-text: listwise softmax cross-entropy over the gold label and ``text_negatives`` negatives
  (hard KB look-alikes and random entities) paired with the sample's description.
- Visual-text: InfoNCE, L = −log exp(E_v·E_l+/τ) / Σ_i exp(E_v·E_li/τ), over the batch's gold labels
  (in-batch negatives) plus ``clip_negatives`` hard candidate negatives per image; columns that
  name an image's own gold entity (a duplicate in the batch) are masked, not treated as negatives.
Each epoch is scored on dev (Top-1 over the stored candidates) and the best epoch's weights are kept.
The loop never reads a device value back except once per epoch (loss and dev metric).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from baseline.images import ImageSource
from baseline.negatives import NegativeSampler
from baseline.pairs import LabelSide, TextSide


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # per epoch: loss, dev_top1
    best_epoch: int = 0
    best_dev_top1: float = 0.0
    steps: int = 0


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no decay on biases, LayerNorm weights, embeddings and the CLIP temperature."""
    decay, plain = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name or "layrnorm" in name or "embedding" in name or name.endswith("logit_scale")
        (plain if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def batches(n: int, batch_size: int, epoch: int, seed: int) -> list[torch.Tensor]:
    """A seeded permutation of ``range(n)`` cut into batches (the last, short batch is kept)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
    return list(order.split(batch_size))


class Trainer:
    """AdamW (fused on CUDA) with linear warm-up and decay; :meth:`step` runs one batch, sync-free."""

    def __init__(self, module: torch.nn.Module, cfg, rt, total_steps: int):
        self.module, self.cfg, self.rt = module, cfg, rt
        total = max(1, total_steps)
        warmup = int(cfg.warmup * total)
        self.optimizer = torch.optim.AdamW(param_groups(module, cfg.weight_decay), lr=cfg.lr, fused=rt.cuda or None)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: (step + 1) / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup)))

    def step(self, loss_fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor], rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with self.rt.autocast():
            loss = loss_fn(rows, generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.schedule.step()
        return loss.detach().float()


def fit(module: torch.nn.Module, loss_fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor], n_train: int,
        evaluate: Callable[[], float] | None, cfg, rt, *, seed: int, desc: str) -> FitResult:
    """Train ``module`` for ``cfg.epochs`` epochs of ``loss_fn(batch_rows, generator)``; keep the best dev epoch
    (``evaluate`` None: no selection, the last epoch's weights are kept and ``dev_top1`` is None)."""
    from tqdm.auto import tqdm

    dist = rt.dist  # single process unless started by torchrun (baseline.distributed)
    torch.manual_seed(dist.seed(seed))  # dropout
    generator = torch.Generator().manual_seed(dist.seed(seed))  # negatives
    steps_per_epoch = -(-n_train // cfg.batch_size)
    trainer = Trainer(module, cfg, rt, cfg.epochs * steps_per_epoch)
    step_fn = dist.wrap(module, loss_fn)  # under DDP: loss of this rank's shard of each global batch
    result = FitResult()
    best_state = None
    bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=desc, disable=not rt.progress, leave=False)
    for epoch in range(1, cfg.epochs + 1):
        module.train()
        running = torch.zeros((), device=rt.device)
        for rows in batches(n_train, cfg.batch_size, epoch, seed):
            running += trainer.step(step_fn, rows, generator)
            result.steps += 1
            bar.update(1)
        module.eval()
        dev = dist.on_main(evaluate) if evaluate is not None else None  # the one device read of the epoch, with the loss below
        result.history.append({"epoch": epoch, "loss": round(float(dist.mean(running)) / steps_per_epoch, 5), "dev_top1": dev})
        if evaluate is None:
            result.best_epoch = epoch
        elif best_state is None or dev > result.best_dev_top1:
            result.best_epoch, result.best_dev_top1 = epoch, dev
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return result


def text_loss_fn(model, side: TextSide, gold: torch.Tensor, negatives: NegativeSampler, rt):
    """Listwise cross-entropy of the cross-encoder (``side.texts`` = train texts); the gold is column 0."""

    def loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        g = gold[rows]
        labels = torch.cat([g.view(-1, 1), negatives(g, generator)], 1)
        width = labels.shape[1]
        ids, mask, types = side.pack(labels.reshape(-1), rows.repeat_interleave(width), rt)
        scores = model(ids, mask, types).view(len(rows), width)
        return F.cross_entropy(scores, torch.zeros(len(rows), dtype=torch.long, device=scores.device))

    return loss


def visual_loss_fn(model, images: ImageSource, labels: LabelSide, gold: torch.Tensor, negatives: NegativeSampler, rt):
    """InfoNCE over in-batch golds plus the sampler's hard candidate negatives per image (``images`` = train images)."""

    def loss(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        g = gold[rows]
        columns = torch.cat([g, negatives(g, generator).reshape(-1)])
        same = columns.view(1, -1) == g.view(-1, 1)
        same[torch.arange(len(g)), torch.arange(len(g))] = False  # the image's own positive
        label_emb = model.encode_labels(*labels.inputs(columns, rt))
        image_emb = model.encode_images(images.pixels(rows, rt))
        logits = model.logit_scale() * image_emb @ label_emb.T
        logits = logits.masked_fill(rt.put(same), float("-inf"))
        return F.cross_entropy(logits, torch.arange(len(g), device=logits.device))

    return loss
