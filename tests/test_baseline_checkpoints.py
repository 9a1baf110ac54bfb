"""Loading real-format checkpoints: BERT folder, ChineseCLIPModel folder, original cn_clip .pt; wrong ones refused."""

from __future__ import annotations

import pickle

import pytest
import torch

from baseline.checkpoints import load_clip, load_text_encoder
from emmel.errors import EmmelError
from tests.mcr_fixtures import HAVE_CNCLIP, save_cnclip_checkpoint, tiny_bert_folder, tiny_cnclip, tiny_hf_clip_folder

pytestmark = pytest.mark.skipif(not HAVE_CNCLIP, reason="cn_clip (vocab and original model code) not installed")


def test_bert_folder_loads_with_its_tokenizer(tmp_path):
    folder = tiny_bert_folder(tmp_path / "roberta")
    encoder, tokenizer = load_text_encoder(folder)
    assert encoder.config.model_type == "bert" and tokenizer.vocab_size == 21128
    ids = torch.tensor([tokenizer("剪纸(蔚县剪纸)", "蔚县老艺人展示作品")["input_ids"]])
    assert encoder(input_ids=ids).last_hidden_state.shape == (1, ids.shape[1], 32)


def test_cross_encoder_round_trips_through_save_pretrained(tmp_path):
    from baseline.modules import CrossEncoder

    model, tokenizer = CrossEncoder.from_pretrained(tiny_bert_folder(tmp_path / "bert"))
    torch.nn.init.normal_(model.head.weight)
    model.save_pretrained(tmp_path / "saved", tokenizer)
    again, tok2 = CrossEncoder.from_pretrained(tmp_path / "saved")
    batch = tokenizer(["剪纸", "木雕(湘西木雕)"], ["湘西村民的手艺", "湘西村民的手艺"], padding=True, return_tensors="pt")
    model.eval(), again.eval()
    assert torch.equal(model(**batch), again(**batch))
    assert tok2("剪纸")["input_ids"] == tokenizer("剪纸")["input_ids"]


def test_transformers_clip_folder_loads(tmp_path):
    model, tokenizer, form = load_clip(tiny_hf_clip_folder(tmp_path / "cnclip-hf"))
    assert form.startswith("transformers") and model.config.projection_dim == 16
    assert tokenizer("剪纸")["input_ids"] == [101, 1198, 5291, 102]


def test_original_cnclip_checkpoint_converts_exactly(tmp_path):
    reference = tiny_cnclip(seed=3)
    path = save_cnclip_checkpoint(reference, tmp_path / "clip_cn_tiny.pt")
    model, tokenizer, form = load_clip(path)
    assert form.startswith("original Chinese-CLIP")
    assert model.config.vision_config.num_attention_heads == 2 and model.config.vision_config.image_size == 32
    reference.half().float()  # the checkpoint holds fp16 weights, like the released ones
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor(tokenizer(["剪纸(湘西剪纸)", "木雕", "皮影戏(蔚县皮影戏)"], padding=True)["input_ids"])
    with torch.no_grad():
        want_image, want_text = reference.encode_image(pixels), reference.encode_text(ids)
        got_image = model.get_image_features(pixel_values=pixels).pooler_output
        got_text = model.get_text_features(input_ids=ids, attention_mask=(ids != 0).long()).pooler_output
    assert torch.allclose(want_image, got_image, atol=1e-5)
    assert torch.allclose(want_text, got_text, atol=1e-5)
    assert torch.allclose(reference.logit_scale, model.logit_scale)


def _one_line_error(call, pattern: str) -> str:
    with pytest.raises(EmmelError, match=pattern) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_wrong_architectures_are_refused_in_one_line(tmp_path):
    bert, clip = tiny_bert_folder(tmp_path / "bert"), tiny_hf_clip_folder(tmp_path / "clip")
    message = _one_line_error(lambda: load_clip(bert), "expected a ChineseCLIPModel or CLIPModel checkpoint, found model_type 'bert'")
    assert str(bert) in message
    _one_line_error(lambda: load_text_encoder(clip), "expected a BERT/RoBERTa checkpoint, found model_type 'chinese_clip'")
    _one_line_error(lambda: load_text_encoder(tmp_path), "no config.json")
    torch.save({"state_dict": {"module.layer.weight": torch.zeros(2)}}, tmp_path / "other.pt")
    _one_line_error(lambda: load_clip(tmp_path / "other.pt"), "not an original Chinese-CLIP ViT checkpoint")
    resnet = {"visual.layer1.0.conv1.weight": torch.zeros(1), "visual.conv1.weight": torch.zeros(1)}
    torch.save({"state_dict": resnet}, tmp_path / "rn50.pt")
    _one_line_error(lambda: load_clip(tmp_path / "rn50.pt"), "ResNet")
    _one_line_error(lambda: load_clip(tmp_path / "missing.pt"), "not found")


class _Payload:
    def __reduce__(self):
        return (print, ("pickle code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_are_read_without_running_pickled_code(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": _Payload()}, handle)
    _one_line_error(lambda: load_clip(path), r"weights_only=True")
    assert "pickle code ran" not in capsys.readouterr().out
    (tmp_path / "noise.pt").write_bytes(b"not a checkpoint")
    _one_line_error(lambda: load_clip(tmp_path / "noise.pt"), "cannot read the checkpoint")
