"""The audit record of a headless ``classify`` run, written on its own thread (issue 22).

The data file is opened, and the machine settings and the installed model are noted, while the
files are classified and the CSV is written; the run's own ``run:classify`` event (command
line, model digest, counts, CSV, outcome) is appended once the outcome is known, after the CSV
is in place, as before. Every commit is synced to disk as before (SQLite WAL,
``synchronous=FULL``): only the waiting for the disk overlaps the classification and the
CSV's own syncs instead of following them (a one-file run waits on about nine syncs).
"""

from __future__ import annotations

import logging
import shlex
import threading
from typing import TYPE_CHECKING, Any, TextIO

from desktop import paths
from desktop.audit import AuditEvent, AuditLog, migrate_legacy
from desktop.machine_config import load_settings
from desktop.model_change import note_machine_settings, note_model
from desktop.sqlite_util import StorageError

if TYPE_CHECKING:
    from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)


def run_event(bundle: ModelBundle, run: dict[str, Any]) -> AuditEvent:
    """The ``run:classify`` event of ``run`` (argv, csv, outcome, counts, threshold, ...)."""
    counts = run.get("counts", {})
    note = (f"{shlex.join(run['argv'])} -> {run['csv']}: {run['outcome']}; "
            + ", ".join(f"{v} {k}" for k, v in counts.items())
            + f"; operating point: {run['site_profile']}")
    return AuditEvent(action="run:classify", path=run["csv"],
                      model_sha256=bundle.metadata.sha256, threshold=run["threshold"],
                      decision=run["outcome"], note=note,
                      details=dict(run, **bundle.verification.audit_details()))


class RunAudit:
    """Opens the audit trail on a thread of its own as soon as it is made; :meth:`finish`
    hands it the run's outcome and waits until the event is appended.

    A daemon thread: if the command dies of an unexpected error before :meth:`finish`, the
    thread is idle (waiting for the outcome) and nothing is recorded, as before."""

    def __init__(self, bundle: ModelBundle, prog: str) -> None:
        self._bundle = bundle
        self._prog = prog
        self._run: dict[str, Any] = {}
        self._outcome = threading.Event()  # set once _run holds the run's outcome
        self._failure: BaseException | None = None
        self._announced = ""
        self._thread = threading.Thread(target=self._record, name="audit", daemon=True)
        self._thread.start()

    def _record(self) -> None:
        try:
            db = paths.review_db_path()
            migrate_legacy(db, paths.legacy_audit_db_path())
            with AuditLog(db) as audit:
                note_machine_settings(audit, load_settings())
                # only the installed (pinned) model: a --model-dir run is no new installation
                if self._bundle.verified:
                    self._announced = note_model(audit, self._bundle.metadata)
                self._outcome.wait()
                audit.append(run_event(self._bundle, self._run))
        except BaseException as exc:  # said (or raised) by finish() on the calling thread
            self._failure = exc

    def finish(self, run: dict[str, Any], stderr: TextIO) -> bool:
        """Append ``run``'s event and wait for it; a failure to record is said on ``stderr``
        (False returned), never raised; any other error is raised here."""
        self._run = run
        self._outcome.set()
        self._thread.join()
        if self._announced:
            stderr.write(f"{self._prog}: {self._announced}\n")
        failure = self._failure
        if isinstance(failure, (OSError, StorageError)):
            stderr.write(f"{self._prog}: warning: this run could not be recorded in the audit "
                         f"trail: {failure}\n")
            return False
        if failure is not None:
            raise failure
        return True
