"""`emmel link`: the top-k KB entities for one image + description, with a trained model.

DATASET_OR_MODEL may be
1. a saved model folder (``emmel_model.json`` inside, e.g. ``EMMEL-benchmark/models/mcr``),
2. a benchmark output folder (``EMMEL-benchmark``; ``--model`` picks the variant, default ``mcr``),
3. a dataset folder: the model is looked for in ``<dataset>-benchmark/models/<model>`` beside it
   (``emmel benchmark``'s default output) or ``<dataset>/benchmark/models/<model>``; its KB must
   be the dataset's KB.
Every KB entity is scored (no candidate set exists for a new input) by :meth:`MCRModel.link`, the
same scoring `emmel benchmark` evaluates with: the KB label embeddings are stored with the model,
the cross-encoder scores all (label, text) pairs in batches.
"""

from __future__ import annotations

from pathlib import Path

from baseline.config import DEFAULT_DEVICE, LINK_MODEL, MODEL_FILE, MODEL_NAMES
from emmel.errors import EmmelError


def resolve_model(path: str | Path, name: str = LINK_MODEL) -> Path:
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


def load_for_link(path: str | Path, name: str = LINK_MODEL, device: str = DEFAULT_DEVICE):
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
