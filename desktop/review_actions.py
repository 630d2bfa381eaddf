"""Review-list actions of the main window (a mixin): mark reviewed/dismissed, export, and
apply a new decision threshold. Each change is saved and audited."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QFileDialog

from desktop import worker as workers
from desktop.audit import AuditError, AuditEvent
from desktop.jobs import sync_flags
from desktop.review_store import FlagEntry, ReviewStoreError

log = logging.getLogger(__name__)


class ReviewActions:
    """Mixed into :class:`desktop.main_window.MainWindow` (uses its attributes)."""

    # -- review list -----------------------------------------------------------------------
    def set_review(self, entry: FlagEntry, state: str, note: str) -> None:
        try:
            updated = self.store.set_review(entry.path, entry.file_sha256, state, note)
            self.audit.append(AuditEvent(
                action=f"review:{state}", path=entry.path, file_sha256=entry.file_sha256,
                model_sha256=entry.model_sha256, probability=entry.probability,
                threshold=entry.threshold,
                decision=entry.prediction if entry.status == "ok" else entry.status, note=note))
        except (ReviewStoreError, AuditError, KeyError) as exc:
            self.show_error(f"The review could not be saved: {exc}")
            return
        self.flagged.model.upsert([updated])
        self.statusBar().showMessage(f"{Path(entry.path).name}: {state}", 5000)

    def export_flagged(self, dest: Path) -> int:
        n = self.store.export_csv(dest)
        self.audit.append(AuditEvent(action="export", path=str(dest), note=f"{n} review entries"))
        return n

    def export_flagged_dialog(self) -> None:
        dest, _ = QFileDialog.getSaveFileName(self, "Export flagged list", "flagged.csv",
                                              "CSV files (*.csv)")
        if dest:
            try:
                n = self.export_flagged(Path(dest))
            except (OSError, ReviewStoreError) as exc:
                self.show_error(f"Could not write {dest}: {exc}")
                return
            self.statusBar().showMessage(f"{n} entries written to {dest}", 8000)

    # -- threshold -------------------------------------------------------------------------
    def apply_threshold(self, threshold: float, override: bool = True) -> None:
        """Use a new decision threshold: re-decide rows, update the review list, persist."""
        old, self.threshold = self.threshold, float(threshold)
        self.settings.threshold_override = self.threshold if override else None
        self.settings.save()
        point = self.point
        self.previews.point = point
        changed = [dataclasses.replace(r) for r in self.results.rows() if r.redecide(point)]
        self.results.rows_changed()
        self._update_model_info()
        self._on_current_row(self.table.currentIndex(), QModelIndex())
        if self.meta is None:
            return
        w = workers.FunctionWorker(sync_flags, changed, self.threshold, old, self.meta.sha256,
                                   self.review_db, self.audit_db)
        w.signals.finished.connect(self._reload_flags)
        w.signals.errored.connect(lambda e: self.show_error(f"Review list not updated: {e}"))
        self._sync_worker = w
        workers.start(w)

    def _reload_flags(self) -> None:
        self.flagged.model.set_entries(self.store.entries())
