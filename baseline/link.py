"""`emmel link`: the top-k KB entities for one image + description, with a trained model.

DATASET_OR_MODEL may be
1. a saved model folder (``emmel_model.json`` inside, e.g. ``EMMEL-benchmark/models/mcr``),
2. a benchmark output folder (``EMMEL-benchmark``; ``--model`` picks the variant, default ``mcr``),
3. a dataset folder: the model is looked for in ``<dataset>-benchmark/models/<model>`` beside it
   (``emmel benchmark``'s default output) or ``<dataset>/benchmark/models/<model>``; its KB must
   be the dataset's KB.
Every KB entity is scored (no candidate set exists for a new input): the KB label embeddings are
stored with the model, the cross-encoder scores all (label, text) pairs in batches.
"""

from __future__ import annotations

from pathlib import Path

import torch

from baseline.config import MODEL_FILE, MODEL_NAMES
from emmel.errors import EmmelError


def resolve_model(path: str | Path, name: str = "mcr") -> Path:
    """The model folder meant by ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise EmmelError("no such dataset or model folder", path=path)
    if (path / MODEL_FILE).is_file():
        return path
    looked = [path / "models" / name]
    if (path / "manifest.json").is_file():
        looked = [path.resolve().with_name(path.resolve().name + "-benchmark") / "models" / name, path / "benchmark" / "models" / name]
    for folder in looked:
        if (folder / MODEL_FILE).is_file():
            return folder
    raise EmmelError(f"no trained '{name}' model found (looked in {', '.join(str(f) for f in looked)}); run `emmel benchmark` first", path=path)


def load_for_link(path: str | Path, name: str = "mcr", device: str = "cpu"):
    """``(MCRModel, folder)``; a dataset folder's KB must match the model's."""
    from baseline.data import kb_of
    from baseline.model import MCRModel

    if name not in MODEL_NAMES:
        raise EmmelError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    folder = resolve_model(path, name)
    model = MCRModel.from_pretrained(folder, device)
    if (Path(path) / "manifest.json").is_file():
        from emmel.dataset import Dataset

        if kb_of(Dataset.load(path)).sha256 != model.kb.sha256:
            raise EmmelError(f"the model in {folder} was trained with a different KB than this dataset's", path=path)
    return model, folder


@torch.no_grad()
def entity_scores(model, image: str | Path | None, text: str, rt) -> dict[str, torch.Tensor]:
    """Scores of every KB entity: ``visual`` (cosine), ``text`` (cross-encoder logit), ``fused``."""
    from baseline.fusion import fuse, normalize
    from baseline.images import Normaliser, load_image
    from baseline.pairs import SpecialIds, token_table
    from baseline.scoring import TextSide, label_embeddings, pair_scores

    cfg = model.config
    if not text or not text.strip():
        raise EmmelError("--text is empty: give the mention's description")
    out: dict[str, torch.Tensor] = {}
    everything = torch.arange(len(model.kb)).view(1, -1)
    if model.visual is not None:
        if image is None:
            raise EmmelError("this model has a visual-text module: give --image")
        pixels = load_image(image, model.visual.image_size).unsqueeze(0).to(rt.device)
        if model.kb_embeddings is None:
            table = token_table(model.clip_tokenizer, model.kb.labels, cfg.clip_label_length - 2)
            model.kb_embeddings = label_embeddings(model.visual, table.to(rt.device), table.lengths, SpecialIds.of(model.clip_tokenizer),
                                                   cfg.clip_label_length, 1024, rt)
        with rt.autocast():
            emb = model.visual.encode_images(Normaliser(cfg.image_mean, cfg.image_std, rt.device)(pixels))
        out["visual"] = (emb.float() @ model.kb_embeddings.float().T).cpu()
    if model.text is not None:
        labels = token_table(model.text_tokenizer, model.kb.labels, cfg.label_max_length)
        texts = token_table(model.text_tokenizer, [text], cfg.text_max_length)
        side = TextSide(labels.to(rt.device), texts.to(rt.device), labels.lengths, texts.lengths, SpecialIds.of(model.text_tokenizer), cfg.text_max_length)
        out["text"] = pair_scores(model.text, side, torch.zeros(1, dtype=torch.long), everything, 1024, rt)
    if "visual" in out and "text" in out:
        out["fused"] = fuse(out["visual"], out["text"], cfg.alpha, cfg.normalization, cfg.visual_scale)
    elif "visual" in out:
        out["fused"] = normalize(out["visual"], cfg.normalization, cfg.visual_scale)
    else:
        out["fused"] = normalize(out["text"], cfg.normalization)
    return {k: v[0] for k, v in out.items()}


def top_entities(model, scores: dict[str, torch.Tensor], k: int) -> list[dict]:
    """The k best entities, best first, with every score."""
    if k < 1:
        raise EmmelError(f"-k must be at least 1, got {k}")
    order = torch.argsort(scores["fused"], descending=True, stable=True)[:k]
    rows = []
    for rank, index in enumerate(order.tolist(), start=1):
        entity = model.entities[index]
        row = {"rank": rank, "id": entity.id, "label": entity.label, "category": entity.category, "region": entity.region,
               "score": round(float(scores["fused"][index]), 6)}
        for key in ("visual", "text"):
            if key in scores:
                row[f"{key}_score"] = round(float(scores[key][index]), 6)
        rows.append(row)
    return rows
