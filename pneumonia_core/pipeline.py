"""Qt-free classification of files: the code path shared by the app and the batch command.

:func:`classify_file` classifies one file; :func:`classify_many` is THE engine that classifies
many files in parallel, in input order, cancellably (the window, the batch command and the
benchmark all use it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pneumonia_core import scope
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.imageio import (
    ImageLoadError,
    decode_bytes,
    read_file_bytes,
    to_model_input,
)
from pneumonia_core.intended_use import outside_intended_use
from pneumonia_core.metadata import sha256_bytes
from pneumonia_core.model import ModelBundle
from pneumonia_core.runtime import quiet_runtime_banner

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_OUT_OF_SCOPE = "out_of_scope"
#: A chest film whose DICOM tags put it outside the intended use (adult, lateral...; not scored).
STATUS_OUTSIDE_USE = "outside_intended_use"

#: Files submitted ahead of the one being yielded, per classification thread.
IN_FLIGHT_PER_WORKER = 4
NO_MODEL_MESSAGE = "No model loaded: the image can be viewed but not classified"


def default_workers() -> int:
    """Two classification threads when the machine has two cores or more: decoding one file
    overlaps inference on another. The one default for the window and the batch command."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


@dataclass
class Result:
    """The outcome for one file. ``probability``/``prediction``/``positive`` are set only when
    ok; ``positive`` is the operating point's decision (prediction is its positive label)."""

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
    #: DICOM tags of the file (patient, study date, view...; see pneumonia_core.dicom):
    #: never written to logs or the audit trail; the exports carry only the PACS
    #: identifiers among them (desktop/identifiers.py).
    dicom: dict[str, str] = field(default_factory=dict)
    positive: bool | None = None
    #: Frames in the file; only the first is judged (see :func:`frame_note`).
    frames: int = 1

    @property
    def flagged(self) -> bool:
        """Anything a person must look at: predicted positive, unreadable, or out of scope."""
        return self.status != STATUS_OK or bool(self.positive)


def _point(bundle: ModelBundle, point: OperatingPoint | float | None) -> OperatingPoint:
    """The operating point in force: the model's default, another one, or the model's at
    another threshold (a plain number)."""
    if point is None:
        return bundle.operating_point
    if isinstance(point, OperatingPoint):
        return point
    return bundle.operating_point.with_threshold(float(point))


def classify_bytes(path: str, data: bytes, bundle: ModelBundle,
                   operating_point: OperatingPoint | float | None = None,
                   keep_cam: bool = False) -> Result:
    """Classify already-read file bytes. Never raises for bad input: errors become a Result."""
    t0 = time.perf_counter()
    point = _point(bundle, operating_point)
    threshold = point.threshold
    digest = sha256_bytes(data)
    try:
        decoded = decode_bytes(data, draft_size=bundle.input_size)
        gray = to_model_input(decoded.pixels, bundle.input_size)
    except ImageLoadError as exc:
        return Result(path, STATUS_ERROR, message=str(exc), file_sha256=digest,
                      seconds=time.perf_counter() - t0)
    note = frame_note(decoded.frames)
    guard = bundle.metadata.scope if point.scope is None else point.scope  # a site's guard
    verdict = scope.check_decoded(decoded)
    if verdict.in_scope:
        outside = outside_intended_use(decoded.dicom)
        if outside:
            return Result(path, STATUS_OUTSIDE_USE, message=_joined(outside, note),
                          file_sha256=digest, threshold=threshold,
                          seconds=time.perf_counter() - t0, dicom=decoded.dicom,
                          frames=decoded.frames)
        verdict = scope.check_pixels(gray, guard)
    if not verdict.in_scope:
        return Result(path, STATUS_OUT_OF_SCOPE, message=_joined(verdict.reason, note),
                      file_sha256=digest, threshold=threshold, seconds=time.perf_counter() - t0,
                      dicom=decoded.dicom, frames=decoded.frames)
    pred = bundle.predict(gray)
    verdict = scope.check_embedding(pred.embedding, guard)
    if not verdict.in_scope:
        return Result(path, STATUS_OUT_OF_SCOPE, message=_joined(verdict.reason, note),
                      file_sha256=digest, logit=pred.logit, threshold=threshold,
                      seconds=time.perf_counter() - t0, dicom=decoded.dicom,
                      frames=decoded.frames)
    probability = point.probability(pred.logit)
    return Result(
        path, STATUS_OK, probability=probability, prediction=point.decide(probability),
        message=note, logit=pred.logit, threshold=threshold, file_sha256=digest,
        cam=pred.cam if keep_cam else None, seconds=time.perf_counter() - t0,
        dicom=decoded.dicom,
        positive=point.is_positive(probability), frames=decoded.frames,
    )


def frame_note(frames: int) -> str:
    """``frame 1 of N judged; ...`` for a file with several frames (multi-frame DICOM, APNG,
    multi-page TIFF), else ''. Shown in the row, the CSV, the audit and the window."""
    if frames <= 1:
        return ""
    return (f"frame 1 of {frames} judged; the other {frames - 1} frame(s) were not read "
            "(open the file in a viewer to see them)")


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second


