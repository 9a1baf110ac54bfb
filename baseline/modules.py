"""The two MCR modules as torch modules, each with save_pretrained / from_pretrained.

- :class:`CrossEncoder` (text-text): a BERT reads ``[CLS] x_l [SEP] x_d [SEP]``; the final [CLS]
  vector goes through one linear layer to the score S(x_l, x_d).
- :class:`VisualText` (visual-text): CLIP's image encoder f_v and text encoder f_l (a transformers
  ``ChineseCLIPModel`` or ``CLIPModel``: the same two methods); the score S(x_l, x_v) is the cosine
  similarity of the L2-normalised projections E_l and E_v.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HEAD_FILE = "score_head.safetensors"


def save_tokenizer(tokenizer, folder: str | Path) -> None:
    """``tokenizer.save_pretrained`` without the truncation/padding a fast tokenizer keeps from its last call,
    so a saved tokenizer.json depends on the tokenizer alone, not on which texts it cut last."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    tokenizer.save_pretrained(str(folder))


class CrossEncoder(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, 1)
        # RoBERTa-style checkpoints have a single token type; BERT ones mark the description with type 1.
        self.use_token_types = getattr(encoder.config, "type_vocab_size", 1) >= 2

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.use_token_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        cls = self.encoder(**kwargs).last_hidden_state[:, 0]
        return self.head(cls).squeeze(-1).float()

    def save_pretrained(self, folder: str | Path, tokenizer=None) -> None:
        from safetensors.torch import save_file

        from baseline.runtime import quiet_transformers

        folder = Path(folder)
        with quiet_transformers():
            self.encoder.save_pretrained(str(folder))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, str(folder / HEAD_FILE))
        if tokenizer is not None:
            save_tokenizer(tokenizer, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> tuple[CrossEncoder, object]:
        """The cross-encoder and its tokenizer; a plain BERT folder gets a fresh (seeded by caller) head."""
        from safetensors.torch import load_file

        from baseline.checkpoints import load_text_encoder

        encoder, tokenizer = load_text_encoder(folder)
        model = cls(encoder)
        head = Path(folder) / HEAD_FILE
        if head.is_file():
            model.head.load_state_dict(load_file(str(head)))
        return model, tokenizer


class VisualText(nn.Module):
    def __init__(self, clip: nn.Module):
        super().__init__()
        self.clip = clip

    @property
    def image_size(self) -> int:
        return int(self.clip.config.vision_config.image_size)

    @property
    def max_text_length(self) -> int:
        """The longest token sequence the text tower reads (CLIP: 77; Chinese-CLIP: its BERT's positions)."""
        return int(self.clip.config.text_config.max_position_embeddings)

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.clip.get_image_features(pixel_values=pixel_values).pooler_output
        return F.normalize(features.float(), dim=-1)

    def encode_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features = self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return F.normalize(features.float(), dim=-1)

    def logit_scale(self) -> torch.Tensor:
        """1/τ of the InfoNCE loss: CLIP's learned temperature, capped at 100 as in CLIP."""
        return self.clip.logit_scale.float().exp().clamp(max=100.0)

    def save_pretrained(self, folder: str | Path, tokenizer=None) -> None:
        from baseline.runtime import quiet_transformers

        with quiet_transformers():
            self.clip.save_pretrained(str(folder))
        if tokenizer is not None:
            save_tokenizer(tokenizer, folder)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> tuple[VisualText, object]:
        from baseline.checkpoints import load_clip

        clip, tokenizer, _ = load_clip(path)
        return cls(clip), tokenizer
