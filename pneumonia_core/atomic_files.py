"""Atomic file output, shared by training, the converter, the benchmark and the app.

:func:`atomic_writer` / :func:`atomic_write_text` / :func:`atomic_write_bytes`: write to a
temporary file beside the target, flush and fsync it, then rename it over the target, so a
crash, a full disk or Ctrl-C never leaves a partial or clobbered file; the target keeps its
mode and a symbolic link is followed and kept (used by the batch CSV, the review-list and
audit exports, the settings, the model folder and the converter's outputs);
:func:`remove_stale_temps` removes what killed writers left.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


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


#: Flags of a new temporary file: created here or not at all, never through a link
#: (``tempfile.mkstemp``'s); ``os.open`` makes it non-inheritable.
_TEMP_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_BINARY", 0))


def _new_temp_file(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A new file ``folder/<prefix><random><suffix>`` open for writing, readable by its owner
    only (as ``tempfile.mkstemp`` makes it, without importing tempfile, shutil and random:
    about 3 ms of every start of ``classify``, issue 22). Returns (descriptor, path)."""
    for _ in range(100):
        name = os.path.join(folder, f"{prefix}{os.urandom(6).hex()}{suffix}")
        try:
            return os.open(name, _TEMP_FLAGS, 0o600), name
        except FileExistsError:  # 48 random bits taken: try another name
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")


@contextlib.contextmanager
def atomic_writer(target: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8",
                  newline: str | None = None, new_mode: int | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``target`` for writing; on success flush, fsync and rename
    it over ``target``; on any exception (Ctrl-C, or SIGTERM turned into one, included) remove
    it and leave ``target`` as it was.

    The user's file is respected: an existing target keeps its permission bits (a new one gets
    0666 minus the umask, not mkstemp's 0600; ``new_mode`` when given), and a symbolic link is followed (the file it
    points to is replaced, the link stays). The temporary file is named
    ``.<name>.<pid>.<random>.tmp`` so :func:`remove_stale_temps` can remove those of killed
    processes."""
    real = resolve_target(target)
    try:
        file_mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        file_mode = _new_file_mode() if new_mode is None else new_mode
    fd, tmp_name = _new_temp_file(real.parent, f"{_temp_prefix(real)}{os.getpid()}.", ".tmp")
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


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes,
                       new_mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` atomically, see :func:`atomic_writer`."""
    with atomic_writer(target, "wb", encoding=None, new_mode=new_mode) as fh:
        fh.write(data)
