#!/usr/bin/env bash
# Build the Debian package of pneumonia-xray from the PyInstaller bundle, with dpkg-deb, and
# write its checksum and release manifest beside it (docs/deployment.md).
#
#   packaging/linux/build_deb.sh [-b BUNDLE] [-o OUTDIR] [-v VERSION]
#
# -b  an already built bundle folder (dist/pneumonia-xray); default: build one now with
#     scripts/build_bundle.sh (from a clean checkout this is the whole recipe)
# -o  where the .deb, .sha256 and .manifest.json go (default: dist)
# -v  the package version (default: the app's, pneumonia_core.__version__)
# DEB_COMPRESS=xz|gzip|zstd|none and DEB_COMPRESS_LEVEL=0-9 choose dpkg-deb's compression
# (default xz at its default level).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
bundle=""; out="$root/dist"; version=""
while getopts "b:o:v:" opt; do
  case "$opt" in
    b) bundle="$OPTARG" ;; o) out="$OPTARG" ;; v) version="$OPTARG" ;;
    *) echo "usage: $0 [-b BUNDLE] [-o OUTDIR] [-v VERSION]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ -z "$bundle" ]; then
  echo "build_deb: building the bundle (scripts/build_bundle.sh)" >&2
  "$root/scripts/build_bundle.sh" "$out"
  bundle="$out/pneumonia-xray"
fi
[ -x "$bundle/pneumonia-xray" ] || { echo "build_deb: no bundle at $bundle" >&2; exit 1; }
version="${version:-$(cd "$root" && "$py" -c 'import pneumonia_core; print(pneumonia_core.__version__)')}"
arch="$(dpkg --print-architecture)"
name="pneumonia-xray"
deb="$out/${name}_${version}_${arch}.deb"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"
echo "build_deb: staging $name $version ($arch)" >&2
install -d -m 755 "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/etc/$name" \
  "$pkg/usr/share/applications" "$pkg/usr/share/icons/hicolor/scalable/apps" \
  "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/$name" "$pkg/usr/share/lintian/overrides"

# the application folder: directories 755, files 644, the program itself 755
cp -a "$bundle" "$pkg/opt/$name"
find "$pkg/opt/$name" -type d -exec chmod 755 {} +
find "$pkg/opt/$name" -type f -exec chmod 644 {} +
chmod 755 "$pkg/opt/$name/$name"

# on the PATH: a wrapper (the bundle finds its _internal folder beside the real program)
printf '#!/bin/sh\nexec /opt/%s/%s "$@"\n' "$name" "$name" > "$pkg/usr/bin/$name"
chmod 755 "$pkg/usr/bin/$name"

install -m 644 "$here/$name.desktop" "$pkg/usr/share/applications/$name.desktop"
install -m 644 "$here/$name.svg" "$pkg/usr/share/icons/hicolor/scalable/apps/$name.svg"
gzip -9n < "$here/$name.1" > "$pkg/usr/share/man/man1/$name.1.gz"
install -m 644 "$here/copyright" "$pkg/usr/share/doc/$name/copyright"
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s, built by packaging/linux/build_deb.sh.\n\n -- pneumonia-xray maintainers <it@pneumonia-xray.invalid>  %s\n' \
  "$name" "$version" "$version" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" \
  | gzip -9n > "$pkg/usr/share/doc/$name/changelog.gz"
install -m 644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/$name"

# IT's machine settings: a conffile, so upgrades keep local edits and purge removes it
install -m 644 "$here/config.json" "$pkg/etc/$name/config.json"
echo "/etc/$name/config.json" > "$pkg/DEBIAN/conffiles"
install -m 755 "$here/postinst" "$pkg/DEBIAN/postinst"

# the host libraries build.spec leaves out (Qt's Linux requirements, the C++ runtime, Python's
# compression, ctypes, uuid and SQLite runtimes, NumPy's GNU Fortran runtime); OpenSSL's
# libcrypto is only recommended: it makes hashlib's SHA-256 fast, and without it hashlib uses
# CPython's own (same digests, slower)
depends="libc6, libstdc++6, libgcc-s1, zlib1g, libzstd1, libglib2.0-0 | libglib2.0-0t64, \
liblzma5, libbz2-1.0, libffi8, libuuid1, libsqlite3-0, libgfortran5, libquadmath0, \
libx11-6, libx11-xcb1, libxext6, libxrender1, libxcb1, libxcb-cursor0, libxcb-icccm4, \
libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render0, libxcb-render-util0, \
libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-util1, libxcb-xfixes0, libxcb-xkb1, \
libxkbcommon0, libxkbcommon-x11-0, libfontconfig1, libfreetype6, libdbus-1-3, libegl1, libgl1"
size_kb="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: pneumonia-xray maintainers <it@pneumonia-xray.invalid>
Installed-Size: $size_kb
Depends: $depends
Recommends: libssl3 | libssl3t64
Section: science
Priority: optional
Homepage: https://pneumonia-xray.invalid/
Description: offline triage aid for pneumonia on pediatric chest X-rays
 Flags pediatric frontal chest X-rays (JPEG, PNG, TIFF, BMP, DICOM) that may
 show pneumonia, for a person to review first. It is a triage aid, not a
 diagnosis. The program runs its bundled model on this computer and never
 uses the network. IT configures every user of the workstation in
 /etc/pneumonia-xray/config.json; the package checks itself with
 "pneumonia-xray --self-test" when it is installed.
CONTROL
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" ${DEB_COMPRESS_LEVEL:+-z"$DEB_COMPRESS_LEVEL"} --build "$pkg" "$deb" >&2
(cd "$root" && "$py" packaging/release_manifest.py "$deb" "$bundle/_internal/resources/model" \
  --version "$version" --kind deb) >&2
echo "$deb"
