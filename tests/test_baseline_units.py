"""Pure parts of the MCR baseline: metrics by hand, fusion normalisations, pair packing, negatives."""

from __future__ import annotations

import math

import pytest
import torch

from baseline.fusion import choose_alpha, fuse, normalize, sweep
from baseline.metrics import gold_ranks, hits_mrr, top_k
from baseline.negatives import draw, hard_pools
from emmel.errors import EmmelError

INF = float("-inf")


def test_metrics_match_a_hand_computed_case():
    scores = torch.tensor([
        [0.9, 0.1, 0.5, 0.3],   # gold 0 → rank 1
        [0.2, 0.8, 0.7, 0.1],   # gold 2 → rank 2
        [0.4, 0.4, 0.9, 0.4],   # gold 1 ties with 0 (listed before) and 3 (after) → rank 3
        [0.1, 0.2, 0.3, INF],   # gold 0, padded row → rank 3
    ])
    ranks = gold_ranks(scores, torch.tensor([0, 2, 1, 0]))
    assert ranks.tolist() == [1, 2, 3, 3]
    assert top_k(ranks, (1, 2, 3)) == {"top1": 25.0, "top2": 50.0, "top3": 100.0}
    mrr = (1 + 1 / 2 + 1 / 3 + 1 / 3) / 4 * 100
    assert hits_mrr(ranks, (1, 3)) == {"h1": 25.0, "h3": 100.0, "mr": 2.25, "mrr": round(mrr, 2)}  # MR = (1+2+3+3)/4


def test_padding_never_outranks_the_gold():
    scores = torch.tensor([[INF, 0.1, INF]])
    assert gold_ranks(scores, torch.tensor([1])).tolist() == [1]


def test_softmax_and_zscore_rows_are_comparable_and_keep_padding():
    scores = torch.tensor([[1.0, 2.0, 3.0, INF], [10.0, -10.0, 0.0, 5.0]])
    p = normalize(scores, "softmax")
    assert torch.allclose(p[torch.isfinite(p)].view(-1).sum(), torch.tensor(2.0))
    assert p[0, 3] == INF
    z = normalize(scores, "zscore")
    for row in z:
        finite = row[torch.isfinite(row)]
        assert abs(float(finite.mean())) < 1e-5 and abs(float(finite.pow(2).mean()) - 1) < 1e-4
    m = normalize(scores, "minmax")
    assert float(m[1].max()) == 1.0 and float(m[1].min()) == 0.0


def test_zscore_fusion_ignores_the_scale_of_either_module():
    torch.manual_seed(0)
    visual, text = torch.randn(20, 8), torch.randn(20, 8)
    base = fuse(visual, text, 0.4, "zscore")
    rescaled = fuse(visual * 0.01 + 3.0, text * 50.0 - 7.0, 0.4, "zscore")
    assert torch.allclose(base, rescaled, atol=1e-4)
    # without normalisation the larger-scale module dominates the argmax
    assert torch.equal(fuse(visual * 0.01, text * 50, 0.5, "none").argmax(1), text.argmax(1))


@pytest.mark.parametrize("method", ["softmax", "zscore", "minmax", "none"])
def test_alpha_one_and_zero_reduce_to_a_single_module(method):
    torch.manual_seed(1)
    visual, text = torch.randn(30, 6), torch.randn(30, 6)
    assert torch.equal(fuse(visual, text, 1.0, method, 5.0).argmax(1), visual.argmax(1))
    assert torch.equal(fuse(visual, text, 0.0, method, 5.0).argmax(1), text.argmax(1))


def test_fusion_recovers_what_each_module_alone_misses():
    # query 0: the image knows, the text is unsure; query 1: the other way round
    visual = torch.tensor([[0.9, 0.1, 0.1], [0.31, 0.30, 0.29]])
    text = torch.tensor([[1.0, 1.1, 0.9], [-3.0, 4.0, -3.0]])
    gold = torch.tensor([0, 1])
    fused = fuse(visual, text, 0.5, "softmax", visual_scale=20.0)
    assert gold_ranks(fused, gold).tolist() == [1, 1]
    assert gold_ranks(text, gold).tolist() == [2, 1] and gold_ranks(visual, gold).tolist() == [1, 2]


def test_alpha_sweep_and_choice():
    visual = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    text = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    rows = sweep(visual, text, torch.tensor([0, 1]), "softmax", 10.0)
    assert rows[0]["alpha"] == 0.0 and rows[-1]["alpha"] == 1.0 and len(rows) == 21
    assert rows[0]["top1"] == 50.0 and rows[-1]["top1"] == 100.0
    assert choose_alpha(rows) >= 0.5
    assert choose_alpha([{"alpha": 0.3, "top1": 80.0, "mrr": 90.0}, {"alpha": 0.5, "top1": 80.0, "mrr": 90.0}]) == 0.5


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(EmmelError, match="alpha must be in"):
        fuse(torch.zeros(1, 2), torch.zeros(1, 2), alpha)


