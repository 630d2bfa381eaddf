"""Safe CSV output for every CSV the app and the batch command write.

* Cells that spreadsheets would execute: text starting with ``= + - @`` (or a tab or
  carriage return) gets a leading apostrophe (OWASP CSV injection advice). Numbers are kept.
* :func:`one_line`: carriage returns and line feeds inside a cell (a file name may hold them)
  are written as the two characters ``\\r`` / ``\\n``, so every record is one physical line
  (``wc -l``, ``grep`` and line-based importers see one row per file).
* :func:`write_csv_atomic`: through :func:`pneumonia_core.atomic_files.atomic_writer`, written to
  a temporary file beside the target, flushed to disk and renamed over it only when complete;
  the temporary file is removed on any failure or interruption (exceptions, Ctrl-C, SIGTERM
  turned into an exception by the caller), and :func:`remove_stale_temps` removes those a
  SIGKILLed process left. An existing target keeps its permission bits; a symbolic link is
  followed explicitly: its target file is replaced and the link is kept.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import TextIO

from pneumonia_core.atomic_files import atomic_writer, remove_stale_temps, resolve_target

__all__ = ["cell", "one_line", "path_text", "remove_stale_temps", "resolve_target",
           "safe_cell", "write_csv", "write_csv_atomic"]

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


def path_text(path: str | os.PathLike[str]) -> str:
    """A file path as one unambiguous line of text: two different names never give the same
    text. On POSIX (where a name may hold any byte but ``/`` and NUL) a backslash is written
    ``\\\\``, CR and LF ``\\r`` / ``\\n``, other control characters and bytes that are
    not UTF-8 ``\\xNN``; so a name with a carriage return (``a\\rb``) and one with a literal
    backslash and ``r`` (``a\\\\rb``) differ. On Windows names cannot hold control characters
    and the backslash is the separator: the path is kept as it is."""
    if os.name == "nt":
        return one_line(os.fsdecode(path))
    text = os.fsencode(path).decode("utf-8", "surrogateescape")
    if "\\" not in text and text.isprintable():  # no control character, no undecodable byte
        return text
    out: list[str] = []
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8 (PEP 383)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_cell(value: object) -> object:
    """:func:`one_line` then :func:`cell`: the form of every text cell the app writes."""
    return cell(one_line(value) if isinstance(value, str) else value)


def write_csv_atomic(dest: str | os.PathLike[str], header: Iterable[str],
                     rows: Iterable[Iterable[object]], lineterminator: str = "\r\n") -> int:
    """Write ``header`` and ``rows`` (cells through :func:`safe_cell`) as UTF-8 CSV to
    ``dest`` with :func:`pneumonia_core.atomic_files.atomic_writer` (temporary file, fsync,
    rename; mode kept, symbolic link followed) after :func:`desktop.safe_output.check_output`
    (:class:`~desktop.safe_output.OutputError`, an OSError, when ``dest`` must not be
    replaced). Returns the number of rows. On any exception
    (including KeyboardInterrupt) nothing is left behind and an existing file is untouched."""
    from desktop.safe_output import require_output

    header = list(header)
    require_output(dest, "csv", header=",".join(header))  # the one output rule
    with atomic_writer(dest, newline="") as fh:
        return write_csv(fh, header, rows, lineterminator)


def write_csv(fh: TextIO, header: Iterable[str], rows: Iterable[Iterable[object]],
              lineterminator: str = "\r\n") -> int:
    """Write ``header`` and ``rows`` (cells through :func:`safe_cell`) to the open text
    stream ``fh`` (a file, or standard output for ``classify --csv -``); returns the rows."""
    writer = csv.writer(fh, lineterminator=lineterminator)
    writer.writerow(list(header))
    n = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        n += 1
    return n
