"""Tokenizers, offline: the real Chinese BERT vocabulary from the cn_clip wheel, a folder's own, or a
character vocabulary built from the data when neither exists.

cn_clip ships ``cn_clip/clip/vocab.txt`` (21,128 tokens, the bert-base-chinese / RoBERTa-wwm vocab).
It is found with ``importlib.util.find_spec`` so ``cn_clip.clip`` (which imports torchvision) is never
imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from emmel.errors import EmmelError

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def cnclip_vocab_path() -> Path | None:
    """Path of cn_clip's ``vocab.txt``, or None when cn_clip is not installed."""
    try:
        spec = importlib.util.find_spec("cn_clip")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "clip" / "vocab.txt"
        if path.is_file():
            return path
    return None


def tokenizer_from_vocab(vocab: str | Path | dict):
    """A BERT WordPiece tokenizer (lower-casing, Chinese characters split) over ``vocab``.

    ``BertTokenizer(vocab_file=...)`` silently ignores the file in transformers 5; ``vocab=`` works.
    """
    from transformers import BertTokenizer

    return BertTokenizer(vocab=str(vocab) if isinstance(vocab, Path) else vocab)


def corpus_vocab(texts: Iterable[str]) -> dict[str, int]:
    """A character-level vocabulary of ``texts`` (what BERT's pre-tokenizer splits them into)."""
    probe = tokenizer_from_vocab({t: i for i, t in enumerate(SPECIALS)})
    normalizer = probe.backend_tokenizer.normalizer
    pre = probe.backend_tokenizer.pre_tokenizer
    pieces: set[str] = set()
    for text in texts:
        pieces.update(piece for piece, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    return {token: i for i, token in enumerate([*SPECIALS, *sorted(pieces - set(SPECIALS))])}


def restrict(tokenizer, corpus: Iterable[str]):
    """``tokenizer`` limited to the tokens ``corpus`` uses (special tokens kept, original order).

    WordPiece matches the longest known prefix, and every piece the corpus was split into is kept,
    so the corpus tokenises exactly as before; anything else becomes [UNK]. A model trained from
    scratch never trains the rows of tokens its data lacks, so it loses nothing, and a small
    embedding matrix makes CPU training several times faster (its dense gradient dominates a step).
    """
    used = {tokenizer.convert_tokens_to_ids(t) for t in (*SPECIALS, *tokenizer.all_special_tokens)}
    for ids in tokenizer(list(corpus), add_special_tokens=False)["input_ids"]:
        used.update(ids)
    tokens = tokenizer.convert_ids_to_tokens(sorted(used))
    return tokenizer_from_vocab({token: i for i, token in enumerate(tokens)})


def default_tokenizer(corpus: Iterable[str] | None = None, *, restrict_to_corpus: bool = False):
    """The tokenizer of the built-in presets and a line saying what it is.

    cn_clip's Chinese BERT vocabulary (optionally restricted to ``corpus``); without cn_clip, a
    character vocabulary built from ``corpus``.
    """
    path = cnclip_vocab_path()
    if path is not None:
        full = tokenizer_from_vocab(path)
        if restrict_to_corpus and corpus is not None:
            small = restrict(full, corpus)
            return small, f"cn_clip Chinese BERT vocab ({len(full)} tokens) restricted to the {len(small)} the dataset uses"
        return full, f"cn_clip Chinese BERT vocab ({len(full)} tokens)"
    if corpus is None:
        raise EmmelError("cn_clip is not installed, so the Chinese BERT vocabulary is missing; "
                         "install it with `pip install --no-deps cn_clip` or pass model folders with their own vocab")
    small = tokenizer_from_vocab(corpus_vocab(corpus))
    return small, f"character vocabulary of {len(small)} tokens built from the dataset (cn_clip not installed)"


# Files from which transformers' AutoTokenizer builds a folder's own tokenizer (with config.json naming its family).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "sentencepiece.bpe.model", "spiece.model")
BPE_FILES = ("vocab.json", "merges.txt")  # a BPE tokenizer without tokenizer.json needs both


def load_tokenizer(folder: str | Path, what: str = "tokenizer"):
    """The tokenizer saved in a model folder (tokenizer.json, vocab.json + merges.txt, SentencePiece,
    vocab.txt), or None when it has none; an incomplete BPE tokenizer is a one-line error naming the missing file."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        present = [name for name in BPE_FILES if (folder / name).is_file()]
        if len(present) == 1:
            missing = next(name for name in BPE_FILES if name not in present)
            raise EmmelError(f"{what}: the BPE tokenizer is incomplete: {present[0]} without {missing} (and no tokenizer.json)",
                             path=folder / missing)
    if any((folder / name).is_file() for name in TOKENIZER_FILES):
        from transformers import AutoTokenizer

        from baseline.safe_load import pretrained

        try:
            return pretrained(AutoTokenizer, folder, what)
        except EmmelError:
            raise
        except Exception as exc:  # a broken tokenizer file: say which folder
            if not (folder / "vocab.txt").is_file():
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise EmmelError(f"{what}: cannot load the tokenizer ({type(exc).__name__}: {first})", path=folder) from None
    if (folder / "vocab.txt").is_file():
        return tokenizer_from_vocab(folder / "vocab.txt")
    return None