def test_hard_pools_put_same_base_name_first():
    labels = ["剪纸", "剪纸(蔚县剪纸)", "剪纸(扬州剪纸)", "木雕(扬州木雕)", "龙舞", "狮舞(广东醒狮)"]
    categories = ["传统美术", "传统美术", "传统美术", "传统美术", "传统舞蹈", "传统舞蹈"]
    pools = hard_pools(labels, categories, 3, seed=0)
    assert set(pools[0, :2].tolist()) == {1, 2}
    assert set(pools[1, :2].tolist()) == {0, 2}
    assert all(i not in pools[i].tolist() for i in range(len(labels)))
    gold = torch.tensor([0, 3, 4])
    negatives = draw(gold, pools, 2, 3, len(labels), torch.Generator().manual_seed(0))
    assert negatives.shape == (3, 5)
    assert not (negatives == gold.view(-1, 1)).any()


def test_hard_pools_follow_the_label_rules_of_the_build():
    """A qualifier in the middle of a label: the sibling of the same base name (emmel.labels) comes first,
    before look-alikes that share more characters, exactly as in the build's candidate sets."""
    from emmel.candidates import CandidateIndex, select_candidates
    from emmel.schema import Entity

    labels = ["苗族银饰锻制技艺", "苗族(雷山)银饰锻制技艺", "苗族银饰锻制技艺传承", "苗族(雷山)银饰锻制", "苗族", "侗族大歌", "蜡染技艺"]
    categories = ["传统技艺"] * len(labels)
    pools = hard_pools(labels, categories, 3, seed=0)
    assert pools[0, 0] == 1 and pools[1, 0] == 0
    # "苗族(雷山)银饰锻制" has the base name 苗族银饰锻制: not a sibling of 苗族 (a first-bracket cut would say it is)
    assert pools[4, 0] != 3
    kb = [Entity(id=f"E{i}", label=label, category=c) for i, (label, c) in enumerate(zip(labels, categories))]
    for seed in range(3):
        assert set(select_candidates(CandidateIndex(kb), "E0", "x", 2, seed, "S")) == {"E0", "E1"}


def test_pair_packing_equals_the_tokenizer():
    from baseline.pairs import Template, pack_pairs, pair_width, single, token_table
    from tests.mcr_fixtures import HAVE_CNCLIP, vocab_tokenizer

    if not HAVE_CNCLIP:
        pytest.skip("cn_clip (the Chinese vocab) not installed")
    tok = vocab_tokenizer()
    labels = ["剪纸(湘西剪纸)", "木雕", "皮影戏(蔚县皮影戏)"]
    texts = ["湘西老艺人展示作品。", "ABC 2023年 节日活动现场，传统美术。"]
    lt, tt = token_table(tok, labels, 32), token_table(tok, texts, 128)
    li, ti = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1])
    special = Template.of(tok)
    ids, mask, types = pack_pairs(lt, tt, li, ti, special, 128, pair_width(lt.lengths[li], tt.lengths[ti], 128, special.pair_specials))
    for p in range(4):
        ref = tok(labels[li[p]], texts[ti[p]])
        n = len(ref["input_ids"])
        assert ids[p, :n].tolist() == ref["input_ids"] and types[p, :n].tolist() == ref["token_type_ids"]
        assert int(mask[p].sum()) == n and not ids[p, n:].any()
    short, _, _ = pack_pairs(lt, tt, li[3:], ti[3:], special, 12)
    assert short[0].tolist() == tok(labels[0], texts[1], truncation="only_second", max_length=12)["input_ids"]
    ids, mask = single(lt, torch.tensor([0, 1]), special, 52)
    ref = tok(labels[:2], padding="max_length", max_length=ids.shape[1])
    assert ids.tolist() == ref["input_ids"] and mask.tolist() == ref["attention_mask"]


def test_corpus_vocabulary_fallback_tokenizes_chinese_by_character():
    from baseline.vocab import corpus_vocab, tokenizer_from_vocab

    vocab = corpus_vocab(["剪纸(湘西剪纸)", "湘西老艺人 ABC"])
    tok = tokenizer_from_vocab(vocab)
    tokens = tok.convert_ids_to_tokens(tok("剪纸(湘西)")["input_ids"])
    assert tokens == ["[CLS]", "剪", "纸", "(", "湘", "西", ")", "[SEP]"]
    assert tok("木雕")["input_ids"][1:-1] == [tok.unk_token_id] * 2
    assert "abc" in vocab and vocab["[PAD]"] == 0


def test_restricted_vocab_tokenises_the_corpus_as_before():
    """The tiny preset's vocabulary restriction loses nothing on its corpus: same tokens (mixed CJK, digits,
    Latin words split into word pieces, full-width brackets), [UNK] only for what the corpus lacks."""
    from baseline.vocab import cnclip_vocab_path, restrict, tokenizer_from_vocab

    path = cnclip_vocab_path()
    if path is None:
        pytest.skip("cn_clip (the Chinese BERT vocabulary) not installed")
    full = tokenizer_from_vocab(path)
    corpus = ["苗族(雷山)银饰锻制技艺", "剪纸（泉州（李尧宝）刻纸）", "2008年列入第二批名录", "Miao silverwork, Leishan county",
              "侗族大歌：无伴奏、多声部", "ＡＢＣ全角字母与①序号"]
    small = restrict(full, corpus)
    assert len(small) < len(full) // 20
    for text in corpus:
        assert small.tokenize(text) == full.tokenize(text)
        assert small.convert_ids_to_tokens(small(text)["input_ids"]) == full.convert_ids_to_tokens(full(text)["input_ids"])
    assert small.tokenize("鑫") == [small.unk_token] and full.tokenize("鑫") != [full.unk_token]
