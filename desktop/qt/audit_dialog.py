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
from desktop.presentation import format_probability, format_threshold
from desktop.qt.filter_bar import FilterBar, elide_left
from desktop.qt.table_models import ROW_ROLE, SEARCH_ROLE, SORT_ROLE, ListTableModel, SortProxy

_Index = QModelIndex | QPersistentModelIndex
SHOWN = 5000
#: Columns of free length (File, Note), shown at most this many characters wide.
LONG_COLUMNS = (2, 6)
LONG_COLUMN_CHARS = 36


class AuditTableModel(ListTableModel):
    HEADERS = ("Time (UTC)", "Action", "File", "Probability", "Threshold", "Decision", "Note",
               "File SHA-256", "Model SHA-256", "User")

    def __init__(self, events: list[AuditEvent], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events = events

    def _row_list(self) -> list[AuditEvent]:
        return self.events

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        e = self.events[index.row()]
        if role == ROW_ROLE:
            return e
        if role == SEARCH_ROLE:  # what the search box matches
            return " ".join((e.action, e.path, e.decision, e.note, e.user)).lower()
        if role == SORT_ROLE:  # newest first as listed; numbers as numbers
            col = index.column()
            if col in (3, 4):
                value = e.probability if col == 3 else e.threshold
                return -1.0 if value is None else float(value)
            return str(self._cells(e)[col]).lower()
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        return self._cells(e)[index.column()]

    @staticmethod
    def _cells(e: AuditEvent) -> tuple[str, ...]:
        """The row as shown: probability and threshold as the rest of the app writes them
        ('90.1%', desktop.presentation); the CSV export keeps the exact numbers."""
        prob = "" if e.probability is None else format_probability(e.probability, e.threshold)
        thr = "" if e.threshold is None else format_threshold(e.threshold)
        return (e.time, e.action, e.path, prob, thr, e.decision, e.note,
                e.file_sha256[:16], e.model_sha256[:16], e.user)


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
        # Filter by event type and search (2,000 classify rows hid 6 review actions).
        self.proxy = SortProxy(self.model, column=0, order=Qt.SortOrder.DescendingOrder)
        self.filter_bar = FilterBar(
            self.proxy, event_type_choices(events),
            placeholder="Search file, decision, note, user…")
        self.filter_bar.search.setAccessibleName("Search the audit trail")
        self.filter_bar.combo.setAccessibleName("Event type")
        self.filter_bar.combo.setToolTip("Show one type of event (e.g. the review actions)")
        self.shown_label = QLabel()
        self.filter_bar.changed.connect(self._update_shown)
        lay.addWidget(self.filter_bar)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.setAccessibleName("Audit events")
        fit_columns(self.view)
        elide_left(self.view, (2,))  # a path keeps its distinguishing end
        lay.addWidget(self.view, 1)
        lay.addWidget(self.shown_label)
        self._update_shown()
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

    def _update_shown(self) -> None:
        self.shown_label.setText(f"{self.proxy.rowCount()} of {self.model.rowCount()} "
                                 "loaded events shown")

    def export_to(self, dest: Path) -> int:
        """Write the whole trail as CSV; the export itself is then audited (who wrote how
        many events where)."""
        with AuditLog(self.audit_db) as log:
            n = log.export_csv(dest)
            log.append(AuditEvent(action="export", path=str(dest),
                                  note=f"audit trail: {n} events"))
            return n

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


def event_type(action: str) -> str:
    """An event's type: its action up to a colon ('review:dismissed' -> 'review')."""
    return action.split(":", 1)[0]


def event_type_choices(events: list[AuditEvent]) -> list[tuple[str, object]]:
    """'All events' and one choice per event type present (classify last: the others are
    the few a reader looks for)."""
    kinds = sorted({event_type(e.action) for e in events}, key=lambda a: (a == "classify", a))
    return [("All events", None)] + [
        (kind, (lambda e, k=kind: event_type(e.action) == k)) for kind in kinds]


def fit_columns(view: QTableView, sample: int = 200) -> None:
    """Each column as wide as its header and its widest text among the first ``sample``
    rows (measuring all 5,000 would be slow), so that no column, e.g. Threshold, is cut."""
    model, fm = view.model(), view.fontMetrics()
    header = view.horizontalHeader()
    pad = 2 * view.style().pixelMetric(view.style().PixelMetric.PM_FocusFrameHMargin) + 12
    for c in range(model.columnCount()):
        texts = [str(model.index(r, c).data() or "") for r in range(min(sample,
                                                                        model.rowCount()))]
        widest = max((fm.horizontalAdvance(t) for t in texts), default=0)
        if c in LONG_COLUMNS:  # paths and notes: elided (hover for all), not a screen wide
            widest = min(widest, LONG_COLUMN_CHARS * fm.averageCharWidth())
        view.setColumnWidth(c, max(header.sectionSizeHint(c), widest + pad))


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
