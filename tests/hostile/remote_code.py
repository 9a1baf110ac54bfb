"""Armed checkpoints: real saved model folders whose config asks transformers to import a ``.py`` file
shipped in the folder (``auto_map``), which writes a sentinel file when it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PAYLOAD = """import pathlib
pathlib.Path({sentinel!r}).write_text("checkpoint code ran")


class EvilConfig:
    pass


EvilModel = EvilTokenizer = EvilConfig
"""
AUTO_MAP = {"config.json": {"AutoConfig": "evil_code.EvilConfig", "AutoModel": "evil_code.EvilModel"},
            "tokenizer_config.json": {"AutoTokenizer": ["evil_code.EvilTokenizer", None]}}


def arm(folder: Path, sentinel: Path, file: str = "config.json", nested: str | None = None) -> Path:
    """Add ``evil_code.py`` and an ``auto_map`` to ``folder/file`` (inside ``nested``, e.g. text_config, if given)."""
    folder = Path(folder)
    (folder / "evil_code.py").write_text(PAYLOAD.format(sentinel=str(sentinel)), encoding="utf-8")
    config = json.loads((folder / file).read_text(encoding="utf-8"))
    (config[nested] if nested else config)["auto_map"] = AUTO_MAP[file]
    (folder / file).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def runs_when_trusted(folder: Path, sentinel: Path, modules_cache: Path) -> bool:
    """The control: transformers told to trust the folder does run its code (so the fixture is live)."""
    code = "import sys; from transformers import AutoConfig; AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)"
    env = {**os.environ, "HF_MODULES_CACHE": str(modules_cache), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, env=env, timeout=300)
    return Path(sentinel).exists()
