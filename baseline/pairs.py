"""Token tables and vectorised packing of cross-encoder pairs, with each tokenizer's own special tokens.

Every label and every description is tokenised once; a batch of (label, text) pairs is then
assembled with tensor indexing on the device, never by calling the tokenizer per pair. The special
tokens come from the tokenizer itself (:class:`Template`): BERT/WordPiece ``[CLS] label [SEP] text
[SEP]`` (text with token type 1), RoBERTa and XLM-R ``<s> label </s></s> text </s>``, CLIP
``<|startoftext|> label <|endoftext|>``. The result is exactly what ``tokenizer(label, text,
truncation="only_second")`` gives when the label fits its budget. :class:`TextSide` (cross-encoder)
and :class:`LabelSide` (CLIP text encoder) are the tokenised inputs that training and scoring both read.

A query may carry its mention (the linked span, ``Sample.mention``): its text row is then
``mention <middle> sentence``, so the pair reads ``[CLS] label [SEP] mention [SEP] sentence [SEP]``
(RoBERTa: ``<s> label </s></s> mention </s></s> sentence </s>``), the mention cut to the label
budget first and the sentence to what is left (:func:`query_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from emmel.errors import EmmelError

# one-word segments: every tokenizer encodes some of them without special tokens, so the specials around them show
PROBES = ("a", "b", "x", "1", "the", "的", "是")


@dataclass
class TokenTable:
    ids: torch.Tensor  # N×L token ids without special tokens, right-padded
    lengths: torch.Tensor  # N

    def to(self, device) -> TokenTable:
        return TokenTable(self.ids.to(device), self.lengths.to(device))


@dataclass(frozen=True)
class Template:
    """Where a tokenizer puts its special tokens: around one sequence, and around and between a pair.

    Read from the tokenizer's own output on a probe pair (:meth:`of`), so a new tokenizer family
    needs no code: BERT ``[CLS] A [SEP] B [SEP]`` (B and the last [SEP] of token type 1), RoBERTa /
    XLM-R ``<s> A </s></s> B </s>`` (type 0 throughout), CLIP ``<|startoftext|> A <|endoftext|>``.
    """

    prefix: tuple[int, ...]  # before the first segment of a pair
    middle: tuple[int, ...]  # between the two segments
    suffix: tuple[int, ...]  # after the second
    single_prefix: tuple[int, ...]  # around one sequence (the CLIP text input)
    single_suffix: tuple[int, ...]
    pad: int
    second_type: int = 1  # token type of the second segment and the suffix (0 where a model has one type)

    @classmethod
    def of(cls, tokenizer) -> Template:
        # ids a template can be made of; a probe may encode to [UNK] (a small vocabulary) unless [UNK] is one of them (CLIP)
        structural = {i for i in (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id,
                                  tokenizer.pad_token_id) if i is not None}
        plain = [(p, ids) for p in PROBES for ids in [tokenizer(p, add_special_tokens=False)["input_ids"]] if ids and not structural & set(ids)]
        if len(plain) < 2:
            raise EmmelError(f"cannot tell where tokenizer {type(tokenizer).__name__} puts its special tokens (it encodes none of "
                             f"{', '.join(PROBES)} without them)")
        (first, a), (other, b) = plain[0], plain[1]
        pair = tokenizer(first, other, return_token_type_ids=True)
        one = tokenizer(first)["input_ids"]
        ids = list(pair["input_ids"])
        start = _find(ids, a, 0)
        second = _find(ids, b, start + len(a), last=True) if start >= 0 else -1
        first_one = _find(one, a, 0)
        if start < 0 or second < 0 or first_one < 0:
            raise EmmelError(f"cannot tell where tokenizer {type(tokenizer).__name__} puts its special tokens "
                             f"(pair {first!r}, {other!r} encodes as {ids})")
        types = list(pair.get("token_type_ids") or [0] * len(ids))
        return cls(tuple(ids[:start]), tuple(ids[start + len(a):second]), tuple(ids[second + len(b):]),
                   tuple(one[:first_one]), tuple(one[first_one + len(a):]), pad_id(tokenizer), int(types[second]))

    @property
    def pair_specials(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    @property
    def single_specials(self) -> int:
        return len(self.single_prefix) + len(self.single_suffix)


def pad_id(tokenizer) -> int:
    """The id that pads a tokenizer's sequences (its end token where it has no pad token, as GPT-2-style ones)."""
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    return 0


