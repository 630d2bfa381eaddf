#!/usr/bin/env bash
# Everything CI checks, from a fresh machine: set-up, lint, layer contracts, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh app,dev,train
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
.venv/bin/ruff check .
.venv/bin/lint-imports
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
