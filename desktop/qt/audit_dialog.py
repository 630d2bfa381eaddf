"""The audit-trail viewer: the newest events in a table, and CSV export of all of them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.audit import AuditError, AuditEvent, AuditLog
from desktop.presentation import format_threshold
from desktop.qt.table_models import ListTableModel

_Index = QModelIndex | QPersistentModelIndex
SHOWN = 5000


class AuditTableModel(ListTableModel):
    HEADERS = ("Time (UTC)", "Action", "File", "Probability", "Threshold", "Decision", "Note",
               "File SHA-256", "Model SHA-256", "User")

    def __init__(self, events: list[AuditEvent], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = events

    def _row_list(self) -> list[AuditEvent]:
        return self.events

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole,
                                               Qt.ItemDataRole.ToolTipRole):
            return None
        e = self.events[index.row()]
        prob = "" if e.probability is None else f"{e.probability:.4f}"
        thr = "" if e.threshold is None else format_threshold(e.threshold)
        return (e.time, e.action, e.path, prob, thr, e.decision, e.note,
                e.file_sha256[:16], e.model_sha256[:16], e.user)[index.column()]


class AuditDialog(QDialog):
    def __init__(self, audit_db: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Audit trail")
        self.resize(1000, 560)
        self.audit_db = audit_db
        lay = QVBoxLayout(self)
        try:
            with AuditLog(audit_db) as log:
                events, total = log.recent(SHOWN), log.count()
        except AuditError as exc:
            events, total = [], 0
            lay.addWidget(QLabel(str(exc)))
        self.model = AuditTableModel(events, self)
        lay.addWidget(QLabel(f"{total} events in {audit_db} (append-only); newest "
                             f"{len(events)} shown, newest first."))
        self.anchor_label = QLabel(anchor_text(audit_db))
        self.anchor_label.setObjectName("audit_anchor")
        self.anchor_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.anchor_label.setWordWrap(True)
        lay.addWidget(self.anchor_label)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.resizeColumnsToContents()
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        export = QPushButton("Export CSV…")
        export.clicked.connect(self._export)
        export_anchor = QPushButton("Export anchor…")
        export_anchor.setToolTip("The head hash and event count, for IT to record elsewhere")
        export_anchor.clicked.connect(self._export_anchor)
        row.addWidget(export_anchor)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(export)
        row.addWidget(close)
        lay.addLayout(row)

    def export_anchor_to(self, dest: Path) -> str:
        """Write the trail's current head for IT (``verify --export-anchor``); the message."""
        import io

        from desktop import cli

        out, err = io.StringIO(), io.StringIO()
        code = cli._export_anchor(self.audit_db, dest, out, err)
        if code:
            raise OSError(err.getvalue().strip())
        return out.getvalue().strip()

    def _export_anchor(self) -> None:
        dest, _ = QFileDialog.getSaveFileName(self, "Export audit anchor", "audit-anchor.json",
                                              "JSON files (*.json)")
        if not dest:
            return
        try:
            text = self.export_anchor_to(Path(dest))
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        QMessageBox.information(self, "Export", text)

    def export_to(self, dest: Path) -> int:
        with AuditLog(self.audit_db) as log:
            return log.export_csv(dest)

    def _export(self) -> None:
        dest, _ = QFileDialog.getSaveFileName(self, "Export audit trail", "audit.csv",
                                              "CSV files (*.csv)")
        if not dest:
            return
        try:
            n = self.export_to(Path(dest))
        except (OSError, AuditError) as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {dest}:\n{exc}")
            return
        QMessageBox.information(self, "Export", f"{n} audit events written to {dest}")


def anchor_text(audit_db: Path) -> str:
    """The anchor kept outside the database, for people (the audit window)."""
    from desktop import audit_anchor

    where = audit_anchor.anchor_path(audit_db)
    try:
        anchor = audit_anchor.read(where)
    except ValueError as exc:
        return f"Anchor: {exc}"
    if anchor is None:
        return f"Anchor: none recorded yet ({where})"
    return (f"Anchor kept outside the database: {anchor.describe()}\n"
            f"head hash {anchor.head_hash} ({where})")