def _find(seq: list[int], part: list[int], start: int, *, last: bool = False) -> int:
    """Index of ``part`` in ``seq`` at or after ``start`` (the last such index with ``last``), or -1."""
    hits = [i for i in range(start, len(seq) - len(part) + 1) if seq[i : i + len(part)] == part]
    return (hits[-1] if last else hits[0]) if hits else -1


def _table(rows: list[list[int]], pad: int) -> TokenTable:
    width = max([1, *(len(r) for r in rows)])
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    return TokenTable(ids, torch.tensor([len(r) for r in rows], dtype=torch.long))


def encode(tokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    """Token ids of ``texts`` without special tokens, each cut to ``max_tokens``."""
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max(1, max_tokens))["input_ids"]


def token_table(tokenizer, texts: list[str], max_tokens: int) -> TokenTable:
    """Tokenise ``texts`` once (no special tokens), truncated to ``max_tokens``."""
    return _table(encode(tokenizer, texts, max_tokens), pad_id(tokenizer))


def single_table(tokenizer, template: Template, texts: list[str], max_length: int) -> TokenTable:
    """``texts`` tokenised once for ``<prefix> text <suffix>`` inputs of at most ``max_length`` tokens (the CLIP text side)."""
    return token_table(tokenizer, texts, max_length - template.single_specials)


def query_table(tokenizer, template: Template, texts: list[str], mentions: list[str] | None, max_tokens: int,
                mention_tokens: int) -> TokenTable:
    """The query side of the cross-encoder: ``mention <middle> text`` where a query has a mention, else ``text``.

    ``<middle>`` is the tokenizer's own separator between two segments ([SEP]; ``</s></s>``); the
    mention keeps at most ``mention_tokens`` tokens, the text what is left of ``max_tokens``.
    """
    if not mentions or not any(mentions):
        return token_table(tokenizer, texts, max_tokens)
    heads = encode(tokenizer, [m or "" for m in mentions], mention_tokens)
    bodies = encode(tokenizer, texts, max_tokens)
    rows = []
    for mention, head, body in zip(mentions, heads, bodies):
        row = [*head, *template.middle] if mention and head else []
        rows.append((row + body)[: max(1, max_tokens)])
    return _table(rows, template.pad)


def pair_width(label_lengths: torch.Tensor, text_lengths: torch.Tensor, max_length: int, specials: int) -> int:
    """Width of the longest packed pair, from host-side lengths (so no device sync is needed)."""
    if len(label_lengths) == 0:
        return specials
    return int(min(max_length, int((label_lengths + text_lengths).max()) + specials))


def _segments(pos: torch.Tensor, starts: list[torch.Tensor], fills: list[torch.Tensor], pad: int) -> torch.Tensor:
    """Ids at positions ``pos`` (1×T) of rows made of consecutive segments: segment k starts at ``starts[k]``
    (B×1) and reads ``fills[k]`` (B×W_k, or 1×W_k for a run of special tokens); an empty segment is skipped."""
    out = torch.full_like(pos, pad)
    for start, fill in zip(starts, fills):  # in order: each segment overwrites every position from its start on
        if fill.shape[1]:
            offset = (pos - start).clamp(0, fill.shape[1] - 1)
            out = torch.where(pos >= start, fill.expand(pos.shape[0], -1).gather(1, offset), out)
    return out


