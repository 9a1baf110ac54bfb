"""The one way emmel calls transformers' ``from_pretrained``: local files only, ``trust_remote_code=False``,
and a folder whose config asks for its own code (``auto_map``) refused before transformers reads it (it
would otherwise ask "run the custom code? [y/N]" and run it on "y"). Kept apart from the loaders so the
tokenizer and model loaders can both use it without importing each other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from emmel.errors import EmmelError

# The files through which transformers finds code shipped with a checkpoint (their ``auto_map``).
CODE_POINTERS = ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json")


def refuse_remote_code(folder: Path, what: str) -> None:
    """One line naming the file when a checkpoint folder asks to run its own code (``auto_map``)."""
    for name in CODE_POINTERS:
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # transformers' own error names the unreadable file
        target = _auto_map(data)
        if target is not None:
            raise EmmelError(f"{what}: {name} asks to run code shipped with the checkpoint (auto_map: {target}); "
                             "emmel never runs checkpoint code, use a checkpoint of a standard architecture", path=path)


def _auto_map(data) -> str | None:
    """The first ``auto_map`` entry anywhere in a JSON config, or None."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "auto_map" and value:
                return json.dumps(value, ensure_ascii=False)[:120]
            found = _auto_map(value)
            if found is not None:
                return found
    elif isinstance(data, list):
        for value in data:
            found = _auto_map(value)
            if found is not None:
                return found
    return None


def pretrained(loader, folder: str | os.PathLike, what: str, **kwargs):
    """The one way emmel calls ``loader.from_pretrained`` (AutoConfig, AutoModel, AutoTokenizer, a model
    class): on a local folder only, with remote code refused first and ``trust_remote_code=False``."""
    refuse_remote_code(Path(folder), what)
    return loader.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True, **kwargs)