def classify_file(path: str | os.PathLike[str], bundle: ModelBundle,
                  operating_point: OperatingPoint | float | None = None,
                  keep_cam: bool = False) -> Result:
    """Read a file once and classify it; every failure is reported in the Result.

    ``operating_point``: None for the model's default, an :class:`OperatingPoint`, or a
    threshold (number) applied to the model's calibration and labels."""
    p = os.fspath(path)
    point = _point(bundle, operating_point)
    thr = point.threshold
    try:
        data = read_file_bytes(p)
    except ImageLoadError as exc:
        return Result(p, STATUS_ERROR, message=str(exc), threshold=thr)
    except Exception as exc:  # never expected; still one row, not the batch
        log.exception("unexpected failure reading %s", p)
        return Result(p, STATUS_ERROR, message=f"Cannot read file: {type(exc).__name__}: {exc}",
                      threshold=thr)
    try:
        return classify_bytes(p, data, bundle, point, keep_cam=keep_cam)
    except Exception as exc:  # a bug must cost one row, not the batch
        log.exception("unexpected failure classifying %s", p)
        return Result(p, STATUS_ERROR, message=f"Internal error: {type(exc).__name__}: {exc}",
                      threshold=thr)


_local = threading.local()


def thread_bundle(bundle: ModelBundle) -> ModelBundle:
    """This thread's own clone of ``bundle`` (interpreters are not thread-safe), made once
    per thread and model and reused; the thread that loaded ``bundle`` runs it itself (a
    one-file ``classify`` builds one interpreter, not two)."""
    if bundle.owner_thread == threading.get_ident():
        return bundle
    cache: dict[int, tuple[ModelBundle, ModelBundle]] = getattr(_local, "bundles", None) or {}
    _local.bundles = cache
    hit = cache.get(id(bundle))
    if hit is None or hit[0] is not bundle:
        with quiet_runtime_banner():
            hit = (bundle, bundle.clone())
        cache[id(bundle)] = hit
    return hit[1]


Cancel = Callable[[], bool] | threading.Event


def _cancelled(cancel: Cancel | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def classify_many(paths: Sequence[str | os.PathLike[str]], bundle: ModelBundle | None,
                  operating_point: OperatingPoint | float | None = None, workers: int = 1,
                  cancel: Cancel | None = None, keep_cam: bool = False) -> Iterator[Result]:
    """Classify ``paths`` with :func:`classify_file` and yield their results in input order.

    With ``workers > 1`` the work runs on that many new threads (created by the calling
    thread, so they inherit its scheduling priority), each with its own clone of the bundle
    (made up front on the calling thread), at most :data:`IN_FLIGHT_PER_WORKER` files per
    thread ahead of the consumer. With one worker, or one file, everything runs on the calling
    thread (on its own clone, see :func:`thread_bundle`). ``cancel`` (a callable returning
    True, or a ``threading.Event``) is checked before each file is started and each result
    is yielded: once set, the files not started are dropped and nothing more is yielded.
    Closing the generator does the same. Either way it waits only for the files running (at
    most ``workers``). Without a model every file becomes an error row saying so. Like
    :func:`classify_file`, never raises for bad input.
    """
    files = [os.fspath(p) for p in paths]
    if bundle is None:
        for path in files:
            if _cancelled(cancel):
                return
            yield Result(path, STATUS_ERROR, message=NO_MODEL_MESSAGE)
        return
    point = _point(bundle, operating_point)
    workers = max(1, min(int(workers), len(files)))
    if workers == 1:
        model = thread_bundle(bundle)
        for path in files:
            if _cancelled(cancel):
                return
            yield classify_file(path, model, point, keep_cam=keep_cam)
        return

    # imported here: a one-file or one-worker run (every one-file ``classify``) needs no pool,
    # and concurrent.futures and queue cost about 4 ms of its start (issue 22)
    import queue
    from concurrent.futures import ThreadPoolExecutor

    spare: queue.SimpleQueue[ModelBundle] = queue.SimpleQueue()
    with quiet_runtime_banner():
        for _ in range(workers):
            spare.put(bundle.clone())
    local = threading.local()

    def work(path: str) -> Result:
        own = getattr(local, "bundle", None)
        if own is None:
            own = local.bundle = spare.get()
        return classify_file(path, own, point, keep_cam=keep_cam)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classify")
    ahead: deque[Future[Result]] = deque()
    try:
        for path in files:
            if _cancelled(cancel):
                return
            ahead.append(pool.submit(work, path))
            if len(ahead) >= IN_FLIGHT_PER_WORKER * workers:
                result = ahead.popleft().result()
                if _cancelled(cancel):
                    return
                yield result
        while ahead:
            result = ahead.popleft().result()
            if _cancelled(cancel):
                return
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
