"""Qt-free classification of files: the code path shared by the app and the batch command."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumonia_core import scope
from pneumonia_core.imageio import (
    ImageLoadError,
    decode_bytes,
    is_candidate_file,
    read_file_bytes,
    to_model_input,
)
from pneumonia_core.metadata import sha256_bytes
from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_OUT_OF_SCOPE = "out_of_scope"


@dataclass
class Result:
    """The outcome for one file. ``probability``/``prediction`` are set only when ok."""

    path: str
    status: str
    probability: float | None = None
    prediction: str | None = None
    message: str = ""
    logit: float | None = None
    threshold: float | None = None
    file_sha256: str = ""
    cam: np.ndarray | None = None
    seconds: float = 0.0

    @property
    def flagged(self) -> bool:
        """Anything a person must look at: predicted positive, unreadable, or out of scope."""
        return self.status != STATUS_OK or self.prediction == "PNEUMONIA"


def decide(probability: float, threshold: float, labels: list[str]) -> str:
    """The predicted label: positive when the calibrated probability is at or above threshold."""
    return labels[1] if probability >= threshold else labels[0]


def classify_bytes(path: str, data: bytes, bundle: ModelBundle, threshold: float,
                   keep_cam: bool = False) -> Result:
    """Classify already-read file bytes. Never raises for bad input: errors become a Result."""
    t0 = time.perf_counter()
    digest = sha256_bytes(data)
    try:
        decoded = decode_bytes(data, draft_size=bundle.input_size)
        gray = to_model_input(decoded.pixels, bundle.input_size)
    except ImageLoadError as exc:
        return Result(path, STATUS_ERROR, message=str(exc), file_sha256=digest,
                      seconds=time.perf_counter() - t0)
    meta = bundle.metadata
    verdict = scope.check_decoded(decoded)
    if verdict.in_scope:
        verdict = scope.check_pixels(gray, meta.scope)
    if not verdict.in_scope:
        return Result(path, STATUS_OUT_OF_SCOPE, message=verdict.reason, file_sha256=digest,
                      threshold=threshold, seconds=time.perf_counter() - t0)
    pred = bundle.predict(gray)
    verdict = scope.check_embedding(pred.embedding, meta.scope)
    if not verdict.in_scope:
        return Result(path, STATUS_OUT_OF_SCOPE, message=verdict.reason, file_sha256=digest,
                      logit=pred.logit, threshold=threshold, seconds=time.perf_counter() - t0)
    label = decide(pred.probability, threshold, meta.labels)
    return Result(
        path, STATUS_OK, probability=pred.probability, prediction=label,
        message="", logit=pred.logit, threshold=threshold, file_sha256=digest,
        cam=pred.cam if keep_cam else None, seconds=time.perf_counter() - t0,
    )


def classify_file(path: str | os.PathLike[str], bundle: ModelBundle, threshold: float | None = None,
                  keep_cam: bool = False) -> Result:
    """Read a file once and classify it; every failure is reported in the Result."""
    p = os.fspath(path)
    thr = bundle.metadata.threshold_value if threshold is None else float(threshold)
    try:
        data = read_file_bytes(p)
    except ImageLoadError as exc:
        return Result(p, STATUS_ERROR, message=str(exc), threshold=thr)
    except Exception as exc:  # never expected; still one row, not the batch
        log.exception("unexpected failure reading %s", p)
        return Result(p, STATUS_ERROR, message=f"Cannot read file: {type(exc).__name__}: {exc}",
                      threshold=thr)
    try:
        return classify_bytes(p, data, bundle, thr, keep_cam=keep_cam)
    except Exception as exc:  # a bug must cost one row, not the batch
        log.exception("unexpected failure classifying %s", p)
        return Result(p, STATUS_ERROR, message=f"Internal error: {type(exc).__name__}: {exc}",
                      threshold=thr)


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
