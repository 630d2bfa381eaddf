#!/usr/bin/env bash
# Set up a fresh machine: system libraries for Qt (Debian/Ubuntu, when run as root or with
# sudo), a virtual environment in .venv, and the project with the requested extras.
# Usage: scripts/setup.sh [EXTRAS]   (default: app,dev,train)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-app,dev,train}"

DEBS="xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 \
libxkbcommon-x11-0 libxcb-cursor0 libxcb-shape0 libegl1 libgl1 libfontconfig1 libdbus-1-3"
# the Debian package's tests lint it and its desktop entry (tests/desktop/test_deb_package.py)
DEBS="$DEBS lintian desktop-file-utils"
# the bundle takes NumPy's GNU Fortran runtime from the host, as the Debian package depends on it
DEBS="$DEBS libgfortran5"
if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing system packages:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
