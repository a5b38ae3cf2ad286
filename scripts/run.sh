#!/usr/bin/env bash
# Set up, then run the kit's main job: execute every notebook on the default model.
# Results: outputs/notebooks/ (executed notebooks), outputs/videos/ (mp4 + JSON sidecars).
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup.sh)
"$py" scripts/run_notebooks.py "$@"
