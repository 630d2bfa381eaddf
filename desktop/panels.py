"""Side panels: the result panel (probability bar with the threshold marked, predicted label,
model identity) and the flagged-for-review list with its review actions."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.jobs import ResultRow
from desktop.review_store import FlagEntry
from desktop.table_models import ROW_ROLE, FlaggedTableModel, SortProxy
from pneumonia_core.decision import OperatingPoint

POSITIVE_COLOUR = QColor(200, 55, 45)
NEGATIVE_COLOUR = QColor(45, 140, 80)


class ProbabilityBar(QWidget):
    """A 0-100 % bar filled to the probability, with the decision threshold marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.probability: float | None = None
        self.point = OperatingPoint.fallback()
        self.setMinimumHeight(54)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def threshold(self) -> float:
        return self.point.threshold

    def set_values(self, probability: float | None, point: OperatingPoint) -> None:
        self.probability = probability
        self.point = point
        self.setToolTip("" if probability is None else
                        f"Probability {probability:.1%}, threshold {point.threshold:.1%}")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        m = 8.0
        bar = QRectF(m, 18, self.width() - 2 * m, 16)
        p.setPen(QPen(QColor(110, 110, 110), 1))
        p.setBrush(QColor(235, 235, 235))
        p.drawRect(bar)
        if self.probability is not None:
            colour = (POSITIVE_COLOUR if self.point.is_positive(self.probability)
                      else NEGATIVE_COLOUR)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRect(QRectF(bar.left(), bar.top(), bar.width() * self.probability, bar.height()))
        # threshold marker and scale
        x = bar.left() + bar.width() * self.threshold
        p.setPen(QPen(QColor(20, 20, 20), 2))
        p.drawLine(int(x), int(bar.top() - 5), int(x), int(bar.bottom() + 5))
        f = QFont(self.font())
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        p.setFont(f)
        p.setPen(QColor(60, 60, 60))
        p.drawText(QRectF(x - 60, 0, 120, 14), int(Qt.AlignmentFlag.AlignCenter),
                   f"threshold {self.threshold:.0%}")
        for v in (0, 50, 100):
            xx = bar.left() + bar.width() * v / 100
            align = (Qt.AlignmentFlag.AlignLeft if v == 0 else Qt.AlignmentFlag.AlignRight
                     if v == 100 else Qt.AlignmentFlag.AlignHCenter)
            rect = QRectF(xx - (0 if v == 0 else 40 if v == 100 else 20), bar.bottom() + 3, 40, 14)
            p.drawText(rect, int(align), f"{v}%")
        p.end()


class ResultPanel(QWidget):
    """The selected image's result and the model's identity."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.file_label = QLabel("No image selected")
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prediction_label = QLabel("")
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.5)
        big.setBold(True)
        self.prediction_label.setFont(big)
        self.probability_label = QLabel("")
        self.bar = ProbabilityBar()
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #555;")
        for w in (self.file_label, self.prediction_label, self.probability_label, self.bar,
                  self.message_label, self.model_label):
            lay.addWidget(w)
        lay.addStretch(1)

    def set_model_info(self, text: str) -> None:
        self.model_label.setText(text)

    def show_row(self, row: ResultRow | None, point: OperatingPoint) -> None:
        threshold = point.threshold
        if row is None:
            self.file_label.setText("No image selected")
            self.prediction_label.setText("")
            self.probability_label.setText("")
            self.message_label.setText("")
            self.bar.set_values(None, point)
            return
        self.file_label.setText(row.path)
        if row.status == "ok" and row.probability is not None:
            colour = POSITIVE_COLOUR if row.flagged else NEGATIVE_COLOUR
            self.prediction_label.setText(row.prediction)
            self.prediction_label.setStyleSheet(f"color: {colour.name()};")
            self.probability_label.setText(
                f"Probability of pneumonia: {row.probability:.1%} "
                f"(threshold {threshold:.1%})")
            self.message_label.setText("")
        else:
            text = {"error": "Could not be read", "out_of_scope": "Out of scope",
                    "pending": "Waiting for classification…"}.get(row.status, row.status)
            self.prediction_label.setText(text)
            self.prediction_label.setStyleSheet("color: #a06000;")
            self.probability_label.setText("No probability: this image needs a human read."
                                           if row.status != "pending" else "")
            self.message_label.setText(row.message)
        self.bar.set_values(row.probability, point)


class FlaggedPanel(QWidget):
    """The flagged-for-review list: most likely first, mark reviewed/dismissed with a note."""

    review_requested = Signal(object, str, str)  # FlagEntry, state, note
    entry_activated = Signal(object)  # FlagEntry
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FlaggedTableModel(self)
        self.proxy = SortProxy(self.model, column=1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Flagged for review")
        self.title.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.title)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.view.horizontalHeader()
        # Fixed widths: ResizeToContents would measure every row on each insert (slow).
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c, width in ((1, 86), (2, 92), (3, 74), (4, 90)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(c, width)
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note (optional)")
        self.note_edit.setMaxLength(500)
        self.reviewed_button = QPushButton("Mark reviewed")
        self.dismiss_button = QPushButton("Dismiss")
        self.export_button = QPushButton("Export CSV…")
        row.addWidget(self.note_edit, 1)
        for b in (self.reviewed_button, self.dismiss_button, self.export_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.reviewed_button.clicked.connect(lambda: self._request("reviewed"))
        self.dismiss_button.clicked.connect(lambda: self._request("dismissed"))
        self.note_edit.returnPressed.connect(lambda: self._request("reviewed"))
        self.export_button.clicked.connect(self.export_requested)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.activated.connect(self._activated)
        self.model.rowsInserted.connect(self._update_title)
        self.model.rowsRemoved.connect(self._update_title)
        self.model.modelReset.connect(self._update_title)
        self.model.dataChanged.connect(self._update_title)
        self._update_buttons()

    def _update_title(self, *args: object) -> None:
        entries = self.model.entries()
        pending = sum(1 for e in entries if e.review_state == "pending")
        self.title.setText(f"Flagged for review: {len(entries)} ({pending} pending)")

    def _update_buttons(self) -> None:
        has = self.current_entry() is not None
        self.reviewed_button.setEnabled(has)
        self.dismiss_button.setEnabled(has)

    def current_entry(self) -> FlagEntry | None:
        idx = self.view.currentIndex()
        return idx.data(ROW_ROLE) if idx.isValid() else None

    def select_row(self, proxy_row: int) -> None:
        idx = self.proxy.index(proxy_row, 0)
        self.view.setCurrentIndex(idx)

    def _current_changed(self, current: object, previous: object) -> None:
        e = self.current_entry()
        self.note_edit.setText(e.note if e is not None else "")
        self._update_buttons()

    def _activated(self, index: object) -> None:
        e = self.current_entry()
        if e is not None:
            self.entry_activated.emit(e)

    def _request(self, state: str) -> None:
        e = self.current_entry()
        if e is not None:
            self.review_requested.emit(e, state, self.note_edit.text().strip())
