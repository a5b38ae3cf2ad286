#!/usr/bin/env bash
# Set up, then run the tests: unit tests of helpers, and every notebook under nbval on the
# small model (forced by COGVIDEOX_MODEL=small in conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup.sh)
"$py" -m pytest "$@"
