"""Provenance and safe file output, shared by training, the converter, the benchmark and the app.

- :func:`git_commit`: the project's commit, ``+dirty`` when tracked files changed (one spelling).
- :func:`data_fingerprint`: SHA-256 of a data set's sorted relative file names and sizes (one
  formula; training records it in the run's ``config.json`` and the converter copies it).
- :func:`atomic_writer` / :func:`atomic_write_text`: write to a temporary file beside the
  target, flush and fsync it, then rename it over the target, so a crash, a full disk or
  Ctrl-C never leaves a partial or clobbered file; the target keeps its mode and a symbolic
  link is followed and kept (used by the batch CSV, the review-list and audit exports and the
  converter's outputs); :func:`remove_stale_temps` removes what killed writers left.
- :func:`portable_path`: a path as it may appear in a shipped file (relative to a known root,
  else only its last components), never an absolute path of the machine that built it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

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


def resolve_target(target: str | os.PathLike[str]) -> Path:
    """The file that writing ``target`` replaces: a symbolic link (or a chain of them) is
    followed, so the link itself stays in place."""
    return Path(os.path.realpath(target))


def _temp_prefix(real: Path) -> str:
    return f".{real.name}."


def _new_file_mode() -> int:
    """The mode an ordinary ``open(..., "w")`` gives a new file (0666 minus the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill(pid, 0) would terminate it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of :func:`atomic_writer` for ``target`` that processes no
    longer running left behind (SIGKILL, power loss): their names carry the writer's process
    id. Returns what was removed."""
    real = resolve_target(target)
    prefix = _temp_prefix(real)
    removed: list[Path] = []
    try:
        names = os.listdir(real.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(real.parent / name)
            removed.append(real.parent / name)
    return removed


@contextlib.contextmanager
def atomic_writer(target: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8",
                  newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` for writing; on success flush, fsync and rename
    it over ``target``; on any exception (Ctrl-C, or SIGTERM turned into one, included) remove
    it and leave ``target`` as it was.

    The user's file is respected: an existing target keeps its permission bits (a new one gets
    0666 minus the umask, not mkstemp's 0600), and a symbolic link is followed (the file it
    points to is replaced, the link stays). The temporary file is named
    ``.<name>.<pid>.<random>.tmp`` so :func:`remove_stale_temps` can remove those of killed
    processes."""
    real = resolve_target(target)
    try:
        file_mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        file_mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(real)}{os.getpid()}.", suffix=".tmp",
                                    dir=real.parent)
    try:
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            if hasattr(os, "fchmod"):  # POSIX (Windows from Python 3.13 only)
                os.fchmod(fh.fileno(), file_mode)
            os.fsync(fh.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(tmp_name, file_mode)
        os.replace(tmp_name, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(real.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); skipped where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Replace ``target`` with ``text`` (UTF-8) atomically, see :func:`atomic_writer`."""
    with atomic_writer(target) as fh:
        fh.write(text)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_writer(target, "wb", encoding=None) as fh:
        fh.write(data)


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
