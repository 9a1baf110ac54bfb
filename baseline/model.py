"""A trained model folder: the modules, how to fuse them, and the KB they were trained with.

```
models/mcr/
  emmel_model.json            ModelConfig: modules, α, normalisation, sources, KB sha256
  kb.jsonl                    the KB (canonical JSONL, sorted by id)
  text/                       cross-encoder: BERT save_pretrained + score_head.safetensors + tokenizer
  clip/                       ChineseCLIPModel save_pretrained + tokenizer
  kb_embeddings.safetensors   CLIP label embeddings of the KB (so linking needs no re-encoding)
```
``MCRModel.from_pretrained(folder)`` reads exactly what ``save_pretrained`` writes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from baseline.config import ModelConfig
from baseline.data import KBIndex
from baseline.modules import CrossEncoder, VisualText
from emmel.errors import EmmelError
from emmel.io import atomic_directory, atomic_write_text, sha256_bytes

KB_FILE = "kb.jsonl"
EMB_FILE = "kb_embeddings.safetensors"


@dataclass
class MCRModel:
    config: ModelConfig
    kb: KBIndex
    entities: list  # emmel.schema.Entity, KB order
    text: CrossEncoder | None = None
    text_tokenizer: object = None
    visual: VisualText | None = None
    clip_tokenizer: object = None
    kb_embeddings: torch.Tensor | None = None

    def save_pretrained(self, folder: str | Path, *, overwrite: bool = True, link_from: dict[str, Path] | None = None) -> Path:
        """Write the folder atomically; ``link_from`` hard-links module folders already saved elsewhere."""
        folder = Path(folder)
        with atomic_directory(folder, kind="model", overwrite=overwrite) as tmp:
            self.config.save(tmp)
            atomic_write_text(tmp / KB_FILE, self.kb.text)
            for name, module, tokenizer in (("text", self.text, self.text_tokenizer), ("clip", self.visual, self.clip_tokenizer)):
                if module is None:
                    continue
                if link_from and name in link_from:
                    link_tree(link_from[name], tmp / name)
                else:
                    module.save_pretrained(tmp / name, tokenizer)
            if self.kb_embeddings is not None:
                from safetensors.torch import save_file

                save_file({"kb_embeddings": self.kb_embeddings.detach().float().cpu().contiguous()}, str(tmp / EMB_FILE))
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: torch.device | str = "cpu") -> MCRModel:
        from emmel.io import read_jsonl
        from emmel.schema import Entity

        folder = Path(folder)
        config = ModelConfig.load(folder)
        kb_path = folder / KB_FILE
        if not kb_path.is_file():
            raise EmmelError(f"the model folder has no {KB_FILE}", path=folder)
        text = kb_path.read_text(encoding="utf-8")
        if config.kb_sha256 and sha256_bytes(text.encode("utf-8")) != config.kb_sha256:
            raise EmmelError(f"{KB_FILE} does not match the sha256 recorded in the model config", path=kb_path)
        entities = []
        for number, row in enumerate(read_jsonl(kb_path), start=1):
            try:
                entities.append(Entity.from_dict(row))
            except ValueError as exc:
                raise EmmelError(str(exc), path=kb_path, record=f"line {number}") from None
        kb = KBIndex.from_entities(entities)
        model = cls(config, kb, sorted(entities, key=lambda e: e.id))
        if "text" in config.modules:
            model.text, model.text_tokenizer = CrossEncoder.from_pretrained(folder / "text")
            model.text.to(device).eval()
        if "visual" in config.modules:
            model.visual, model.clip_tokenizer = VisualText.from_pretrained(folder / "clip")
            model.visual.to(device).eval()
            if (folder / EMB_FILE).is_file():
                from safetensors.torch import load_file

                emb = load_file(str(folder / EMB_FILE))["kb_embeddings"]
                if emb.shape[0] == len(kb):
                    model.kb_embeddings = emb.to(device)
        return model


def link_tree(src: Path, dst: Path) -> None:
    """Copy a folder of weights by hard links (no extra disk), falling back to copies."""
    for path in sorted(Path(src).rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
