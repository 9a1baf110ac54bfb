"""Token tables and vectorised packing of cross-encoder pairs ``[CLS] label [SEP] text [SEP]``.

Every label and every description is tokenised once; a batch of (label, text) pairs is then
assembled with tensor indexing on the device, never by calling the tokenizer per pair. The result
is exactly what ``tokenizer(label, text, truncation="only_second")`` gives when the label fits
its budget. :class:`TextSide` (cross-encoder) and :class:`LabelSide` (CLIP text encoder) are the
tokenised inputs that training and scoring both read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TokenTable:
    ids: torch.Tensor  # N×L token ids without special tokens, right-padded
    lengths: torch.Tensor  # N

    def to(self, device) -> TokenTable:
        return TokenTable(self.ids.to(device), self.lengths.to(device))


@dataclass
class SpecialIds:
    cls: int
    sep: int
    pad: int

    @classmethod
    def of(cls, tokenizer) -> SpecialIds:
        return cls(tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id)


def token_table(tokenizer, texts: list[str], max_tokens: int) -> TokenTable:
    """Tokenise ``texts`` once (no special tokens), truncated to ``max_tokens``."""
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max(1, max_tokens))["input_ids"]
    width = max([1, *(len(e) for e in encoded)])
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return TokenTable(ids, torch.tensor([len(e) for e in encoded], dtype=torch.long))


def pair_width(label_lengths: torch.Tensor, text_lengths: torch.Tensor, max_length: int) -> int:
    """Width of the longest packed pair, from host-side lengths (so no device sync is needed)."""
    if len(label_lengths) == 0:
        return 3
    return int(min(max_length, int((label_lengths + text_lengths).max()) + 3))


def pack_pairs(labels: TokenTable, texts: TokenTable, label_idx: torch.Tensor, text_idx: torch.Tensor, special: SpecialIds,
               max_length: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, token_type_ids)`` of pairs ``(labels[label_idx[p]], texts[text_idx[p]])``.

    The text is truncated so a pair fits ``max_length`` tokens. ``width`` (see :func:`pair_width`)
    trims the padding to the batch's longest pair; without it the widest possible pair is used.
    """
    l_len = labels.lengths[label_idx]
    t_len = torch.clamp(torch.minimum(texts.lengths[text_idx], max_length - 3 - l_len), min=0)
    width = width or min(max_length, 3 + labels.ids.shape[1] + texts.ids.shape[1])
    pos = torch.arange(width, device=l_len.device).unsqueeze(0)  # 1×T
    l_len_, t_len_ = l_len.unsqueeze(1), t_len.unsqueeze(1)
    first_sep = l_len_ + 1
    text_start = l_len_ + 2
    last_sep = text_start + t_len_
    label_tok = labels.ids[label_idx].gather(1, (pos - 1).clamp(0, labels.ids.shape[1] - 1).expand(len(label_idx), -1))
    text_tok = texts.ids[text_idx].gather(1, (pos - text_start).clamp(0, texts.ids.shape[1] - 1))
    ids = torch.full_like(label_tok, special.pad)
    ids = torch.where((pos >= 1) & (pos < first_sep), label_tok, ids)
    ids = torch.where((pos >= text_start) & (pos < last_sep), text_tok, ids)
    ids = torch.where((pos == first_sep) | (pos == last_sep), torch.full_like(ids, special.sep), ids)
    ids[:, 0] = special.cls
    mask = (pos <= last_sep).long()
    types = ((pos >= text_start) & (pos <= last_sep)).long()
    return ids, mask, types


def single(table: TokenTable, rows: torch.Tensor, special: SpecialIds, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[CLS] x [SEP]`` sequences of table rows (the CLIP text input), with attention mask."""
    length = torch.clamp(table.lengths[rows], max=max_length - 2).unsqueeze(1)
    width = min(max_length, table.ids.shape[1] + 2)
    pos = torch.arange(width, device=length.device).unsqueeze(0)
    tok = table.ids[rows].gather(1, (pos - 1).clamp(0, table.ids.shape[1] - 1).expand(len(rows), -1))
    ids = torch.where((pos >= 1) & (pos <= length), tok, torch.full_like(tok, special.pad))
    ids = torch.where(pos == length + 1, torch.full_like(ids, special.sep), ids)
    ids[:, 0] = special.cls
    return ids, (pos <= length + 1).long()


@dataclass
class TextSide:
    """What the cross-encoder packs pairs from: token tables on the device, their lengths on the host."""

    labels: TokenTable
    texts: TokenTable
    label_lengths: torch.Tensor  # host copies: batch widths need no device sync
    text_lengths: torch.Tensor
    special: SpecialIds
    max_length: int

    @classmethod
    def build(cls, labels: TokenTable, texts: TokenTable, special: SpecialIds, max_length: int, device) -> TextSide:
        return cls(labels.to(device), texts.to(device), labels.lengths, texts.lengths, special, max_length)

    def pack(self, label_idx: torch.Tensor, text_idx: torch.Tensor, rt) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pairs ``(labels[label_idx[p]], texts[text_idx[p]])`` (host indices), padded to the longest."""
        width = pair_width(self.label_lengths[label_idx], self.text_lengths[text_idx], self.max_length)
        return pack_pairs(self.labels, self.texts, rt.put(label_idx), rt.put(text_idx), self.special, self.max_length, width)


@dataclass
class LabelSide:
    """KB labels tokenised once for the CLIP text encoder (``[CLS] label [SEP]``, at most ``max_length``)."""

    table: TokenTable  # on the device
    lengths: torch.Tensor  # host copy
    special: SpecialIds
    max_length: int

    @classmethod
    def build(cls, table: TokenTable, special: SpecialIds, max_length: int, device) -> LabelSide:
        return cls(table.to(device), table.lengths, special, max_length)

    def __len__(self) -> int:
        return len(self.lengths)

    def inputs(self, rows: torch.Tensor, rt) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of KB rows ``rows`` (host indices), trimmed to the longest."""
        width = int(min(self.max_length, int(self.lengths[rows].max()) + 2))
        ids, mask = single(self.table, rt.put(rows), self.special, self.max_length)
        return ids[:, :width], mask[:, :width]
