"""Lexical matching: BM25 over character n-grams of each entity's label and aliases (no training).

Many mention texts name their entity (``湘西老艺人展示踏虎凿花`` → ``踏虎凿花``), so a plain lexical
matcher is the baseline every learned model has to beat, and the cheap first stage of whole-KB
retrieval (shortlist by :meth:`BM25Index.top_k`, then rerank with the trained modules).

Documents and queries are tokenised the same way (:func:`char_ngrams`): the text is normalised
(:func:`emmel.labels.normalize_text`, lower-cased), cut into runs of letters, digits and CJK
characters (brackets, punctuation and spaces separate runs), and every character n-gram of every
run (n in ``LexicalConfig.ngrams``, default 1 and 2) is a term. An entity's document is its label
and its aliases (and its description with ``fields=("label", "aliases", "description")``); each
field is its own run list, so no n-gram spans two fields.

Scoring is Okapi BM25 (Robertson & Zaragoza 2009, with Lucene's non-negative idf)::

    idf(t)     = ln(1 + (N − n_t + 0.5) / (n_t + 0.5))
    score(q,d) = Σ_{t ∈ T(q)} idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d| / avgdl))

N entities, n_t of them containing t, tf(t,d) occurrences of t in d, |d| the number of terms of d,
avgdl their mean over the KB. T(q) is the *set* of the query's terms: a character repeated in a
description counts once (the description is a query, not a document). Terms no entity has are
ignored; an entity that shares no term with the query scores 0.

The weights are stored as postings (for each term, the entities holding it and their weight),
built once per KB; a chunk of queries is scored by adding up the postings of its terms, so the
work follows the postings the queries touch, and memory is bounded per chunk of queries whatever
their number (:meth:`BM25Index.top_k` keeps only the k best of each).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from baseline.config import LexicalConfig
from emmel.labels import normalize_text

_RUN = re.compile(r"[^\W_]+")  # letters, digits and CJK characters; punctuation, brackets, spaces, '_' separate runs

DEFAULT = LexicalConfig()  # parameters: baseline.config.LexicalConfig


def char_ngrams(text: str, ngrams: Sequence[int] = DEFAULT.ngrams) -> list[str]:
    """Every character n-gram (n in ``ngrams``) of every run of ``text`` after normalisation, in order, repeats kept.

    >>> char_ngrams("剪纸(蔚县)", (1, 2))
    ['剪', '纸', '剪纸', '蔚', '县', '蔚县']
    """
    out: list[str] = []
    for run in _RUN.findall(normalize_text(text).lower()):
        for n in ngrams:
            out.extend(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def entity_document(entity, config: LexicalConfig = DEFAULT) -> list[str]:
    """The terms of an entity's document: the n-grams of each field of ``config.fields``."""
    terms: list[str] = []
    for name in config.fields:
        value = getattr(entity, name, "") or ""
        for text in ([value] if isinstance(value, str) else value):
            terms += char_ngrams(text, config.ngrams)
    return terms


