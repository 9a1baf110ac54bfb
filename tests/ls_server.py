"""A real Label Studio server for the tests (PyPI ``label-studio`` 1.23.x in its own venv).

The session fixture ``label_studio`` starts it on 127.0.0.1 at a free port with a fresh data dir and
document root, waits for ``GET /health``, and stops it at session end. The binary comes from
``$EMMEL_LABEL_STUDIO_BIN``, else ``<repo>/.ls-venv/bin/label-studio``, else the lead's checkout. It
is skipped when the binary is missing, except under ``CI=true`` where that is a failure.
(Never run ``label-studio --version``: it starts a server on 0.0.0.0:8080.)
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
FALLBACK_BIN = Path("/work/main/.ls-venv/bin/label-studio")
START_TIMEOUT = 240


@dataclass
class LabelStudioServer:
    url: str
    token: str  # legacy API token of the admin user
    document_root: Path  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT
    data_dir: Path
    log: Path


def find_binary() -> Path | None:
    explicit = os.environ.get("EMMEL_LABEL_STUDIO_BIN")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    for candidate in (REPO / ".ls-venv" / "bin" / "label-studio", FALLBACK_BIN):
        if candidate.is_file():
            return candidate
    return None




def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return b'"UP"' in response.read()
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and any children it made
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    binary = find_binary()
    if binary is None:
        message = "label-studio not found (set EMMEL_LABEL_STUDIO_BIN or install it into .ls-venv)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("label-studio")
    data_dir, document_root = base / "data", base / "files"
    data_dir.mkdir()
    document_root.mkdir()
    port, token = free_port(), secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED="true",
        LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=str(document_root),
    )
    command = [
        str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
        "--username", "emmel@example.com", "--password", secrets.token_urlsafe(12),
        "--user-token", token, "--enable-legacy-api-token",
    ]
    log = base / "server.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=base, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"label-studio exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"label-studio did not answer /health within {START_TIMEOUT} s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        yield LabelStudioServer(url=url, token=token, document_root=document_root, data_dir=data_dir, log=log)
    finally:
        _stop(process)
