"""Small helpers shared by the tests: a free loopback port, the CLI run as a user runs it, and a
call that must not block."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_emmel(*args, cwd=None, env: dict | None = None, timeout: float | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """``python -m emmel ARGS`` in a subprocess with this checkout first on the path.

    ``EMMEL_REDIS_URL`` is dropped so a developer's shell cannot switch a test crawl to Redis;
    ``env`` adds variables on top; ``input`` is fed on stdin (otherwise stdin is empty).
    """
    full_env = {k: v for k, v in os.environ.items() if k != "EMMEL_REDIS_URL"}
    full_env.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "emmel", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout, input=input if input is not None else "")


def finishes(function, *args, seconds: float = 10.0, **kwargs):
    """``function(*args, **kwargs)`` in a daemon thread: its result, or a failed test (instead of a
    suite that hangs) when it blocks for ``seconds``."""
    box: dict = {}

    def target():
        try:
            box["value"] = function(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed back to the test)
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function} blocked for {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]