def pack_pairs(labels: TokenTable, texts: TokenTable, label_idx: torch.Tensor, text_idx: torch.Tensor, template: Template,
               max_length: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, token_type_ids)`` of pairs ``(labels[label_idx[p]], texts[text_idx[p]])``.

    The text is truncated so a pair fits ``max_length`` tokens. ``width`` (see :func:`pair_width`)
    trims the padding to the batch's longest pair; without it the widest possible pair is used.
    """
    device = labels.ids.device
    p, m, s = (torch.tensor(list(x), dtype=torch.long, device=device).view(1, -1) for x in (template.prefix, template.middle, template.suffix))
    l_len = labels.lengths[label_idx].unsqueeze(1)
    t_len = torch.clamp(torch.minimum(texts.lengths[text_idx].unsqueeze(1), max_length - template.pair_specials - l_len), min=0)
    width = width or min(max_length, template.pair_specials + labels.ids.shape[1] + texts.ids.shape[1])
    pos = torch.arange(width, device=device).unsqueeze(0).expand(len(label_idx), -1)  # B×T
    zero = torch.zeros_like(l_len)
    label_start = zero + p.shape[1]
    middle_start = label_start + l_len
    text_start = middle_start + m.shape[1]
    suffix_start = text_start + t_len
    end = suffix_start + s.shape[1]  # first position after the pair
    ids = _segments(pos, [zero, label_start, middle_start, text_start, suffix_start, end],
                    [p, labels.ids[label_idx], m, texts.ids[text_idx], s, torch.full((1, 1), template.pad, device=device)], template.pad)
    mask = (pos < end).long()
    types = ((pos >= text_start) & (pos < end)).long() * template.second_type
    return ids, mask, types


def single(table: TokenTable, rows: torch.Tensor, template: Template, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``<prefix> x <suffix>`` sequences of table rows (the CLIP text input: ``[CLS] x [SEP]``), with attention mask."""
    device = table.ids.device
    p, s = (torch.tensor(list(x), dtype=torch.long, device=device).view(1, -1) for x in (template.single_prefix, template.single_suffix))
    length = torch.clamp(table.lengths[rows], max=max_length - template.single_specials).unsqueeze(1)
    width = min(max_length, table.ids.shape[1] + template.single_specials)
    pos = torch.arange(width, device=device).unsqueeze(0).expand(len(rows), -1)
    zero = torch.zeros_like(length)
    body = zero + p.shape[1]
    suffix_start = body + length
    end = suffix_start + s.shape[1]
    ids = _segments(pos, [zero, body, suffix_start, end], [p, table.ids[rows], s, torch.full((1, 1), template.pad, device=device)], template.pad)
    return ids, (pos < end).long()


@dataclass
class TextSide:
    """What the cross-encoder packs pairs from: token tables on the device, their lengths on the host."""

    labels: TokenTable
    texts: TokenTable
    label_lengths: torch.Tensor  # host copies: batch widths need no device sync
    text_lengths: torch.Tensor
    template: Template
    max_length: int

    @classmethod
    def build(cls, labels: TokenTable, texts: TokenTable, template: Template, max_length: int, device) -> TextSide:
        return cls(labels.to(device), texts.to(device), labels.lengths, texts.lengths, template, max_length)

    def pack(self, label_idx: torch.Tensor, text_idx: torch.Tensor, rt) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pairs ``(labels[label_idx[p]], texts[text_idx[p]])`` (host indices), padded to the longest."""
        width = pair_width(self.label_lengths[label_idx], self.text_lengths[text_idx], self.max_length, self.template.pair_specials)
        return pack_pairs(self.labels, self.texts, rt.put(label_idx), rt.put(text_idx), self.template, self.max_length, width)


@dataclass
class LabelSide:
    """KB labels tokenised once for the CLIP text encoder (``[CLS] label [SEP]``, ``<|startoftext|> label <|endoftext|>``; at most ``max_length``)."""

    table: TokenTable  # on the device
    lengths: torch.Tensor  # host copy
    template: Template
    max_length: int

    @classmethod
    def build(cls, table: TokenTable, template: Template, max_length: int, device) -> LabelSide:
        return cls(table.to(device), table.lengths, template, max_length)

    def __len__(self) -> int:
        return len(self.lengths)

    def inputs(self, rows: torch.Tensor, rt) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of KB rows ``rows`` (host indices), trimmed to the longest."""
        width = int(min(self.max_length, int(self.lengths[rows].max()) + self.template.single_specials))
        ids, mask = single(self.table, rt.put(rows), self.template, self.max_length)
        return ids[:, :width], mask[:, :width]