class BM25Index:
    """BM25 weights of a KB, as postings (term → the entities holding it, with their weight), built once.

    ``scores`` gives the same ``Q×C`` (or ``Q×E``) float matrices as the learned scorers, ``-inf``
    on padding; ``top_k`` is the whole-KB shortlist. Both score a chunk of queries at a time by
    adding up the postings of the chunk's terms into a ``chunk×E`` block, so the work follows the
    postings the queries touch and memory stays within ``budget`` scores however many queries come.
    """

    def __init__(self, documents: Sequence[Sequence[str]], config: LexicalConfig = DEFAULT):
        from scipy import sparse

        self.config = config
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for row, terms in enumerate(documents):
            for term in terms:
                rows.append(row)
                cols.append(vocab.setdefault(term, len(vocab)))
        n_docs = len(documents)
        tf = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_docs, len(vocab)))
        tf.sum_duplicates()  # a term's occurrences in a document add up
        lengths = np.asarray(tf.sum(axis=1)).ravel()  # |d|: terms of each document
        avgdl = float(lengths.mean()) if n_docs and lengths.sum() else 1.0
        df = np.bincount(tf.indices, minlength=len(vocab)).astype(np.float64)  # n_t
        self.idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        k1, b = float(config.k1), float(config.b)
        norm = k1 * (1.0 - b + b * lengths / avgdl)  # per document
        doc_of = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        weights = self.idf[tf.indices] * tf.data * (k1 + 1.0) / (tf.data + norm[doc_of])
        # term × entity (CSR): a query gathers the postings rows of its terms
        postings = sparse.csr_matrix((weights, tf.indices, tf.indptr), shape=(n_docs, len(vocab))).T.tocsr()
        postings.sort_indices()
        self.indptr = postings.indptr.astype(np.int64)
        self.entity_of, self.weight = postings.indices.astype(np.int32), postings.data.astype(np.float32)
        self.vocab = vocab
        self.size = n_docs
        self.avgdl = avgdl

    @classmethod
    def from_entities(cls, entities: Iterable, config: LexicalConfig = DEFAULT) -> BM25Index:
        """An index of ``entities`` in the order given (their positions are the index's rows)."""
        return cls([entity_document(e, config) for e in entities], config)

    def __len__(self) -> int:
        return self.size

    def query_terms(self, text: str) -> list[int]:
        """T(q): the distinct known terms of a query, as vocabulary ids."""
        return sorted({self.vocab[t] for t in char_ngrams(text, self.config.ngrams) if t in self.vocab})

    def _block(self, texts: Sequence[str]) -> np.ndarray:
        """``len(texts)×E`` float64 BM25 scores: the postings of each query's terms added up."""
        pairs = [(row, term) for row, text in enumerate(texts) for term in self.query_terms(text)]
        block = np.zeros(len(texts) * self.size)
        if pairs:
            rows, terms = np.array(pairs, dtype=np.int64).T
            starts, counts = self.indptr[terms], self.indptr[terms + 1] - self.indptr[terms]
            total = int(counts.sum())
            offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)  # every posting of every (query, term)
            cells = np.repeat(rows * self.size, counts) + self.entity_of[offsets]
            block += np.bincount(cells, weights=self.weight[offsets], minlength=len(texts) * self.size)
        return block.reshape(len(texts), self.size)

    def _chunks(self, count: int, budget: int) -> range:
        return range(0, count, max(1, budget // max(1, self.size)))

    def scores(self, texts: Sequence[str], candidates: torch.Tensor | None = None, *, budget: int = 1 << 23) -> torch.Tensor:
        """``Q×C`` float32 scores of ``texts`` against ``candidates`` (``Q×C`` positions, ``-1`` pads: ``-inf``),
        or ``Q×E`` against every entity when ``candidates`` is None; at most ``budget`` scores are held per chunk."""
        if candidates is not None and len(candidates) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(candidates)} candidate rows")
        width = self.size if candidates is None else candidates.shape[1]
        out = torch.empty((len(texts), width), dtype=torch.float32)
        step = self._chunks(len(texts), budget).step
        for start in range(0, len(texts), step):
            block = self._block(texts[start : start + step])
            if candidates is None:
                out[start : start + len(block)] = torch.from_numpy(block.astype(np.float32))
                continue
            cands = candidates[start : start + step].numpy()
            picked = np.take_along_axis(block, np.clip(cands, 0, None), axis=1).astype(np.float32)
            out[start : start + len(block)] = torch.from_numpy(np.where(cands >= 0, picked, np.float32(-np.inf)))
        return out

    def top_k(self, texts: Sequence[str], k: int, *, budget: int = 1 << 23) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, positions)``, each ``Q×k``: every query's ``k`` best entities, best first.

        Ties are broken by entity position (lower first). Only entities sharing a term with the
        query are ranked: a row with fewer matches is padded with position ``-1`` and score ``-inf``.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        out_scores = np.full((len(texts), k), -np.inf, dtype=np.float32)
        out_pos = np.full((len(texts), k), -1, dtype=np.int64)
        step = self._chunks(len(texts), budget).step
        for start in range(0, len(texts), step):
            block = self._block(texts[start : start + step])
            # the k-th best score of each row: everything at or above it is a contender (ties included)
            kth = np.partition(block, self.size - k, axis=1)[:, self.size - k, None] if k < self.size else np.zeros((len(block), 1))
            rows, cols = np.nonzero((block >= kth) & (block > 0))
            values = block[rows, cols]
            order = np.lexsort((cols, -values, rows))  # per row: score descending, then position ascending
            rows, cols, values = rows[order], cols[order], values[order]
            rank = np.arange(len(rows)) - np.searchsorted(rows, rows)  # 0-based rank within its row
            keep = rank < k
            out_scores[start + rows[keep], rank[keep]] = values[keep]
            out_pos[start + rows[keep], rank[keep]] = cols[keep]
        return torch.from_numpy(out_scores), torch.from_numpy(out_pos)

    def state(self) -> dict:
        """What describes the index (for a saved model's config): its parameters and KB statistics."""
        return {**self.config.to_dict(), "entities": self.size, "terms": len(self.vocab), "postings": len(self.weight),
                "avgdl": round(self.avgdl, 6)}
