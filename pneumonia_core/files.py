"""Finding the files to classify and showing their names (Qt-free): :func:`iter_image_files`
expands files and folders (recursively, sorted, hidden and unknown files reported),
:func:`looks_like_dicom` sniffs a DICOM file whatever its name, and :func:`display_path` turns
any file name into text every UTF-8 sink accepts. Used by the window, ``classify``,
``calibrate``, the converter and the benchmark.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pneumonia_core.imageio import is_candidate_file

log = logging.getLogger(__name__)


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as text that every UTF-8 sink accepts (CSV, SQLite, Qt, logs).

    On POSIX a file name that is not valid UTF-8 reaches Python with lone surrogates (PEP 383)
    that cannot be encoded, so writing it raises ``UnicodeEncodeError``; here those bytes
    become ``\\xNN`` escapes. Open the file with the original path; show or store this text.
    """
    p = os.fspath(path)
    if isinstance(p, bytes):
        return p.decode("utf-8", "backslashreplace")
    try:
        p.encode("utf-8")
        return p
    except UnicodeEncodeError:
        return os.fsencode(p).decode("utf-8", "backslashreplace")


#: Why a file inside a folder was not classified (the ``on_skip`` reasons).
SKIP_HIDDEN = "hidden"
SKIP_UNKNOWN_TYPE = "unknown type"

#: A DICOM Part 10 file: a 128-byte preamble, then ``DICM``.
_DICOM_MAGIC_AT = 128


def looks_like_dicom(path: str) -> bool:
    """True when the file starts like a DICOM Part 10 file (128-byte preamble + ``DICM``),
    whatever its name (Siemens ``.ima``, numbered files without a suffix...)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DICOM_MAGIC_AT + 4)
    except OSError:
        return False
    return head[_DICOM_MAGIC_AT:] == b"DICM"


SkipCallback = Callable[[str, str], None]


def iter_image_files(paths: Iterable[str | os.PathLike[str]],
                     on_skip: SkipCallback | None = None) -> Iterator[str]:
    """Expand files and folders (recursively, sorted, symlink loops visited once).

    Files named explicitly are always yielded, whatever their suffix, so the user gets an
    error row for them; inside folders only candidate image files are yielded (known
    suffixes, no suffix, or any name whose content starts like DICOM: preamble + ``DICM``).
    Hidden files and folders and files of other types are skipped, each reported to
    ``on_skip(path, reason)`` (reason :data:`SKIP_HIDDEN` or :data:`SKIP_UNKNOWN_TYPE`) so
    the caller can say what was left out. A sub-folder that cannot be listed is yielded
    itself, so that it becomes an error row instead of silently missing files.

    Lazy and iterative: one folder listing is held per level of the current path, so the
    first file comes after one listing and a deep tree cannot exhaust the recursion limit.
    """
    seen_dirs: set[tuple[int, int]] = set()
    for raw in paths:
        p = os.fspath(Path(raw))
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            yield p  # reported as an error row by the classifier
            continue
        if not stat.S_ISDIR(st.st_mode):
            yield p
            continue
        yield from _walk(p, seen_dirs, on_skip)


def _list_dir(folder: str, seen: set[tuple[int, int]]) -> Iterator[os.DirEntry[str]]:
    """Sorted entries of a folder (none when seen before); OSError when it cannot be listed."""
    st = os.stat(folder)
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return iter(())
    seen.add(key)
    with os.scandir(folder) as it:
        return iter(sorted(it, key=lambda e: e.name))


def _walk(root: str, seen: set[tuple[int, int]], on_skip: SkipCallback | None = None
          ) -> Iterator[str]:
    try:
        first = _list_dir(root, seen)
    except OSError as exc:
        log.warning("cannot list %s: %s", display_path(root), exc.strerror or exc)
        yield root
        return
    stack = [first]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith("."):
            if on_skip is not None:
                on_skip(entry.path, SKIP_HIDDEN)
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            try:
                stack.append(_list_dir(entry.path, seen))
            except OSError as exc:
                log.warning("cannot list %s: %s", display_path(entry.path), exc.strerror or exc)
                yield entry.path
        elif is_candidate_file(entry.name) or looks_like_dicom(entry.path):
            yield entry.path
        elif on_skip is not None:
            on_skip(entry.path, SKIP_UNKNOWN_TYPE)
