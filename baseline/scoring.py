"""Batched scoring of queries against candidate entities (no Python loop over candidates).

- Visual-text: the KB labels are embedded once per KB, the query images once; every candidate
  score is one gather from the ``Q×E`` cosine matrix.
- Text-text: all (query, candidate) pairs are packed with tensor ops and scored by the
  cross-encoder in large batches, sorted by length to keep padding small.
Score matrices come back on the CPU, ``Q×C``, with ``-inf`` where a candidate row is padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baseline.images import Normaliser
from baseline.pairs import SpecialIds, TokenTable, pack_pairs, pair_width, single


@dataclass
class TextSide:
    """Everything the cross-encoder needs to build pairs: tables on the device, lengths on the host."""

    labels: TokenTable
    texts: TokenTable
    label_lengths: torch.Tensor  # host copies: batch widths need no device sync
    text_lengths: torch.Tensor
    special: SpecialIds
    max_length: int


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
        width = pair_width(side.label_lengths[label_idx[chunk]], side.text_lengths[text_idx[chunk]], side.max_length)
        ids, mask, types = pack_pairs(side.labels, side.texts, rt.put(label_idx[chunk]), rt.put(text_idx[chunk]), side.special, side.max_length, width)
        with rt.autocast():
            out[rt.put(chunk)] = model(ids, mask, types).float()
    scores = torch.full((q * c,), float("-inf"))
    scores[valid] = out.cpu()
    return scores.view(q, c)


@torch.no_grad()
def label_embeddings(model, table: TokenTable, lengths: torch.Tensor, special: SpecialIds, max_length: int, batch: int, rt) -> torch.Tensor:
    """``E×D`` normalised CLIP text embeddings of every KB label (computed once per KB)."""
    model.eval()
    parts = []
    for start in range(0, len(lengths), batch):
        rows = torch.arange(start, min(len(lengths), start + batch))
        width = int(min(max_length, int(lengths[rows].max()) + 2))
        ids, mask = single(table, rt.put(rows), special, max_length)
        with rt.autocast():
            parts.append(model.encode_labels(ids[:, :width], mask[:, :width]))
    return torch.cat(parts)


@torch.no_grad()
def image_embeddings(model, bank: torch.Tensor, rows: torch.Tensor, normaliser: Normaliser, batch: int, rt) -> torch.Tensor:
    """``N×D`` normalised CLIP image embeddings of bank rows ``rows``."""
    model.eval()
    parts = []
    for start in range(0, len(rows), batch):
        index = rows[start : start + batch]
        pixels = bank[rt.put(index)] if bank.device.type == rt.device.type else rt.put(bank[index])
        with rt.autocast():
            parts.append(model.encode_images(normaliser(pixels)))
    return torch.cat(parts)


def candidate_cosines(queries: torch.Tensor, kb: torch.Tensor, candidates: torch.Tensor | None) -> torch.Tensor:
    """``Q×C`` cosines (``-inf`` on padding) from one ``Q×E`` product; ``candidates=None`` scores the whole KB."""
    full = (queries.float() @ kb.float().T).cpu()
    if candidates is None:
        return full
    picked = full.gather(1, candidates.clamp(min=0))
    return torch.where(candidates >= 0, picked, torch.full_like(picked, float("-inf")))
