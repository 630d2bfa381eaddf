#!/usr/bin/env bash
# Build the one-folder bundle with build.spec and check it: self-test offline with an empty
# environment, and its size. Usage: scripts/build_bundle.sh [DISTPATH]   (default: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
dist="${1:-dist}"
py="${PYTHON:-.venv/bin/python}"
"$py" -m PyInstaller --noconfirm --distpath "$dist" --workpath build build.spec
exe="$dist/pneumonia-xray/pneumonia-xray"
[ -x "$exe.exe" ] && exe="$exe-cli.exe"
offline=()
if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then offline=(unshare -n)
elif command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then offline=(unshare -rn)
else echo "note: unshare -n not available; self-test runs with the network" >&2; fi
"${offline[@]}" env -i "$exe" --version
"${offline[@]}" env -i "$exe" --self-test
echo "bundle: $dist/pneumonia-xray, $(du -sb "$dist/pneumonia-xray" | cut -f1) bytes ($(du -sh "$dist/pneumonia-xray" | cut -f1))"
