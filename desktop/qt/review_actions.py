"""Review-list actions of the main window (a mixin): mark reviewed/dismissed, export, and
show a change of the session's operating point. Each change is saved and audited."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from pathlib import Path

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop.audit import AuditEvent
from desktop.jobs import ResultRow, sync_flags
from desktop.qt import export_paths, machine_actions, site_actions
from desktop.qt import worker as workers
from desktop.review_store import FlagEntry, ReviewStoreError, archive_folder, archived_folders
from desktop.session import Change
from desktop.sqlite_util import StorageError
from pneumonia_core.formatting import format_threshold

log = logging.getLogger(__name__)


class ReviewActions:
    """Mixed into :class:`desktop.qt.main_window.MainWindow` (uses its attributes)."""

    # -- review list -----------------------------------------------------------------------
    def review_current(self, state: str) -> None:
        """Mark the current flagged entry (keys R / D / O), only while its film is shown."""
        e = self.flagged.current_entry()
        if e is None:
            self.statusBar().showMessage("Select a flagged entry first (J: next pending)", 5000)
            return
        if not self.flagged.film_shown():
            self.statusBar().showMessage(
                f"{Path(e.path).name} is not on screen yet: not marked", 5000)
            return
        if state == "pending" and e.review_state == "pending":
            return
        self.set_review(e, state, self.flagged.note_edit.text().strip())

    def set_review(self, entry: FlagEntry, state: str, note: str, undoing: bool = False) -> bool:
        """Mark ``entry`` (as this window shows it) ``state`` with ``note``, recording the
        reviewer. The mark applies only if nobody changed the entry meanwhile (another
        window, another computer on a shared folder); otherwise the entry is refreshed to
        what is saved and the user is told. After a mark (not a reopen or undo) the next
        pending film is shown when auto-advance is on. Returns True when saved."""
        if self.session.storage.read_only:
            self.show_error(self.session.storage.refusal)
            return False
        if self.flagged.note_edit.hasFocus():
            # Back to the list: the note field is disabled while the next film loads, and
            # the list is where J/K, R/D and the arrows act.
            self.flagged.view.setFocus()
        if not machine_actions.reviewer_ready(self):
            self.statusBar().showMessage("A reviewer name is required: not marked", 6000)
            return False
        current = self.flagged.current_entry()
        advance = (not undoing and state != "pending" and self.flagged.advance_check.isChecked()
                   and current is not None and current.key == entry.key)
        nxt = self.flagged.pending_key_after(+1) if advance else None
        try:
            result = self.store.mark(entry, entry.review_state, state, note, self.reviewer)
        except ReviewStoreError as exc:
            self.show_error(f"The review could not be saved: {exc}")
            return False
        if result.entry is not None:
            self.flagged.model.upsert([result.entry])
        else:
            self.flagged.model.set_entries(self.store.entries())
        if result.conflict:
            self.show_error(result.message)
            return False
        if not undoing:
            self.undo_stack.append((entry, state))
        shown = {"pending": "reopened (pending)"}.get(state, state)
        self.statusBar().showMessage(
            f"{Path(entry.path).name}: {shown} by {self.reviewer}"
            + ("" if undoing else " · Ctrl+Z undoes"), 6000)
        if advance:
            if nxt is not None:
                self.flagged.select_key(nxt)
            else:
                self.statusBar().showMessage("All flagged films are reviewed.", 8000)
        return True

    def undo_review(self) -> None:
        """Undo this session's last review decision: the entry gets back its earlier state
        and note (a compare-and-set mark from the state this window shows)."""
        if not self.undo_stack:
            self.statusBar().showMessage("Nothing to undo", 4000)
            return
        before, state = self.undo_stack.pop()
        i = self.flagged.model.row_of(before.key)
        if i is None:
            self.statusBar().showMessage(f"{Path(before.path).name} is no longer listed", 6000)
            return
        now = self.flagged.model.entry_at(i)
        if self.set_review(now, before.review_state, before.note, undoing=True):
            self.flagged.select_key(before.key)
            self.statusBar().showMessage(
                f"Undone: {Path(before.path).name} is {before.review_state} again", 6000)

    def next_pending(self, step: int = 1) -> None:
        """Show the next (``step`` 1) or previous (-1) pending flagged film."""
        key = self.flagged.pending_key_after(step)
        if key is None:
            self.statusBar().showMessage("No other pending flagged film", 5000)
            return
        self.flagged.select_key(key)
        self.flagged.view.setFocus()

    def toggle_archive(self) -> None:
        """Archive the folder chosen in the flagged list (only when nothing in it is pending),
        or restore it when it is archived. Audited; nothing is deleted."""
        folder = self.flagged.folder_combo.currentData()
        if folder is None:
            return
        if self.session.storage.read_only:
            self.show_error(self.session.storage.refusal)
            return
        restore = folder in self.flagged.archived
        try:
            done = archive_folder(self.store, folder, archived=not restore)
        except ReviewStoreError as exc:
            self.show_error(f"The archive could not be saved: {exc}")
            return
        if not done:
            self.statusBar().showMessage(f"{folder} still has pending films: not archived", 6000)
            return
        self.flagged.set_archived(archived_folders(self.store))
        self.statusBar().showMessage(
            f"{folder}: {'restored to the worklist' if restore else 'archived'}", 6000)

    def focus_search(self) -> None:
        self.flagged.filter_bar.search.setFocus()
        self.flagged.filter_bar.search.selectAll()

    def focus_note(self) -> None:
        if self.flagged.note_edit.isEnabled():
            self.flagged.note_edit.setFocus()
            self.flagged.note_edit.selectAll()

    def refresh_flags_if_changed(self) -> int:
        """Show the saved state of the entries this window lists when another window or
        process changed the data file (checked when the window is activated and every
        ``REFRESH_MS``). Only listed entries are updated, none added or removed. Returns how
        many entries changed."""
        try:
            version = self.store.data_version()
        except sqlite3.Error:
            return 0
        if version == getattr(self, "_seen_data_version", None):
            return 0
        self._seen_data_version = version
        shown = {e.key: e for e in self.flagged.model.entries()}
        changed = [e for e in self.store.entries()
                   if e.key in shown and e != shown[e.key]]
        if changed:
            self.flagged.model.upsert(changed)
            log.info("%d review entries changed in another window", len(changed))
            self.statusBar().showMessage(
                f"{len(changed)} review entr{'y' if len(changed) == 1 else 'ies'} changed in "
                "another window; showing the saved state", 8000)
        return len(changed)

    def export_flagged(self, dest: Path) -> int:
        n = self.store.export_csv(dest)
        self.audit.append(AuditEvent(action="export", path=str(dest), note=f"{n} review entries"))
        return n

    def verify_audit_dialog(self) -> QMessageBox:
        """Tools > Verify audit trail: check the hash chain and triggers and say the result
        (a broken trail also goes to the banner and the log)."""
        self.audit_check = self.session.storage.verify()
        text = self.audit_check.summary()
        if self.audit_check.ok:
            log.info("%s", text)
            icon = QMessageBox.Icon.Information
        else:
            self._on_audit_check(self.audit_check)
            icon = QMessageBox.Icon.Warning
        box = QMessageBox(icon, "Audit trail", text, parent=self)
        box.setModal(False)
        box.show()
        return box

    def export_flagged_dialog(self) -> None:
        folder = export_paths.export_folder(self.settings.last_export_folder)  # not the images'
        dest, _ = QFileDialog.getSaveFileName(self, "Export flagged list",
                                              str(Path(folder) / "flagged.csv"),
                                              "CSV files (*.csv)")
        if dest:
            self.settings.last_export_folder = str(Path(dest).parent)
            self.settings.save()
            try:
                n = self.export_flagged(Path(dest))
            except (OSError, StorageError) as exc:  # disk full, read-only, data deleted
                self.show_error(f"Could not write {dest}: {exc}")
                return
            self.statusBar().showMessage(f"{n} entries written to {dest}", 8000)

    # -- operating point -------------------------------------------------------------------
    def apply_threshold(self, threshold: float | None) -> None:
        """Use a new decision threshold (None: the calibration's own): the session re-decides
        the open rows in place; the review list follows."""
        self.apply_change(self.session.set_threshold(threshold))

    def apply_change(self, change: Change) -> None:
        """Show a change of operating point (threshold, site profile): rows, panel, status
        bar, counts, viewer; then update the review list and audit it in the background."""
        self.results.rows_changed()
        site_actions.show_state(self)
        self._on_current_row(self.table.currentIndex(), QModelIndex())
        self._update_count_line()
        # a message still showing the counts before the change would contradict them
        self.statusBar().showMessage(f"{change.new.source} in force, threshold "
                                     f"{format_threshold(change.new.threshold)}", 10000)
        self.sync_review(change.rows, change.event)

    def sync_review(self, rows: list[ResultRow], event: AuditEvent | None) -> None:
        """Flagged rows into the review list, unflagged pending ones out, ``event`` appended:
        one transaction in a worker, then the list is reloaded."""
        if self.meta is None:
            return
        w = workers.FunctionWorker(sync_flags, [dataclasses.replace(r) for r in rows], event,
                                   self.meta.sha256, self.review_db)
        w.signals.finished.connect(self._on_review_synced)
        w.signals.errored.connect(lambda e: self.show_error(f"Review list not updated: {e}"))
        self._sync_worker = w
        workers.start(w)

    def _on_review_synced(self) -> None:
        self._reload_flags()
        self.review_synced.emit()

    def _reload_flags(self) -> None:
        self.flagged.model.set_entries(self.store.entries())
