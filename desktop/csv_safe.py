"""Safe CSV output for every CSV the app and the batch command write.

* Cells that spreadsheets would execute: text starting with ``= + - @`` (or a tab or
  carriage return) gets a leading apostrophe (OWASP CSV injection advice). Numbers are kept.
* :func:`one_line`: carriage returns and line feeds inside a cell (a file name may hold them)
  are written as the two characters ``\\r`` / ``\\n``, so every record is one physical line
  (``wc -l``, ``grep`` and line-based importers see one row per file).
* :func:`write_csv_atomic`: written to a temporary file beside the target, flushed to disk and
  renamed over it only when complete; the temporary file is removed on any failure or
  interruption (exceptions, Ctrl-C, SIGTERM turned into an exception by the caller), and
  :func:`remove_stale_temps` removes those a SIGKILLed process left. An existing target keeps
  its permission bits; a symbolic link is followed explicitly: its target file is replaced and
  the link is kept.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A value safe to write with :mod:`csv`; None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def one_line(text: str) -> str:
    """``text`` with CR and LF written as the escapes ``\\r`` and ``\\n``."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def safe_cell(value: object) -> object:
    """:func:`one_line` then :func:`cell`: the form of every text cell the app writes."""
    return cell(one_line(value) if isinstance(value, str) else value)


def resolve_target(target: str | os.PathLike[str]) -> Path:
    """The file that writing ``target`` replaces: a symbolic link is followed (also a chain
    of links); the link itself is left in place."""
    return Path(os.path.realpath(target))


def _temp_prefix(real: Path) -> str:
    return f".{real.name}."


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files of ``target`` left by processes that no longer run (SIGKILL,
    power loss). Their names carry the writer's process id. Returns what was removed."""
    real = resolve_target(target)
    removed: list[Path] = []
    try:
        names = os.listdir(real.parent)
    except OSError:
        return removed
    prefix = _temp_prefix(real)
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        try:
            os.unlink(real.parent / name)
            removed.append(real.parent / name)
            log.info("removed %s left by an interrupted run", real.parent / name)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _new_file_mode() -> int:
    """The mode an ordinary ``open(..., "w")`` would give a new file (0666 minus umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_csv_atomic(dest: str | os.PathLike[str], header: Iterable[str],
                     rows: Iterable[Iterable[object]], lineterminator: str = "\r\n") -> int:
    """Write ``header`` and ``rows`` (cells through :func:`safe_cell`) as UTF-8 CSV to a
    temporary file beside the real target, fsync it and rename it into place. Returns the
    number of rows. On any exception (including KeyboardInterrupt) nothing is left behind
    and an existing target is untouched."""
    real = resolve_target(dest)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(real)}{os.getpid()}.", suffix=".tmp",
                                    dir=real.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator=lineterminator)
            writer.writerow(list(header))
            for row in rows:
                writer.writerow([safe_cell(v) for v in row])
                n += 1
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp_name, real)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    _fsync_dir(real.parent)
    return n


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); ignored where folders cannot be opened."""
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
