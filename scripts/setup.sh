#!/usr/bin/env bash
# Set up the kit; safe to run again (it skips what is already done).
#
# - Uses the active virtual or conda environment if there is one, else creates .venv here.
# - Keeps an installed torch >= 2.6 (Colab's, conda's, a CUDA build you chose): never replaces it.
#   Only when there is none does it install torch==$KIT_TORCH_VERSION (2.13.0 by default).
# - Installs the kit itself (editable) with its test tools, at the tested versions of
#   requirements-lock.txt in .venv (lower bounds only in an environment of your own).
# Prints the python it set up as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
  py=$(command -v python)
  lock=()
  echo "setup: using the active environment ($py)" >&2
else
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || { echo "setup: 'python3 -m venv' failed: install your OS's python3-venv package, or activate an environment and run again." >&2; exit 1; }
  fi
  py=$PWD/.venv/bin/python
  lock=(-c requirements-lock.txt)
fi

if "$py" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 6))' 2>/dev/null; then
  echo "setup: keeping the installed torch $("$py" -c 'import torch; print(torch.__version__)')" >&2
else
  # A CPU-only Linux machine saves gigabytes with PyTorch's CPU-only build: install that
  # first (PyTorch's install page gives the command) and this script keeps it.
  "$py" -m pip install -q "torch==${KIT_TORCH_VERSION:-2.13.0}" >&2
fi

stamp=$("$py" -c 'import sys; print(sys.prefix)')/.cogvideox-kit-installed
want=$(cat pyproject.toml requirements-lock.txt | cksum)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$py" -m pip install -q -e ".[test]" "${lock[@]}" >&2
  echo "$want" > "$stamp"
fi
echo "$py"
