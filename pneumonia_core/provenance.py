"""Provenance, shared by training, the converter and the benchmark (atomic file output is in
:mod:`pneumonia_core.atomic_files`).

- :func:`git_commit`: the project's commit, ``+dirty`` when tracked files changed (one spelling).
- :func:`data_fingerprint`: SHA-256 of a data set's sorted relative file names and sizes (one
  formula; training records it in the run's ``config.json`` and the converter copies it).
- :func:`portable_path`: a path as it may appear in a shipped file (relative to a known root,
  else only its last components), never an absolute path of the machine that built it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
UNKNOWN = "unknown"


def git_commit(repo: str | os.PathLike[str] | None = None, paths: Iterable[str] = ()) -> str:
    """The checkout's HEAD commit, with ``+dirty`` when tracked files (under ``paths``, or
    anywhere) have uncommitted changes; ``"unknown"`` outside a git checkout."""
    cwd = Path(repo) if repo is not None else REPO_ROOT
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        status = ["git", "status", "--porcelain", "--untracked-files=no"]
        paths = list(paths)
        if paths:
            status += ["--", *paths]
        dirty = subprocess.run(status, cwd=cwd, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return (sha + ("+dirty" if dirty else "")) if sha else UNKNOWN


def data_fingerprint(files: Iterable[tuple[str, int]]) -> str:
    """SHA-256 over the sorted ``relative/path<TAB>size`` lines of a data set (what it is,
    independent of where it lies)."""
    h = hashlib.sha256()
    for rel, size in sorted(files):
        h.update(f"{rel}\t{int(size)}\n".encode())
    return h.hexdigest()


def portable_path(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                  keep: int = 2) -> str:
    """``path`` relative to ``root`` when it lies under it, else its last ``keep`` components
    (e.g. ``PNEUMONIA/person1_virus_6.jpeg``): fit for a file that is shipped or shared."""
    p = Path(path)
    if root is not None:
        try:
            return p.resolve().relative_to(Path(root).resolve()).as_posix()
        except (ValueError, OSError):
            pass
    if not p.is_absolute():
        return p.as_posix()
    return "/".join(p.parts[-keep:])
