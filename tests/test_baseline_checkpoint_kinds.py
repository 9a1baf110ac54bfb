"""English and multilingual checkpoints through the same loaders as real ones: CLIPModel folders (CLIP's BPE
tokenizer, ViT-B/32 and ViT-L/14 layouts), RoBERTa (byte-level BPE) and XLM-R (unigram) cross-encoders;
each tokenizer's own special tokens in the packed pairs, mentions in the pair, zero-shot prompt ensembles."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from baseline.checkpoints import center_crop, load_clip, load_text_encoder
from baseline.modules import CrossEncoder, VisualText
from baseline.pairs import Template, pack_pairs, pair_width, query_table, single, token_table
from baseline.prompts import PROMPT_SETS, language_of, read_prompt_file, resolve_prompts
from tests.benchmark_layouts import NAMES
from tests.mcr_fixtures import HAVE_CNCLIP, tiny_clip_folder, tiny_roberta_folder, tiny_xlmr_folder, vocab_tokenizer

LABELS = ["Barack Obama", "Detroit Lions", "Ada Lovelace"]
TEXTS = ["Obama speaks in Washington about the Lions.", "A photo of Ada Lovelace, 1840."]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoint kinds")
    return {"clip-b32": tiny_clip_folder(root / "clip-vit-base-patch32", NAMES),
            "clip-l14": tiny_clip_folder(root / "clip-vit-large-patch14", NAMES, layout="l14"),
            "roberta": tiny_roberta_folder(root / "roberta-base", NAMES),
            "xlmr": tiny_xlmr_folder(root / "xlm-roberta-base", NAMES)}


@pytest.mark.parametrize("layout", ["clip-b32", "clip-l14"])
def test_clip_folders_load_and_pool_where_the_tokenizer_puts_the_end(folders, layout):
    """Our packed ``<|startoftext|> label <|endoftext|>`` batch gives exactly CLIPModel's features for the tokenizer's own batch."""
    model, tokenizer, form = load_clip(folders[layout])
    assert type(model).__name__ == "CLIPModel" and type(tokenizer).__name__ == "CLIPTokenizer" and form == "transformers CLIPModel folder"
    assert center_crop(folders[layout])  # OpenAI CLIP's processor crops the centre
    template = Template.of(tokenizer)
    start, end = tokenizer.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    assert template.single_prefix == (start,) and template.single_suffix == (end,) and end == len(tokenizer) - 1
    table = token_table(tokenizer, LABELS, 20)
    ids, mask = single(table, torch.arange(len(LABELS)), template, 22)
    reference = tokenizer(LABELS, padding=True, return_tensors="pt")
    width = reference["input_ids"].shape[1]
    assert ids[:, :width].tolist() == reference["input_ids"].tolist() and mask[:, :width].tolist() == reference["attention_mask"].tolist()
    visual = VisualText(model)
    with torch.no_grad():
        ours = visual.encode_labels(ids, mask)
        theirs = F.normalize(model.get_text_features(**reference).pooler_output, dim=-1)
    torch.testing.assert_close(ours, theirs)
    assert visual.max_text_length == 77


@pytest.mark.parametrize("kind", ["roberta", "xlmr"])
def test_roberta_family_pairs_are_what_their_tokenizer_builds(folders, kind):
    encoder, tokenizer = load_text_encoder(folders[kind])
    assert encoder.config.model_type == {"roberta": "roberta", "xlmr": "xlm-roberta"}[kind]
    template = Template.of(tokenizer)
    assert template.prefix == (0,) and template.middle == (2, 2) and template.suffix == (2,) and template.pad == 1
    assert template.second_type == 0  # one token type: RoBERTa has no segment embedding to speak of
    labels, texts = token_table(tokenizer, LABELS, 32), token_table(tokenizer, TEXTS, 128)
    li, ti = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1])
    ids, mask, types = pack_pairs(labels, texts, li, ti, template, 128, pair_width(labels.lengths[li], texts.lengths[ti], 128, 4))
    for p in range(4):
        reference = tokenizer(LABELS[li[p]], TEXTS[ti[p]])["input_ids"]
        assert ids[p, : len(reference)].tolist() == reference and int(mask[p].sum()) == len(reference)
        assert (ids[p, len(reference):] == 1).all() and not types[p].any()
    short, _, _ = pack_pairs(labels, texts, li[3:], ti[3:], template, 12)
    assert short[0].tolist() == tokenizer(LABELS[0], TEXTS[1], truncation="only_second", max_length=12)["input_ids"]
    model, loaded = CrossEncoder.from_pretrained(folders[kind])
    assert not model.use_token_types and type(loaded) is type(tokenizer)


@pytest.mark.parametrize("kind", ["roberta", "bert"])
def test_mentions_join_the_pair_with_the_tokenizers_own_separator(folders, kind):
    """RoBERTa: ``<s> label </s></s> mention </s></s> sentence </s>``; BERT: ``[CLS] label [SEP] mention [SEP] sentence [SEP]``
    with the mention and sentence of token type 1; a query without a mention keeps the plain pair."""
    if kind == "bert":
        if not HAVE_CNCLIP:
            pytest.skip("cn_clip (the Chinese vocab) not installed")
        tokenizer = vocab_tokenizer()
    else:
        _, tokenizer = load_text_encoder(folders[kind])
    template = Template.of(tokenizer)
    mentions, texts = ["Obama", ""], TEXTS
    table = query_table(tokenizer, template, texts, mentions, 128, 8)
    labels = token_table(tokenizer, LABELS, 32)
    ids, mask, types = pack_pairs(labels, table, torch.tensor([0, 0]), torch.tensor([0, 1]), template, 128)
    first = ids[0, : int(mask[0].sum())].tolist()

    def plain(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    middle, suffix = list(template.middle), list(template.suffix)
    assert first == list(template.prefix) + plain(LABELS[0]) + middle + plain("Obama") + middle + plain(texts[0]) + suffix
    tokens = tokenizer.convert_ids_to_tokens(first)
    sep = tokenizer.sep_token
    assert tokens.count(sep) == (3 if kind == "bert" else 5)  # [SEP] ×3; </s></s> twice + the last </s>
    assert ids[1, : int(mask[1].sum())].tolist() == tokenizer(LABELS[0], texts[1])["input_ids"]  # no mention: the plain pair
    if kind == "bert":
        label_part = len(tokenizer(LABELS[0])["input_ids"])  # [CLS] label [SEP]
        assert types[0, :label_part].sum() == 0 and types[0, label_part : len(first)].eq(1).all()


def test_prompt_templates_are_averaged_as_clip_does(folders):
    from baseline.config import EvalBatches
    from baseline.data import KBIndex
    from baseline.runtime import Runtime
    from baseline.scorers import VisualScorer
    from emmel.schema import Entity

    model, tokenizer, _ = load_clip(folders["clip-b32"])
    kb = KBIndex.from_entities([Entity(id=f"E{i}", label=label) for i, label in enumerate(LABELS)])
    prompts = PROMPT_SETS["en"][:3]
    scorer = VisualScorer(VisualText(model), tokenizer, kb, label_length=77, image_mean=[0, 0, 0], image_std=[1, 1, 1], prompts=prompts)
    embedded = scorer.embed_kb(Runtime.create("cpu", progress=False), EvalBatches())
    with torch.no_grad():
        per_template = [F.normalize(model.get_text_features(**tokenizer([t.format(label) for label in kb.labels], padding=True,
                                                                        return_tensors="pt")).pooler_output, dim=-1) for t in prompts]
    torch.testing.assert_close(embedded, F.normalize(torch.stack(per_template).mean(0), dim=-1))
    plain = VisualScorer(VisualText(model), tokenizer, kb, label_length=77, image_mean=[0, 0, 0], image_std=[1, 1, 1])
    assert not torch.allclose(plain.embed_kb(Runtime.create("cpu", progress=False), EvalBatches()), embedded)


def test_prompt_sets_follow_the_dataset_language(tmp_path):
    assert language_of({"language": ["en"]}) == "en" and language_of({}) == "zh"
    assert resolve_prompts("auto", "zh")[0] == "一张{}的照片。" and resolve_prompts(None, "en")[0] == "a photo of {}."
    assert resolve_prompts("none", "en") == ("{}",)
    path = tmp_path / "prompts.txt"
    path.write_text("\ufeff# my templates\n\nart of {}.\n  a sketch of {}.  \n", encoding="utf-8")
    assert read_prompt_file(path) == ("art of {}.", "a sketch of {}.") == resolve_prompts(str(path), "zh")


def test_center_crop_keeps_the_middle_of_a_wide_image(tmp_path):
    from PIL import Image

    from baseline.images import load_image

    image = Image.new("RGB", (96, 32), (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 32))  # blue middle third
    image.save(tmp_path / "wide.png")
    cropped, squashed = load_image(tmp_path / "wide.png", 16, crop=True), load_image(tmp_path / "wide.png", 16)
    assert cropped[2].float().mean() > 250 and cropped[0].float().mean() < 5  # all blue
    assert squashed[0].float().mean() > 100  # the red sides squeezed in
