"""The app's background work as plain Qt-free generators and functions (the Qt worker in
:mod:`desktop.qt.worker` only runs them): classify a list of files and folders one at a time,
saving flags and audit events as it goes, and load a preview (plus its CAM) for the viewer.

Rows hold no pixels: :class:`ResultRow` is a few short strings and floats plus the model's
14 x 14 class-activation map (784 bytes), so 10,000 rows stay in the low megabytes.
The row keeps the logit and the map so that a change of operating point re-decides it and
the viewer draws its heatmap without classifying the file again.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from desktop import identifiers
from desktop.audit import AuditEvent, classification_event
from desktop.presentation import demographics
from desktop.review_store import FlagEntry, ReviewStore, fs_bytes_of
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.files import display_path, iter_image_files
from pneumonia_core.imageio import (
    PREVIEW_MAX_SIDE,
    ImageLoadError,
    decode_bytes,
    fit_for_display,
    read_file_bytes,
)
from pneumonia_core.model import ModelBundle
from pneumonia_core.pipeline import Result, classify_bytes, classify_many, thread_bundle

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ResultRow:
    """One line of the results table: no image data."""

    path: str
    status: str  # "ok", "error", "out_of_scope", or "pending" before classification
    probability: float | None = None
    prediction: str = ""
    message: str = ""
    file_sha256: str = ""
    threshold: float | None = None

    flagged: bool = False  # positive, unreadable or out of scope
    #: DICOM patient name, patient ID, study date, view (presentation.DEMOGRAPHICS); ()
    #: for files without DICOM tags.
    demographics: tuple[str, ...] = ()
    batch: int = 0  # which opening (batch) of this session the row came from
    logit: float | None = None  # the model's raw output: re-decided from it, never re-read
    cam: np.ndarray | None = None  # (h, w) float32 class-activation map (the heatmap)
    #: DICOM identifiers for the exports (desktop/identifiers.py), read once at decode; ()
    #: for files without any.
    identifiers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @classmethod
    def from_result(cls, r: Result) -> ResultRow:
        demo = demographics(r.dicom) if r.dicom else ()
        cam = None if r.cam is None else np.asarray(r.cam, dtype=np.float32)
        ids = identifiers.of(r.dicom)
        return cls(r.path, r.status, r.probability, r.prediction or "", r.message,
                   r.file_sha256, r.threshold, r.flagged, demo if any(demo) else (),
                   logit=r.logit, cam=cam, identifiers=ids if any(ids) else ())

    def redecide(self, point: OperatingPoint) -> bool:
        """Apply another operating point (calibration and threshold) to an ok row, from its
        logit; returns True when its decision or probability changed."""
        if self.status != "ok" or self.logit is None:
            return False
        was_flagged, was_p = self.flagged, self.probability
        self.probability = point.probability(self.logit)
        self.prediction = point.decide(self.probability)
        self.threshold = point.threshold
        self.flagged = point.is_positive(self.probability)
        return self.flagged != was_flagged or was_p is None or not math.isclose(
            self.probability, was_p, rel_tol=1e-9, abs_tol=1e-12)


def flag_entry(row: ResultRow, model_sha256: str) -> FlagEntry:
    """The review-list entry of a flagged row (keeping a non-UTF-8 name's exact bytes)."""
    return FlagEntry(path=display_path(row.path), file_sha256=row.file_sha256, status=row.status,
                     probability=row.probability, prediction=row.prediction,
                     message=row.message, threshold=row.threshold, model_sha256=model_sha256,
                     fs_path=fs_bytes_of(row.path),
                     identifiers=identifiers.to_text(row.identifiers))


@dataclass
class Discovered:
    """First event of a job: how many files the folders expanded to."""

    total: int


@dataclass
class Classified:
    """One classified file; ``flag`` is its saved review entry when flagged."""

    row: ResultRow
    flag: FlagEntry | None


@dataclass
class SavedChunk:
    """The files of one saved chunk (one transaction), delivered together: a consumer that
    stops between events (Cancel) has then shown everything that was saved and audited."""

    items: list[Classified]


def classified(events: Iterable[object]) -> Iterator[Classified]:
    """The :class:`Classified` files of a job's events, in input order."""
    for event in events:
        if isinstance(event, SavedChunk):
            yield from event.items


#: A classification job: ``job(paths, bundle, operating_point, db, workers=N)`` yielding
#: :class:`Discovered` then :class:`SavedChunk` events (:func:`classify_job` and the watch
#: folder's :func:`desktop.watch.watch_job`).
Job = Callable[..., Iterator["Discovered | SavedChunk"]]

#: Results are saved in chunks of at most this many files or this many seconds, each chunk
#: in one transaction, and yielded only after it is saved.
SAVE_CHUNK_FILES = 64
SAVE_CHUNK_SECONDS = 0.2


def classify_job(paths: Iterable[str | os.PathLike[str]], bundle: ModelBundle | None,
                 operating_point: OperatingPoint | float | None, db: Path,
                 workers: int = 1) -> Iterator[Discovered | SavedChunk]:
    """Expand ``paths`` and classify each file once, yielding one :class:`SavedChunk` per saved
    chunk, files in input
    order (``workers`` classification threads, see :func:`pneumonia_core.pipeline.classify_many`).

    Flagged files are saved to the review list and every classification is appended to the
    audit log (both in the data file ``db``) *before* it is yielded: results are committed in
    small chunks (one transaction per chunk holding the flags and the audit events, at most
    ``SAVE_CHUNK_FILES`` files or ``SAVE_CHUNK_SECONDS``; the first file at once), so what the user sees is saved and a killed process loses only unseen work.
    A chunk is yielded whole, after its commit: stopping between events never leaves a saved
    and audited file unseen (the Cancel defect of issue 25).
    Without a model (it failed to load) every file becomes an error row saying so.
    Stop early by closing the generator (the worker does, between items).
    """
    files = list(iter_image_files(paths))
    yield Discovered(len(files))
    store = ReviewStore(db)
    results = classify_many(files, bundle, operating_point, workers=workers, keep_cam=True)
    pending: list[tuple[Result, ResultRow]] = []
    last_save = 0.0
    try:
        for k, result in enumerate(results):
            pending.append((result, ResultRow.from_result(result)))
            now = time.monotonic()
            if (len(pending) >= SAVE_CHUNK_FILES or now - last_save >= SAVE_CHUNK_SECONDS
                    or k == len(files) - 1):
                yield SavedChunk(_save_chunk(pending, bundle, store))
                pending = []
                last_save = time.monotonic()
    finally:
        results.close()  # stops the classification threads first
        store.close()


def _save_chunk(pending: list[tuple[Result, ResultRow]], bundle: ModelBundle | None,
                store: ReviewStore) -> list[Classified]:
    flags: dict[str, FlagEntry] = {}
    if bundle is not None:
        model_sha = bundle.metadata.sha256
        facts = bundle.verification.audit_details()  # folder digest + verified flag
        stored = store.upsert_many(
            [flag_entry(row, model_sha) for _, row in pending if row.flagged],
            audit=[classification_event(r, model_sha, details=facts) for r, _ in pending])
        flags = {e.path: e for e in stored}
    return [Classified(row, flags.get(display_path(row.path)) if row.flagged else None)
            for _, row in pending]


@dataclass
class Preview:
    """What the viewer shows for one file."""

    path: str
    pixels: np.ndarray | None  # (H, W) uint8, long side <= PREVIEW_MAX_SIDE
    original_size: tuple[int, int] = (0, 0)
    source_format: str = ""
    cam: np.ndarray | None = None  # the model's (h, w) class-activation map
    error: str = ""
    dicom: dict[str, str] = field(default_factory=dict)  # DICOM tags (patient, study, view)
    display_range: tuple[float, float] | None = None  # see DecodedImage.display_range

    @property
    def nbytes(self) -> int:
        return (0 if self.pixels is None else self.pixels.nbytes) + (
            0 if self.cam is None else self.cam.nbytes)


def load_preview(path: str, bundle: ModelBundle | None,
                 operating_point: OperatingPoint | float | None = None,
                 with_cam: bool = True, cam: np.ndarray | None = None) -> Preview:
    """Read a file once and decode it for display. Its CAM is ``cam`` when given (from its
    result row: no second classification), else (with a model) computed from the very same
    bytes through the classification pipeline. Never raises for bad input."""
    try:
        data = read_file_bytes(path)
        decoded = decode_bytes(data, draft_size=None)
    except ImageLoadError as exc:
        return Preview(path, None, error=str(exc))
    except Exception as exc:
        log.exception("preview failed for %s", path)
        return Preview(path, None, error=f"Internal error: {type(exc).__name__}: {exc}")
    pixels = fit_for_display(decoded.for_display, PREVIEW_MAX_SIDE)
    if cam is None and bundle is not None and with_cam:
        try:
            cam = classify_bytes(path, data, thread_bundle(bundle), operating_point,
                                 keep_cam=True).cam
        except Exception:
            log.exception("CAM failed for %s", path)
    return Preview(path, pixels, decoded.original_size, decoded.source_format, cam,
                   dicom=decoded.dicom, display_range=decoded.display_range)


def sync_flags(changed: list[ResultRow], event: AuditEvent | None, model_sha256: str, db: Path
               ) -> list[FlagEntry]:
    """After a change of operating point (rows already re-decided, see
    :meth:`ResultRow.redecide`): add (or refresh) the flagged files in the review list, drop
    entries no longer flagged while still pending, and append the change's audit ``event``,
    all in one transaction. Returns the entries added or refreshed."""
    with ReviewStore(db) as store:
        added = store.apply_threshold_change(
            [flag_entry(row, model_sha256) for row in changed if row.flagged],
            [(display_path(row.path), row.file_sha256) for row in changed if not row.flagged],
            event)
    return added
