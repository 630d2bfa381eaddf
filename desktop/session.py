"""The reading session: everything the window shows, without the window (Qt-free).

One :class:`ReadingSession` per window owns

- the model bundle and ONE operating point, resolved by :func:`desktop.operating_point.resolve`
  from the model default, the site profile, the user's setting and ``--threshold``;
- the result rows (:class:`desktop.jobs.ResultRow`), which keep the model's logit and class
  activation map: any change of operating point (threshold, site profile import or revert)
  re-decides them in place, without reading or classifying a file again;
- the preview cache: one decode per selected film, its heatmap taken from its row (no second
  classification);
- the review store and the audit trail of the data file.

The window (:mod:`desktop.qt.main_window`) and its menus and actions are views and
controllers of it: they call its methods and redraw from its state. ``classify``,
``calibrate`` and the self-test resolve their operating point through the same resolver.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from desktop import machine_config, paths, read_only_storage, site_config
from desktop.audit import (
    AuditCheck,
    AuditError,
    AuditEvent,
    AuditLog,
    migrate_legacy,
    verify_file,
)
from desktop.findings import Finding
from desktop.jobs import Preview, ResultRow, flag_entry, load_preview
from desktop.operating_point import Resolution, resolve
from desktop.review_store import FlagEntry, ReviewStore
from desktop.settings import Settings
from desktop.sqlite_util import StorageError, copy_database, is_read_only
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.files import display_path
from pneumonia_core.model import ModelBundle
from pneumonia_core.site_profile import SiteProfileError

log = logging.getLogger(__name__)

ACTION_THRESHOLD = "threshold"
ACTION_SITE_IMPORT = "site_profile:import"
ACTION_SITE_REVERT = "site_profile:revert"
ACTION_SITE_REFUSED = "site_profile:refused"
#: Previews kept decoded (the newest selections).
PREVIEW_CACHE_SIZE = 6


@dataclass
class Storage:
    """The data file (review list + audit trail) of a session, and why it is a temporary copy
    when it is one ("" when it is not).

    ``read_only_cause`` (with ``saved``, the saved file) is set when the saved file exists
    but it or its folder is read-only: the copy then shows the saved list and trail
    read-only and every change of the review list is refused (:mod:`desktop.read_only_storage`)."""

    db: Path
    store: ReviewStore
    audit: AuditLog
    error: str = ""
    read_only_cause: str = ""
    saved: Path | None = None

    @property
    def read_only(self) -> bool:
        """The saved review list and audit trail are shown read-only."""
        return bool(self.read_only_cause)

    @property
    def refusal(self) -> str:
        """Why a change of the review list is refused ("" when it is allowed)."""
        return read_only_storage.refusal(self.read_only_cause) if self.read_only else ""

    @property
    def trail(self) -> Path:
        """The file whose audit trail is verified: the saved one when shown read-only."""
        return self.saved if self.read_only and self.saved is not None else self.db

    def verify(self) -> AuditCheck:
        """Verify the audit trail (the saved file's, read-only, when shown read-only)."""
        return verify_file(self.trail) if self.read_only else self.audit.verify()

    def close(self) -> None:
        self.store.close()
        self.audit.close()


def open_storage() -> Storage:
    """Open the data file, importing a separate audit file of an earlier version. When it
    cannot be written, a temporary copy is used for this session and :attr:`Storage.error`
    says why: a saved file that is read-only (the file or its folder) is shown read-only
    (:mod:`desktop.read_only_storage`); on a full disk or a missing folder marks are kept in
    the copy for this session only."""
    error = ""
    try:
        db = paths.review_db_path()
        try:
            migrate_legacy(db, paths.legacy_audit_db_path())
        except AuditError as exc:  # a damaged old audit file must not block the app
            error = str(exc)
            log.error("%s", exc)
        return Storage(db, ReviewStore(db), AuditLog(db), error)
    except (OSError, StorageError) as exc:  # read-only, full disk, missing folder
        cause = str(exc)
    tmp = Path(tempfile.mkdtemp(prefix="pneumonia-xray-"))
    fallback = tmp / paths.REVIEW_DB_NAME
    saved = paths.review_db_location()
    copied = copy_database(saved, fallback)
    if copied and is_read_only(cause):
        reason = cause.split(": ", 1)[-1]  # "Cannot open the review list X: <cause>"
        error = read_only_storage.banner(reason, saved, tmp)
        log.error("%s", error)
        return Storage(fallback, read_only_storage.ReadOnlyReviewStore(
            fallback, read_only_storage.refusal(reason)), AuditLog(fallback), error, reason, saved)
    error = (f"{cause.rstrip('.')}. Marks and the audit trail are kept in {tmp} for this session "
             "only" + (" (starting from a copy of the saved list)." if copied else ".")
             + " Fix the data folder and restart to save them for good.")
    log.error("%s", error)
    return Storage(fallback, ReviewStore(fallback), AuditLog(fallback), error)


@dataclass
class Change:
    """What a change of operating point did: the resolutions before and after, the rows whose
    decision or probability changed (re-decided in place), and its audit event (written with
    the review-list update, see :func:`desktop.jobs.sync_flags`)."""

    old: Resolution
    new: Resolution
    rows: list[ResultRow]
    event: AuditEvent
    note: str = ""


@dataclass
class Counts:
    """Counts over open rows, as the count line and the status bar show them."""

    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    flagged: int = 0


class ResultRows:
    """The open result rows, in arrival order, with an index by path (the results table's
    Qt model is a view of it). Rows keep their logit: :meth:`redecide` needs no file."""

    def __init__(self) -> None:
        self.rows: list[ResultRow] = []
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def new_paths(self, rows: list[ResultRow]) -> int:
        """How many distinct paths of ``rows`` are not open yet (what :meth:`add` appends)."""
        return len({r.path for r in rows} - self.index.keys())

    def add(self, rows: list[ResultRow]) -> list[int]:
        """Append rows; a path already open is replaced in place. Returns the indexes
        replaced."""
        replaced = []
        for r in rows:
            i = self.index.get(r.path)
            if i is None:
                self.index[r.path] = len(self.rows)
                self.rows.append(r)
            else:
                self.rows[i] = r
                replaced.append(i)
        return replaced

    def clear(self) -> None:
        self.rows.clear()
        self.index.clear()

    def get(self, path: str) -> ResultRow | None:
        i = self.index.get(path)
        return None if i is None else self.rows[i]

    def redecide(self, point: OperatingPoint, rows: list[ResultRow] | None = None
                 ) -> list[ResultRow]:
        """Apply ``point`` to ``rows`` (default: all) from their logits; returns the rows whose
        decision or probability changed."""
        return [r for r in (self.rows if rows is None else rows) if r.redecide(point)]

    def counts(self, batches: set[int] | None = None) -> Counts:
        """Counts of the rows (of the given batches only when given)."""
        rows = self.rows if batches is None else [r for r in self.rows if r.batch in batches]
        return Counts(len(rows), Counter(r.status for r in rows),
                      sum(1 for r in rows if r.flagged))


class ReadingSession:
    """One reading session (see the module docstring)."""

    def __init__(self, bundle: ModelBundle | None, settings: Settings | None = None,
                 cli_threshold: float | None = None, model_error: str = "",
                 storage: Storage | None = None) -> None:
        self.bundle = bundle
        self.meta = bundle.metadata if bundle is not None else None
        self.model_error = model_error
        self.settings = settings if settings is not None else Settings.load()
        #: IT's machine settings (desktop.machine_config): a locked threshold, who may
        #: override the site profile, a required reviewer name.
        self.machine = machine_config.load_settings()
        #: ``--threshold`` from the command line: in force until the user chooses a threshold
        #: in the window or the calibration changes.
        self.cli_threshold = cli_threshold
        self.site = self._resolve_site()
        self.resolution = self._resolve()
        self.results = ResultRows()
        self.previews: OrderedDict[str, Preview] = OrderedDict()
        self.storage = storage if storage is not None else open_storage()

    # -- the operating point ------------------------------------------------------------
    @property
    def point(self) -> OperatingPoint:
        """THE operating point in force (every decision of the window goes through it)."""
        return self.resolution.point

    @property
    def threshold(self) -> float:
        return self.resolution.point.threshold

    @property
    def model_sha256(self) -> str:
        return self.meta.sha256 if self.meta is not None else ""

    def _resolve_site(self) -> site_config.ActiveProfile:
        if self.bundle is None:
            return site_config.ActiveProfile()
        return site_config.resolve(self.bundle.metadata.sha256,
                                   site_config.user_off(self.settings.site_profile_off))

    def _resolve(self) -> Resolution:
        return resolve(self.bundle, self.site, self.settings.threshold_override,
                       self.cli_threshold, locked=self.machine.threshold_locked)

    def start_events(self) -> list[AuditEvent]:
        """The audit events of the operating point at the start of the session (site profile
        applied or refused, your setting, --threshold); appended by :meth:`audit_start`."""
        return self.resolution.events(self.model_sha256) if self.bundle is not None else []

    def audit_start(self) -> None:
        """Record the operating point in force at start (raises StorageError)."""
        for event in self.start_events():
            self.storage.audit.append(event)

    def set_threshold(self, threshold: float | None) -> Change:
        """The user's threshold (None: back to the calibration's own), saved in the settings;
        a ``--threshold`` of this session gives way. Open rows are re-decided in place."""
        old = self.resolution
        self.settings.threshold_override = None if threshold is None else float(threshold)
        self.cli_threshold = None
        self.settings.save()
        return self._changed(old, ACTION_THRESHOLD,
                             f"{old.threshold:g} -> {self._resolve().threshold:g}")

    def import_profile(self, source: str) -> Change:
        """Verify and install a site profile for this user; raises SiteProfileError or OSError
        when refused (the caller reports it; :meth:`refused_event` records it)."""
        if self.bundle is None:
            raise SiteProfileError(
                "no model is loaded: a site profile cannot be checked against it")
        site_config.import_profile(source, self.bundle.metadata.sha256)
        self.settings.site_profile_off = False
        return self._calibration_changed(ACTION_SITE_IMPORT, f"imported from {source}")

    def revert_profile(self) -> Change:
        """The model's own calibration and threshold for this user (site profiles off);
        SiteProfileError where IT's machine settings do not allow users to override."""
        if not site_config.users_may_override():
            raise SiteProfileError(f"{site_config.OVERRIDE_REFUSED}; ask IT.")
        self.settings.site_profile_off = True
        return self._calibration_changed(ACTION_SITE_REVERT, "")

    def refused_event(self, note: str) -> AuditEvent:
        return AuditEvent(action=ACTION_SITE_REFUSED, path=self.site.path,
                          model_sha256=self.model_sha256, threshold=self.threshold,
                          decision=self.site.source, note=note)

    def _calibration_changed(self, action: str, note: str) -> Change:
        """A new calibration: the user's threshold and --threshold were chosen on the other
        one, so both are dropped (and the note says so)."""
        old = self.resolution
        dropped = []
        if self.settings.threshold_override is not None:
            self.settings.threshold_override = None
            dropped.append("your threshold override was removed")
        if self.cli_threshold is not None:
            self.cli_threshold = None
            dropped.append("--threshold no longer applies")
        self.settings.save()
        self.site = self._resolve_site()
        parts = [p for p in (note, *dropped) if p]
        change = self._changed(old, action, "; ".join(parts))
        change.event.path = self.site.path
        return change

    def _changed(self, old: Resolution, action: str, note: str) -> Change:
        self.resolution = self._resolve()
        rows = self.redecide()
        event = AuditEvent(action=action, model_sha256=self.model_sha256,
                           threshold=self.threshold, decision=self.resolution.source,
                           note=(note + "; " if note else "") + self.resolution.describe())
        log.info("operating point changed (%s): %s", action, self.resolution.describe())
        return Change(old, self.resolution, rows, event, note)

    # -- rows --------------------------------------------------------------------------
    def redecide(self, rows: list[ResultRow] | None = None) -> list[ResultRow]:
        """Apply the point in force to ``rows`` (default: all open rows); returns the rows
        whose decision or probability changed. Reads no file."""
        return self.results.redecide(self.point, rows)

    def add_rows(self, rows: list[ResultRow]) -> list[ResultRow]:
        """Open rows arriving from a classification, decided at the point in force now (a
        batch started before a change arrives at the new point); returns those re-decided."""
        changed = self.redecide(rows)
        self.results.add(rows)
        return changed

    # -- reader findings (desktop.findings) ---------------------------------------------
    def record_finding(self, film: ResultRow | FlagEntry, finding: str, note: str = "",
                       reviewer: str | None = None) -> tuple[Finding, FlagEntry | None]:
        """Record a reader's finding on ``film``: an open result row (flagged or not) or a
        worklist entry of an earlier session. A film the model did not flag that is found
        "pneumonia" or "not assessable" goes on the worklist as a reader finding. Returns the
        finding and the film's worklist entry (None: not on the list). Raises StorageError
        (read-only data file, disk full) and ValueError (a film not classified yet, an
        unknown finding)."""
        if self.storage.read_only:
            raise StorageError(self.storage.refusal)
        if isinstance(film, ResultRow):
            if film.status == "pending" or not film.file_sha256:
                raise ValueError(f"{film.name} is not classified yet: no finding recorded")
            entry, flagged = flag_entry(film, self.model_sha256), film.flagged
        else:
            entry, flagged = film, film.model_flagged
        return self.storage.store.record_finding(entry, flagged, finding, note, reviewer)

    def finding_of(self, film: ResultRow | FlagEntry) -> Finding | None:
        """The finding recorded on ``film`` (None: none yet)."""
        path = display_path(film.path) if isinstance(film, ResultRow) else film.path
        return self.storage.store.finding(path, film.file_sha256)

    # -- previews ----------------------------------------------------------------------
    def cached_preview(self, path: str) -> Preview | None:
        hit = self.previews.get(path)
        if hit is not None:
            self.previews.move_to_end(path)
        return hit

    def load_preview(self, path: str) -> Preview:
        """Decode ``path`` once for display; its heatmap comes from its row's CAM. Only a film
        with no row (a review entry of an earlier session) is classified for its heatmap.
        Runs in a worker thread; :meth:`keep_preview` stores the result on the GUI thread."""
        row = self.results.get(path)
        if row is not None and row.status == "ok" and row.cam is not None:
            return load_preview(path, None, cam=row.cam)
        return load_preview(path, self.bundle, self.point)

    def keep_preview(self, preview: Preview) -> None:
        self.previews[preview.path] = preview
        self.previews.move_to_end(preview.path)
        while len(self.previews) > PREVIEW_CACHE_SIZE:
            self.previews.popitem(last=False)

    def close(self) -> None:
        self.storage.close()
