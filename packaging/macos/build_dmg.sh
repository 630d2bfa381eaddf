#!/usr/bin/env bash
# macOS recipe (docs/deployment.md, "macOS"). NOT RUN in this project's CI machine (Linux);
# .github/workflows/installers.yml runs it on a macOS runner.
#
#   packaging/macos/build_dmg.sh [-v VERSION]   -> dist/pneumonia-xray-VERSION.dmg (+ .sha256,
#                                                 .manifest.json)
# Builds dist/pneumonia-xray.app with build.spec (its macOS branch: the .app, DICOM document
# type), runs the bundle's self-test inside the .app, and wraps the .app in a compressed disk
# image. IT's machine settings go to /Library/Application Support/pneumonia-xray/config.json
# (copy packaging/linux/config.json there; the disk image does not install it).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
version=""
while getopts "v:" opt; do case "$opt" in v) version="$OPTARG" ;; *) exit 2 ;; esac; done
version="${version:-$(cd "$root" && "$py" -c 'import pneumonia_core; print(pneumonia_core.__version__)')}"
cd "$root"
"$py" -m PyInstaller --noconfirm --distpath dist --workpath build build.spec
app="dist/pneumonia-xray.app"
env -i "$app/Contents/MacOS/pneumonia-xray" --self-test   # fails the build loudly
dmg="dist/pneumonia-xray-$version.dmg"
rm -f "$dmg"
hdiutil create -volname "pneumonia-xray $version" -srcfolder "$app" -ov -format UDZO "$dmg"
"$py" packaging/release_manifest.py "$dmg" "$app/Contents/Resources/resources/model" \
  --version "$version" --kind dmg
echo "$dmg"
