"""Convert an original Chinese-CLIP checkpoint (``clip_cn_vit-b-16.pt``) to transformers' ``ChineseCLIPModel``.

The original model (``cn_clip.clip.model.CLIP``) is an OpenAI-style ViT (fused ``in_proj`` attention,
``ln_pre``/``ln_post``, a ``proj`` matrix) and a BERT text tower (``bert.*``) with a
``text_projection`` matrix; its checkpoints are ``{"state_dict": {"module.…": tensor}, …}``. The two
models compute the same features: CLS token → ``ln_post`` → projection for images, BERT's CLS
hidden state → projection for text. Only ViT image towers are supported (not RN50).
"""

from __future__ import annotations

import math
import re

import torch

from emmel.errors import EmmelError

VISION_MAP = {
    "conv1.weight": "embeddings.patch_embedding.weight",
    "class_embedding": "embeddings.class_embedding",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_pre.weight": "pre_layrnorm.weight",  # sic: transformers' spelling
    "ln_pre.bias": "pre_layrnorm.bias",
    "ln_post.weight": "post_layernorm.weight",
    "ln_post.bias": "post_layernorm.bias",
}
BLOCK_MAP = {
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
REQUIRED = ("visual.conv1.weight", "visual.positional_embedding", "visual.proj", "bert.embeddings.word_embeddings.weight", "text_projection")


def unwrap_state_dict(obj, source: object = None) -> dict[str, torch.Tensor]:
    """The flat parameter dict inside a checkpoint: ``obj["state_dict"]`` or ``obj``, ``module.`` stripped."""
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise EmmelError("not a Chinese-CLIP checkpoint (no state_dict of tensors)", path=source)
    out = {}
    for key, value in state.items():
        if not isinstance(key, str) or not torch.is_tensor(value):
            raise EmmelError(f"not a Chinese-CLIP checkpoint (entry {key!r} is not a tensor)", path=source)
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def _unfuse_flash(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved with FlashAttention use ``Wqkv`` names; map them back to the standard layout."""
    out = {}
    for key, value in sd.items():
        if key.endswith("attn.Wqkv.weight") or key.endswith("attn.Wqkv.bias"):
            if key.startswith("visual."):
                out[key.replace("attn.Wqkv.", "attn.in_proj_")] = value
            else:  # bert.encoder.layer.i.attention.self.Wqkv.*
                base, kind = key.rsplit(".Wqkv.", 1)
                for name, part in zip(("query", "key", "value"), torch.chunk(value, 3)):
                    out[f"{base}.{name}.{kind}"] = part
        elif ".attention.self.out_proj." in key:
            out[key.replace(".attention.self.out_proj.", ".attention.output.dense.")] = value
        else:
            out[key] = value
    return out


def _count(sd: dict, pattern: str) -> int:
    found = {int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m}
    return max(found) + 1 if found else 0


def infer_config(sd: dict[str, torch.Tensor]):
    """The ``ChineseCLIPConfig`` of an original state dict, read from tensor shapes.

    Heads are not stored in a checkpoint: every released Chinese-CLIP model uses 64-wide heads
    (80 for ViT-H/14, width 1280), which is what cn_clip's model configs say.
    """
    from transformers import ChineseCLIPConfig

    width, _, patch, _ = sd["visual.conv1.weight"].shape
    grid = math.isqrt(sd["visual.positional_embedding"].shape[0] - 1)
    vision = dict(
        hidden_size=width,
        intermediate_size=sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
        num_hidden_layers=_count(sd, r"visual\.transformer\.resblocks\.(\d+)\."),
        num_attention_heads=width // 80 if width == 1280 else max(1, width // 64),
        image_size=grid * patch,
        patch_size=patch,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    vocab, hidden = sd["bert.embeddings.word_embeddings.weight"].shape
    text = dict(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=_count(sd, r"bert\.encoder\.layer\.(\d+)\."),
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=sd["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=sd["bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=sd["bert.embeddings.token_type_embeddings.weight"].shape[0],
        hidden_act="gelu",
        layer_norm_eps=1e-12,
    )
    return ChineseCLIPConfig(text_config=text, vision_config=vision, projection_dim=sd["visual.proj"].shape[1])


def convert_state_dict(sd: dict[str, torch.Tensor], source: object = None) -> tuple[object, dict[str, torch.Tensor]]:
    """``(ChineseCLIPConfig, transformers state dict)`` of an original Chinese-CLIP state dict (pure)."""
    sd = _unfuse_flash(dict(sd))
    if any(k.startswith("visual.layer1.") for k in sd):
        raise EmmelError("ResNet (RN50) Chinese-CLIP checkpoints are not supported; use a ViT one (e.g. clip_cn_vit-b-16.pt)", path=source)
    missing = [k for k in REQUIRED if k not in sd]
    if missing:
        raise EmmelError(f"not an original Chinese-CLIP ViT checkpoint (missing {missing[0]!r})", path=source)
    config = infer_config(sd)
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        value = value.float()
        if key.startswith("bert.pooler."):
            continue  # cn_clip drops the pooler as well
        if key.startswith("bert."):
            out["text_model." + key[len("bert."):]] = value
        elif key == "text_projection":
            out["text_projection.weight"] = value.t().contiguous()
        elif key == "visual.proj":
            out["visual_projection.weight"] = value.t().contiguous()
        elif key == "logit_scale":
            out["logit_scale"] = value.reshape(())
        elif key.startswith("visual.transformer.resblocks."):
            index, rest = key[len("visual.transformer.resblocks."):].split(".", 1)
            prefix = f"vision_model.encoder.layers.{index}."
            if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = "weight" if rest.endswith("weight") else "bias"
                for name, part in zip(("q_proj", "k_proj", "v_proj"), torch.chunk(value, 3)):
                    out[f"{prefix}self_attn.{name}.{kind}"] = part.contiguous()
            elif rest in BLOCK_MAP:
                out[prefix + BLOCK_MAP[rest]] = value
            else:
                raise EmmelError(f"unexpected key {key!r} in a Chinese-CLIP checkpoint", path=source)
        elif key.startswith("visual.") and key[len("visual."):] in VISION_MAP:
            out["vision_model." + VISION_MAP[key[len("visual."):]]] = value
        else:
            raise EmmelError(f"unexpected key {key!r} in a Chinese-CLIP checkpoint", path=source)
    return config, out


def model_from_state_dict(sd: dict[str, torch.Tensor], source: object = None):
    """A ``ChineseCLIPModel`` holding exactly the weights of an original state dict."""
    from transformers import ChineseCLIPModel

    config, converted = convert_state_dict(sd, source)
    model = ChineseCLIPModel(config)
    result = model.load_state_dict(converted, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("position_ids")]
    if missing or result.unexpected_keys:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {result.unexpected_keys[0]!r}"
        raise EmmelError(f"Chinese-CLIP checkpoint does not fit the converted model ({what})", path=source)
    return model.eval()
