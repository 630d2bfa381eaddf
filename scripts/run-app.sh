#!/usr/bin/env bash
# Set up (first time only takes a minute) and start the desktop app with the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh app
exec .venv/bin/pneumonia-xray "$@"
