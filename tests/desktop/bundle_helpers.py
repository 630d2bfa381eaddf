"""The one PyInstaller build of the checkout that the bundle and package tests share
(``build`` fixture in tests/desktop/conftest.py; about a minute), and how they run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The size budget of the bundle folder, in bytes (120 MB; build.spec's cuts, docs/deployment.md).
SIZE_LIMIT = 120_000_000
#: What the build needs from the checkout.
BUILD_INPUTS = ("build.spec", "desktop/", "pneumonia_core/", "resources/")
EXE_NAME = "pneumonia-xray.exe" if sys.platform.startswith("win") else "pneumonia-xray"


def checkout_files() -> list[str]:
    """The build inputs as a fresh clone of this working tree would have them: tracked and
    not-ignored files (no caches, builds or virtual environments)."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(ROOT)).replace(os.sep, "/") for p in ROOT.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts]
    return sorted(f for f in listed if f.startswith(BUILD_INPUTS) and (ROOT / f).is_file())


def offline_prefix() -> list[str]:
    """``unshare -n`` (or, unprivileged, ``unshare -rn``): a network namespace with no
    interfaces. Where neither is allowed the bundle runs with the network, and the test says so."""
    if shutil.which("unshare"):
        for cmd in (["unshare", "-n"], ["unshare", "-rn"]):
            if subprocess.run([*cmd, "true"], capture_output=True).returncode == 0:
                return cmd
    warnings.warn("unshare -n is not possible here: the bundle is tested WITH network access",
                  stacklevel=2)
    return []


def build_bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("PyInstaller")
    top = tmp_path_factory.mktemp("bundle")
    src = top / "src"
    for rel in checkout_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    dist, work = top / "dist", top / "work"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(work), str(src / "build.spec")],
        cwd=src, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    sys.stdout.write(f"\nbundle built in {time.perf_counter() - t0:.0f} s\n")
    folder = dist / "pneumonia-xray"
    return {"src": src, "work": work, "folder": folder, "exe": folder / EXE_NAME, "top": top}


def run_bundle(exe: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    return subprocess.run([*offline_prefix(), "env", "-i", *extra, str(exe), *args],
                          capture_output=True, text=True, timeout=timeout)


def folder_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
