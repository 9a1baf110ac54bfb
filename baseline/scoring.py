"""Batched scoring of queries against candidate entities (no Python loop over candidates).

- Visual-text: the KB labels are embedded once per KB, the query images once; every candidate
  score is one gather from the ``Q×E`` cosine matrix.
- Text-text: all (query, candidate) pairs are packed with tensor ops and scored by the
  cross-encoder in large batches, sorted by length to keep padding small.
Score matrices come back on the CPU, ``Q×C``, with ``-inf`` where a candidate row is padded.
:func:`query_chunks` cuts long query lists so that no buffer grows with Q × C beyond a budget.
"""

from __future__ import annotations

import torch

from baseline.images import ImageSource
from baseline.pairs import LabelSide, TextSide


def query_chunks(queries: int, width: int, budget: int) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges of queries holding at most ``budget`` (query, candidate) pairs each (at least one query)."""
    step = max(1, budget // max(1, width))
    return [(start, min(queries, start + step)) for start in range(0, queries, step)]


@torch.no_grad()
def pair_scores(model, side: TextSide, text_rows: torch.Tensor, candidates: torch.Tensor, batch: int, rt, *, desc: str = "pairs") -> torch.Tensor:
    """``Q×C`` cross-encoder scores of texts ``text_rows`` (Q) against KB rows ``candidates`` (Q×C, -1 = pad)."""
    from tqdm.auto import tqdm

    model.eval()
    q, c = candidates.shape
    label_idx = candidates.reshape(-1)
    text_idx = text_rows.repeat_interleave(c)
    valid = label_idx >= 0
    label_idx, text_idx = label_idx[valid], text_idx[valid]
    lengths = side.label_lengths[label_idx] + side.text_lengths[text_idx]
    order = torch.argsort(lengths, stable=True)
    out = torch.empty(len(order), device=rt.device)
    starts = range(0, len(order), batch)
    for start in tqdm(starts, desc=desc, disable=not rt.progress or len(starts) < 4, leave=False):
        chunk = order[start : start + batch]
        ids, mask, types = side.pack(label_idx[chunk], text_idx[chunk], rt)
        with rt.autocast():
            out[rt.put(chunk)] = model(ids, mask, types).float()
    scores = torch.full((q * c,), float("-inf"))
    scores[valid] = out.cpu()
    return scores.view(q, c)


@torch.no_grad()
def label_embeddings(model, labels: LabelSide, batch: int, rt) -> torch.Tensor:
    """``E×D`` normalised CLIP text embeddings of every KB label (computed once per KB)."""
    model.eval()
    parts = []
    for start in range(0, len(labels), batch):
        with rt.autocast():
            parts.append(model.encode_labels(*labels.inputs(torch.arange(start, min(len(labels), start + batch)), rt)))
    return torch.cat(parts)


@torch.no_grad()
def image_embeddings(model, images: ImageSource, batch: int, rt) -> torch.Tensor:
    """``N×D`` normalised CLIP image embeddings of every sample of ``images``."""
    model.eval()
    parts = []
    for start in range(0, len(images), batch):
        pixels = images.pixels(torch.arange(start, min(len(images), start + batch)), rt)
        with rt.autocast():
            parts.append(model.encode_images(pixels))
    return torch.cat(parts)


def candidate_cosines(queries: torch.Tensor, kb: torch.Tensor, candidates: torch.Tensor | None) -> torch.Tensor:
    """``Q×C`` cosines (``-inf`` on padding) from one ``Q×E`` product; ``candidates=None`` scores the whole KB."""
    full = (queries.float() @ kb.float().T).cpu()
    if candidates is None:
        return full
    picked = full.gather(1, candidates.clamp(min=0))
    return torch.where(candidates >= 0, picked, torch.full_like(picked, float("-inf")))
