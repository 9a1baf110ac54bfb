"""The lexical baseline (baseline.lexical): BM25 over character n-grams, checked against numbers
worked out by hand from the formula, its whole-KB top-k, and the `lexical` row of `emmel benchmark`."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from baseline.config import LexicalConfig
from baseline.lexical import BM25Index, char_ngrams, entity_document
from emmel.cli import main
from emmel.errors import EmmelError
from emmel.schema import Entity

KB = [
    Entity("E0", "剪纸"),                       # terms 剪 纸 剪纸                                     |d| = 3
    Entity("E1", "剪纸(蔚县剪纸)"),              # 剪 纸 剪纸 | 蔚 县 剪 纸 蔚县 县剪 剪纸            |d| = 10
    Entity("E2", "龙舞", aliases=["舞龙"]),      # 龙 舞 龙舞 | 舞 龙 舞龙                              |d| = 6
]


def test_tokens_are_character_ngrams_of_each_normalised_run():
    assert char_ngrams("剪纸(蔚县剪纸)", (1, 2)) == ["剪", "纸", "剪纸", "蔚", "县", "剪", "纸", "蔚县", "县剪", "剪纸"]
    assert char_ngrams("剪紙", (2,)) == ["剪纸"]  # traditional → simplified, as every label rule does
    assert char_ngrams("Miao Silver!", (2,)) == ["mi", "ia", "ao", "si", "il", "lv", "ve", "er"]  # lower-cased, runs split at spaces
    assert entity_document(KB[2]) == ["龙", "舞", "龙舞", "舞", "龙", "舞龙"]  # label and alias are separate runs
    assert entity_document(Entity("E", "a", description="b"), LexicalConfig(fields=("label", "description"), ngrams=(1,))) == ["a", "b"]


def test_bm25_equals_the_formula_worked_by_hand():
    """Query 蔚县的剪纸: its known terms are 蔚 县 剪 纸 蔚县 剪纸 (的, 县的, 的剪 occur in no entity).

    N = 3, avgdl = (3 + 10 + 6) / 3 = 19/3, k1 = 1.2, b = 0.75.
    df: 剪 纸 剪纸 → 2 (E0, E1): idf = ln(1 + (3 − 2 + 0.5)/(2 + 0.5)) = ln 1.6
        蔚 县 蔚县 → 1 (E1):     idf = ln(1 + (3 − 1 + 0.5)/(1 + 0.5)) = ln(8/3)
    length norms K = k1·(1 − b + b·|d|/avgdl):
        E0: K0 = 1.2·(0.25 + 0.75·3·3/19)  = 0.7263158
        E1: K1 = 1.2·(0.25 + 0.75·10·3/19) = 1.7210526
    E0 = 3 · ln1.6 · 1·2.2/(1 + K0)                                   = 1.7969041
    E1 = 3 · ln1.6 · 2·2.2/(2 + K1) + 3 · ln(8/3) · 1·2.2/(1 + K1)    = 1.6672830 + 2.3790327 = 4.0463157
    E2 shares no term: 0.
    """
    k0 = 1.2 * (0.25 + 0.75 * 3 * 3 / 19)
    k1 = 1.2 * (0.25 + 0.75 * 10 * 3 / 19)
    e0 = 3 * math.log(1.6) * 1 * 2.2 / (1 + k0)
    e1 = 3 * math.log(1.6) * 2 * 2.2 / (2 + k1) + 3 * math.log(8 / 3) * 1 * 2.2 / (1 + k1)
    assert (round(k0, 7), round(k1, 7), round(e0, 7), round(e1, 7)) == (0.7263158, 1.7210526, 1.7969041, 4.0463157)

    index = BM25Index.from_entities(KB)
    scores = index.scores(["蔚县的剪纸"])
    assert scores.shape == (1, 3) and scores.dtype == torch.float32
    assert scores[0].tolist() == pytest.approx([e0, e1, 0.0], rel=1e-6)
    # a repeated query term counts once: the description is the query, not a document
    assert index.scores(["蔚县的剪纸剪纸剪纸"])[0].tolist() == pytest.approx([e0, e1, 0.0], rel=1e-6)
    # an alias is matched like the label
    assert index.scores(["舞龙表演"])[0, 2] > 0 and index.scores(["舞龙表演"])[0, :2].tolist() == [0.0, 0.0]


def test_candidate_scores_are_gathered_and_padding_is_minus_infinity():
    index = BM25Index.from_entities(KB)
    full = index.scores(["蔚县的剪纸", "龙舞"])
    cands = torch.tensor([[2, 1, -1], [0, 2, 1]])
    picked = index.scores(["蔚县的剪纸", "龙舞"], cands)
    assert picked[0, :2].tolist() == [full[0, 2].item(), full[0, 1].item()] and picked[0, 2] == float("-inf")
    assert picked[1].tolist() == full[1, [0, 2, 1]].tolist()
    assert index.scores([], cands[:0]).shape == (0, 3)


def test_top_k_is_best_first_ties_by_position_and_padded_when_few_match():
    kb = [Entity("A", "苗绣"), Entity("B", "苗绣"), Entity("C", "侗锦"), Entity("D", "苗族银饰")]
    index = BM25Index.from_entities(kb)
    scores, positions = index.top_k(["苗绣的花样", "侗锦织造", "无关文字"], k=3, budget=8)
    # A and B are the same document: equal scores, the lower position first; D shares only 苗
    assert positions[0].tolist() == [0, 1, 3] and scores[0, 0] == scores[0, 1] > scores[0, 2] > 0
    assert positions[1].tolist() == [2, -1, -1] and scores[1, 1:].tolist() == [float("-inf")] * 2
    assert positions[2].tolist() == [-1, -1, -1]
    full = index.scores(["苗绣的花样", "侗锦织造"])
    for row in range(2):
        valid = positions[row] >= 0
        assert torch.equal(scores[row][valid], full[row, positions[row][valid]])
    scores, positions = index.top_k(["苗绣"], k=10)  # k beyond the KB: every match, then padding
    assert positions[0].tolist() == [0, 1, 3] + [-1] * 7
    with pytest.raises(ValueError):
        index.top_k(["x"], k=0)


def test_settings_are_checked():
    for bad in ({"ngrams": [0]}, {"fields": ["title"]}, {"b": 2}, {"k1": float("nan")}, {"k1": "x"}):
        with pytest.raises(EmmelError):
            LexicalConfig.from_dict(bad)
    with pytest.raises(EmmelError, match="unknown lexical setting"):
        LexicalConfig.from_dict({"k3": 1})
    assert LexicalConfig.from_dict(LexicalConfig(ngrams=(2, 3)).to_dict()) == LexicalConfig(ngrams=(2, 3))


def test_lexical_row_of_the_benchmark_and_link(tmp_path):
    """`--models lexical` needs no training: both protocols, a saved model `emmel link` reloads with the same scores."""
    from tests.synth.learnable import LearnableConfig, write_learnable

    data = write_learnable(tmp_path / "synth", LearnableConfig(crafts=2, places=2, train_per_entity=2, dev_per_entity=1, test_per_entity=1,
                                                               candidates=4, min_side=64, max_side=96), plots=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["benchmark", str(data), "--models", "lexical", "--full-kb", "--out", str(tmp_path / "run")])
    assert code == 0, err.getvalue()
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    row = results["results"]["lexical"]
    assert set(row) >= {"dev", "test", "kb"} and "training" not in row and results["training"] == {}
    assert "BM25" in results["models_used"]["lexical"] and "Lexical (BM25" in out.getvalue()
    folder = tmp_path / "run" / "models" / "lexical"
    assert json.loads((folder / "lexical" / "lexical.json").read_text(encoding="utf-8"))["fields"] == ["label", "aliases"]

    from baseline.model import MCRModel
    from emmel.dataset import Dataset

    model = MCRModel.from_pretrained(folder)
    sample = Dataset.load(data).samples["test"][0]
    rows = model.link(None, sample.text, k=3)
    expected = BM25Index.from_entities(sorted(Dataset.load(data).kb, key=lambda e: e.id)).scores([sample.text])[0]
    assert [r["score"] for r in rows] == [round(float(v), 6) for v in expected.sort(descending=True, stable=True).values[:3]]
