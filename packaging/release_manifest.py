"""Checksums and a release manifest beside a built package, so IT can verify what they deploy.

    python packaging/release_manifest.py PACKAGE MODEL_DIR [--version V] [--kind deb]

Writes, next to PACKAGE:

- ``PACKAGE.sha256``: ``sha256sum -c`` format, the package itself;
- ``PACKAGE.manifest.json``: the package's name, version, size and SHA-256; the model folder's
  digest (the same digest the app pins and prints in ``--version`` / ``--self-test``) and the
  SHA-256 of each of its files; the model's name and version; the commit it was built from.

The model folder digest comes from :mod:`pneumonia_core.integrity`, the one place it is
defined, so the manifest and the app can never disagree on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from pneumonia_core.integrity import _sha256_file as sha256_file  # noqa: E402 - the one hasher
from pneumonia_core.integrity import digest_of, folder_files  # noqa: E402
from pneumonia_core.metadata import ModelMetadata  # noqa: E402

log = logging.getLogger("release_manifest")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def manifest(package: Path, model_dir: Path, version: str, kind: str) -> dict:
    files = folder_files(model_dir)
    meta = ModelMetadata.load(model_dir)
    return {
        "manifest_version": 1,
        "package": {"file": package.name, "kind": kind, "version": version,
                    "bytes": package.stat().st_size, "sha256": sha256_file(package)},
        "model": {"name": meta.name, "version": meta.version, "model_sha256": meta.sha256,
                  "folder_digest": digest_of(files), "files": dict(sorted(files.items()))},
        "source_commit": git_commit(),
    }


def write(package: Path, model_dir: Path, version: str, kind: str) -> tuple[Path, Path]:
    data = manifest(package, model_dir, version, kind)
    sums = package.with_name(package.name + ".sha256")
    sums.write_text(f"{data['package']['sha256']}  {package.name}\n")
    out = package.with_name(package.name + ".manifest.json")
    out.write_text(json.dumps(data, indent=2) + "\n")
    return sums, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--kind", default="deb")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in write(args.package, args.model_dir, args.version, args.kind):
        log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
