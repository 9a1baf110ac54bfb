#!/usr/bin/env bash
# Install emmel into ./.venv: CPU torch first (so nothing pulls a CUDA build), then the project,
# then cn_clip without its dependencies (its metadata would replace torch and add torchvision).
#   bash setup.sh            # emmel + test and scale-out extras
# Elsewhere than this machine, get the CPU wheel with:
#   TORCH_INDEX=https://download.pytorch.org/whl/cpu bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
if [ -n "${TORCH_INDEX:-}" ]; then
  "${PIP[@]}" torch==2.13.0 --index-url "$TORCH_INDEX"
else
  "${PIP[@]}" torch==2.13.0
fi
"${PIP[@]}" -e ".[test,scale]"
"${PIP[@]}" --no-deps cn_clip
.venv/bin/python - <<'PY'
import torch, importlib.util
assert torch.__version__.startswith("2.13.0"), f"torch was replaced: {torch.__version__}"
assert importlib.util.find_spec("torchvision") is None, "torchvision must not be installed (breaks transformers)"
print(f"emmel installed in .venv (torch {torch.__version__}); try: .venv/bin/emmel demo")
PY
