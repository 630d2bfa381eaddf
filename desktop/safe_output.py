"""The one rule for every file the app writes where the user chose the name (Qt-free).

``classify --csv``, ``calibrate --out`` and its two plots, ``profile sign``, the review-list and
audit exports, the audit anchor export: each checks its target with :func:`check_output`
before any work is done, then writes through
:func:`pneumonia_core.atomic_files.atomic_writer` (temporary file beside the target, fsync,
rename: atomic; an existing file keeps its permission bits; a symbolic link is followed and
kept). The rule:

- the target's folder exists and is writable; the target is not a folder;
- an existing target (after following links) is a regular file, never a device, a pipe or a
  socket (as root, ``--force`` once turned ``/dev/full`` into a regular file);
- an existing target is a file of the kind being written (:data:`KINDS`: a CSV, a site
  profile, a PNG, a signature, an anchor), so a typo never replaces a film, a document or
  a key;
- the target is none of the inputs (same file by path, symbolic link or hard link).
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pneumonia_core.atomic_files import resolve_target

__all__ = ["KINDS", "OutputError", "check_output", "overwritten_input", "require_output"]


class OutputError(OSError):
    """The chosen output file must not be written; the message says why."""


def _head(path: Path, n: int = 4096) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return None


#: Suffixes of files a CSV export may replace (besides a file that starts with its header).
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def _is_csv(path: Path, head: bytes, header: str = "") -> bool:
    """UTF-8 text without NUL bytes, named like a CSV or starting with ``header``."""
    from pneumonia_core.sniff import sniff

    if b"\0" in head:
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    if sniff(head) not in (None, "text file"):
        return False
    first = text.splitlines()[0] if text else ""
    return path.suffix.lower() in CSV_SUFFIXES or bool(header and first.strip() == header)


def _is_json_kind(head_kind: str) -> Callable[[Path, bytes, str], bool]:
    def check(path: Path, _head: bytes, _header: str = "") -> bool:
        try:
            data = json.loads(path.read_bytes()[:1 << 24])
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and str(data.get("kind", "")).startswith(head_kind)
    return check


def _is_png(_path: Path, head: bytes, _header: str = "") -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _is_html(_path: Path, head: bytes, _header: str = "") -> bool:
    return head.lstrip().lower().startswith((b"<!doctype html", b"<html"))


#: What an existing target must be for each kind of output (an empty file always may go).
KINDS: dict[str, tuple[str, Callable[[Path, bytes, str], bool]]] = {
    "csv": ("a CSV file", _is_csv),
    "profile": ("a site profile", _is_json_kind("pneumonia-xray site profile")),
    "png": ("a PNG image", _is_png),
    "signature": ("a profile signature", _is_json_kind("pneumonia-xray profile signature")),
    "anchor": ("an audit anchor", _is_json_kind("pneumonia-xray audit anchor")),
    "html": ("an HTML page", _is_html),
    "pdf": ("a PDF document", lambda _p, head, _h="": head.startswith(b"%PDF")),
}


def overwritten_input(target: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]
                      ) -> str | None:
    """The input that writing ``target`` would overwrite (same file by path, symbolic link or
    hard link), or None."""
    real = resolve_target(target)
    try:
        st = os.stat(real)
    except OSError:
        return None  # does not exist yet: cannot be an input
    key = (st.st_dev, st.st_ino)
    for p in inputs:
        try:
            other = os.stat(p)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == key:
            return os.fspath(p)
    return None


def check_output(target: str | os.PathLike[str], kind: str,
                 inputs: Iterable[str | os.PathLike[str]] = (), label: str = "",
                 header: str = "") -> str | None:
    """Why ``target`` must not be written as a ``kind`` file (see the module rule), checked
    before any work is done; None when it may. ``label`` (e.g. ``--csv``) starts the message;
    ``header`` is a CSV header line that also identifies a CSV of ours."""
    target = Path(target)
    what, matches = KINDS[kind]
    real = resolve_target(target)
    shown = (f"{label} {target}" if label else str(target)) + (
        f" (a link to {real})" if target.is_symlink() else "")
    if real.is_dir():
        return f"{shown} is a folder; give a file name"
    parent = real.parent
    if not parent.is_dir():
        return f"{shown}: folder {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"{shown}: folder {parent} is not writable"
    if os.path.lexists(real):
        if not real.is_file():
            return f"{shown} is not a regular file; nothing was written"
        head = _head(real)
        if head is None:
            return f"{shown} cannot be read; nothing was written"
        if head and not matches(real, head, header):
            return (f"{shown} exists and is not {what} (it would be replaced); choose "
                    "another name. Nothing was written")
    clash = overwritten_input(target, inputs)
    if clash is not None:
        from pneumonia_core.files import display_path

        return (f"{shown} is the input file {display_path(clash)}; it would be overwritten. "
                "Choose another output name. Nothing was written")
    return None


def require_output(target: str | os.PathLike[str], kind: str,
                   inputs: Iterable[str | os.PathLike[str]] = (), label: str = "",
                   header: str = "") -> None:
    """:func:`check_output`, raising :class:`OutputError`."""
    problem = check_output(target, kind, inputs, label, header)
    if problem:
        raise OutputError(problem)
