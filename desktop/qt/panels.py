"""Side panels: the result panel (probability bar with the threshold marked, predicted label,
model identity) and the flagged-for-review list with its review actions."""

from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop import contrast, presentation
from desktop.jobs import ResultRow
from desktop.presentation import finding_text, format_probability, format_threshold
from desktop.qt import columns
from desktop.qt.filter_bar import FilterBar, elide_left
from desktop.qt.table_models import ROW_ROLE, FlaggedTableModel, SortProxy
from desktop.review_store import FlagEntry, entry_folder
from pneumonia_core.decision import OperatingPoint

POSITIVE_COLOUR = QColor(*presentation.POSITIVE_RGB)
NEGATIVE_COLOUR = QColor(*presentation.NEGATIVE_RGB)
UNASSESSED_COLOUR = QColor(*presentation.UNASSESSED_RGB)
#: Longest message shown in the result panel (the whole text is in its tooltip and the log).
MESSAGE_CHARS = 240


class ProbabilityBar(QWidget):
    """A 0-100 % bar filled to the probability, with the decision threshold marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.probability: float | None = None
        self.point = OperatingPoint.fallback()
        self.setMinimumHeight(3 * QFontMetrics(self.font()).height() + 14)  # follows the font
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def threshold(self) -> float:
        return self.point.threshold

    def set_values(self, probability: float | None, point: OperatingPoint) -> None:
        self.probability = probability
        self.point = point
        self.setToolTip("" if probability is None else
                        f"Probability {format_probability(probability, point.threshold)}, "
                        f"threshold {format_threshold(point.threshold)}")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        m = 8.0
        f = QFont(self.font())  # the scale's text: smaller than the system font, following it
        f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
        fm = QFontMetrics(f)
        th = fm.height()
        bar = QRectF(m, th + 4, self.width() - 2 * m, max(16, th))
        p.setPen(QPen(self.palette().color(self.foregroundRole()), 1))
        p.setBrush(self.palette().color(self.backgroundRole()).lighter(105))
        p.drawRect(bar)
        if self.probability is not None:
            colour = (POSITIVE_COLOUR if self.point.is_positive(self.probability)
                      else NEGATIVE_COLOUR)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawRect(QRectF(bar.left(), bar.top(), bar.width() * self.probability, bar.height()))
        # threshold marker and scale
        x = bar.left() + bar.width() * self.threshold
        p.setPen(QPen(self.palette().color(self.foregroundRole()), 2))
        p.drawLine(int(x), int(bar.top() - 5), int(x), int(bar.bottom() + 5))
        p.setFont(f)
        p.setPen(self.palette().color(self.foregroundRole()))
        label = f"threshold {format_threshold(self.threshold)}"
        half = fm.horizontalAdvance(label) / 2 + 6
        tx = min(max(x, bar.left() + half), bar.right() - half)
        p.drawText(QRectF(tx - half, 0, 2 * half, th), int(Qt.AlignmentFlag.AlignCenter), label)
        cell = fm.horizontalAdvance("100%") + 4
        for v in (0, 50, 100):
            xx = bar.left() + bar.width() * v / 100
            align = (Qt.AlignmentFlag.AlignLeft if v == 0 else Qt.AlignmentFlag.AlignRight
                     if v == 100 else Qt.AlignmentFlag.AlignHCenter)
            left = xx - (0 if v == 0 else cell if v == 100 else cell / 2)
            p.drawText(QRectF(left, bar.bottom() + 3, cell, th), int(align), f"{v}%")
        p.end()


def row_height(view: QWidget) -> int:
    """A table row's height for the view's font (the system's, at its scale): text never
    cut in rows of a fixed pixel height."""
    return view.fontMetrics().height() + 8


class ResultPanel(QWidget):
    """The selected image's result and the model's identity; ``changed`` after its text
    changed (the window fits the panel's height to it)."""

    changed = Signal()

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
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        for w in (self.file_label, self.prediction_label, self.probability_label, self.bar,
                  self.message_label, self.model_label):
            lay.addWidget(w)
        lay.addStretch(1)

    def _readable(self, colour: QColor) -> str:
        """``colour`` fitted to 4.5:1 on this panel's background (either theme)."""
        bg = QGuiApplication.palette().color(QPalette.ColorRole.Window)  # now, mid-switch
        rgb = contrast.readable_on((colour.red(), colour.green(), colour.blue()),
                                   (bg.red(), bg.green(), bg.blue()))
        return QColor(*rgb).name()

    def set_model_info(self, text: str) -> None:
        self.model_label.setText(text)
        self.changed.emit()

    def show_row(self, row: ResultRow | None, point: OperatingPoint) -> None:
        threshold = point.threshold
        if row is None:
            self.file_label.setText("No image selected")
            self.prediction_label.setText("")
            self.probability_label.setText("")
            self.message_label.setText("")
            self.bar.set_values(None, point)
            self.changed.emit()
            return
        self.file_label.setText(row.path)
        if row.status == "ok" and row.probability is not None:
            colour = POSITIVE_COLOUR if row.flagged else NEGATIVE_COLOUR
            self.prediction_label.setText(finding_text(row.status, row.prediction, row.flagged))
            self.prediction_label.setStyleSheet(f"color: {self._readable(colour)};")
            self.probability_label.setText(
                f"Probability of pneumonia: {format_probability(row.probability, threshold)} "
                f"(threshold {format_threshold(threshold)})")
            self.message_label.setText(row.message)  # e.g. "frame 1 of 3 judged; ..."
            self.message_label.setToolTip(row.message)
        else:
            text = ("Waiting for classification…" if row.status == "pending"
                    else finding_text(row.status, "", True))
            self.prediction_label.setText(text)
            self.prediction_label.setStyleSheet(f"color: {self._readable(UNASSESSED_COLOUR)};")
            self.probability_label.setText("No probability: this image needs a human read."
                                           if row.status != "pending" else "")
            msg = row.message
            short = msg if len(msg) <= MESSAGE_CHARS else msg[:MESSAGE_CHARS - 1] + "…"
            self.message_label.setText(short)
            self.message_label.setToolTip(msg)
        self.bar.set_values(row.probability, point)
        self.changed.emit()


class FlaggedPanel(QWidget):
    """The flagged-for-review list: most likely first, mark reviewed/dismissed with a note.

    Selecting an entry (click or arrow keys) asks the window to show its film
    (``entry_selected``); the review buttons are enabled only while that very film is on
    screen (:meth:`set_shown_path`), so nothing is marked while another film is shown.
    """

    review_requested = Signal(object, str, str)  # FlagEntry, state, note
    entry_selected = Signal(object)  # FlagEntry: show its film
    entry_activated = Signal(object)  # FlagEntry (Enter / double-click)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = FlaggedTableModel(self)
        self.proxy = SortProxy(self.model, column=1)
        self.shown_path: str | None = None
        #: Why the list is read-only ("" when it can be changed): see :meth:`set_read_only`.
        self.read_only = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Flagged for review")
        bold = QFont(self.title.font())  # a font, not a style sheet: a widget with a style
        bold.setBold(True)  # sheet kept the old palette (black) after a switch to dark
        self.title.setFont(bold)
        lay.addWidget(self.title)
        #: Archived folders (finished batches hidden from the worklist); set by the window.
        self.archived: set[str] = set()
        self.filter_bar = FilterBar(self.proxy, [
            ("Worklist", lambda e: entry_folder(e) not in self.archived),
            ("Pending", lambda e: e.review_state == "pending"
             and entry_folder(e) not in self.archived),
            ("Reviewed", lambda e: e.review_state == "reviewed"),
            ("Dismissed", lambda e: e.review_state == "dismissed"),
            ("Archived", lambda e: entry_folder(e) in self.archived),
            ("All", None),
        ], placeholder="Search file, patient, note… (Ctrl+F)")
        self.folder_combo = QComboBox()
        self.folder_combo.setToolTip("Batches: the folders the flagged films came from")
        self.folder_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.folder_combo.setMinimumContentsLength(12)
        self.archive_button = QPushButton("Archive batch")
        self.archive_button.setToolTip("Hide a finished folder (nothing pending) from the "
                                       "worklist; nothing is deleted ('Archived' shows it)")
        lay.addWidget(self.filter_bar)
        batch_row = QHBoxLayout()
        batch_row.addWidget(self.folder_combo, 1)
        batch_row.addWidget(self.archive_button)
        lay.addLayout(batch_row)
        self.folder_combo.currentIndexChanged.connect(self._folder_changed)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(row_height(self.view))
        elide_left(self.view, (0, FlaggedTableModel.HEADERS.index("Folder")))
        self.view.setTabKeyNavigation(False)  # Tab leaves the list (to the note field)
        self.view.setWordWrap(False)  # wrapping at '-' would cut names on the right
        hh = self.view.horizontalHeader()
        # Fixed widths: ResizeToContents would measure every row on each insert (slow).
        hh.setStretchLastSection(True)  # the name keeps its width; extra columns scroll
        columns.lay_out(self.view, FlaggedTableModel.HEADERS, columns.WORKLIST_COLUMNS)
        lay.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("Note (N; Enter = reviewed)")
        self.note_edit.setMaxLength(500)
        self.note_edit.setMinimumWidth(80)
        self.reviewed_button = QPushButton("Reviewed (R)")
        self.dismiss_button = QPushButton("Dismiss (D)")
        self.reopen_button = QPushButton("Reopen (O)")
        self.export_button = QPushButton("Export CSV…")
        row.addWidget(self.note_edit, 1)
        for b in (self.reviewed_button, self.dismiss_button, self.reopen_button):
            row.addWidget(b)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        self.advance_check = QCheckBox("Auto-advance")
        self.advance_check.setToolTip("After marking, show the next pending film")
        self.advance_check.setChecked(True)
        self.reviewer_label = QLabel("")
        row2.addWidget(self.advance_check)
        row2.addStretch(1)
        row2.addWidget(self.reviewer_label)
        row2.addWidget(self.export_button)
        lay.addLayout(row2)
        self.reviewed_button.clicked.connect(lambda: self._request("reviewed"))
        self.dismiss_button.clicked.connect(lambda: self._request("dismissed"))
        self.reopen_button.clicked.connect(lambda: self._request("pending"))
        self.note_edit.returnPressed.connect(lambda: self._request("reviewed"))
        self.export_button.clicked.connect(self.export_requested)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.activated.connect(self._activated)
        self.model.rowsInserted.connect(self._update_title)
        self.model.rowsRemoved.connect(self._update_title)
        self.model.modelReset.connect(self._update_title)
        self.model.dataChanged.connect(self._update_title)
        self.filter_bar.changed.connect(self._update_title)
        self.model.dataChanged.connect(self._update_buttons)
        self.filter_bar.refresh()
        QWidget.setTabOrder(self.view, self.note_edit)
        QWidget.setTabOrder(self.note_edit, self.reviewed_button)
        self._update_buttons()

    def _update_title(self, *args: object) -> None:
        entries = self.model.entries()
        live = [e for e in entries if entry_folder(e) not in self.archived]
        pending = sum(1 for e in live if e.review_state == "pending")
        shown = self.proxy.rowCount()
        text = ("READ-ONLY " if self.read_only else "") + (
            f"Worklist: {pending} pending of {len(live)} flagged")
        if len(live) != len(entries):
            text += f" · {len(entries) - len(live)} archived"
        if shown != len(entries):
            text += f" · {shown} shown"
        self.title.setText(text)
        self._refresh_folders()

    def folders(self) -> dict[str, tuple[int, int]]:
        """Folder -> (pending, total) over all entries."""
        out: dict[str, list[int]] = {}
        for e in self.model.entries():
            c = out.setdefault(entry_folder(e), [0, 0])
            c[0] += e.review_state == "pending"
            c[1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}

    def _refresh_folders(self) -> None:
        counts = self.folders()
        current = self.folder_combo.currentData()
        items = [("All folders", None)] + [
            (f"{os.path.basename(f) or f}: {p} pending of {n}"
             + (" (archived)" if f in self.archived else ""), f)
            for f, (p, n) in sorted(counts.items())]
        have = [(self.folder_combo.itemText(i), self.folder_combo.itemData(i))
                for i in range(self.folder_combo.count())]
        if have != items:
            self.folder_combo.blockSignals(True)
            self.folder_combo.clear()
            for text, data in items:
                self.folder_combo.addItem(text, data)
                self.folder_combo.setItemData(self.folder_combo.count() - 1, data or "",
                                              Qt.ItemDataRole.ToolTipRole)
            i = self.folder_combo.findData(current) if current is not None else 0
            self.folder_combo.setCurrentIndex(max(0, i))
            self.folder_combo.blockSignals(False)
            if current is not None and i < 0:
                self._folder_changed()
        folder = self.folder_combo.currentData()
        p = counts.get(folder, (1, 1))[0] if folder is not None else 1
        self.archive_button.setEnabled(folder is not None and p == 0 and not self.read_only)
        if self.read_only:
            self.archive_button.setToolTip(self.read_only)
        self.archive_button.setText("Restore batch" if folder in self.archived
                                    else "Archive batch")

    def _folder_changed(self, *args: object) -> None:
        folder = self.folder_combo.currentData()
        self.filter_bar.extra = None if folder is None else (
            lambda e: entry_folder(e) == folder)
        self.filter_bar.refresh()

    def set_archived(self, folders: set[str]) -> None:
        self.archived = set(folders)
        self.filter_bar.refresh()

    def film_shown(self) -> bool:
        """True when the current entry's film is the one on screen."""
        e = self.current_entry()
        return e is not None and e.path == self.shown_path

    def _update_buttons(self, *args: object) -> None:
        e = self.current_entry()
        ok = self.film_shown() and not self.read_only
        self.reviewed_button.setEnabled(ok)
        self.dismiss_button.setEnabled(ok)
        self.note_edit.setEnabled(ok)
        self.reopen_button.setEnabled(ok and e is not None and e.review_state != "pending")
        why = self.read_only or (
            "" if ok or e is None else "Waiting for this entry's film to be shown")
        for b in (self.reviewed_button, self.dismiss_button, self.reopen_button,
                  self.note_edit):
            b.setToolTip(why)
        if self.read_only:
            self.note_edit.setPlaceholderText("Read-only: notes cannot be saved")

    def set_read_only(self, reason: str) -> None:
        """Show the list read-only: marks, notes and archiving disabled, ``reason`` as their
        tooltip and "READ-ONLY" in the title."""
        self.read_only = reason
        self._update_buttons()
        self._update_title()

    def set_shown_path(self, path: str | None) -> None:
        """The film on screen (its display path), or None while none/another loads."""
        self.shown_path = path
        self._update_buttons()

    def current_entry(self) -> FlagEntry | None:
        idx = self.view.currentIndex()
        return idx.data(ROW_ROLE) if idx.isValid() else None

    def select_row(self, proxy_row: int) -> None:
        idx = self.proxy.index(proxy_row, 0)
        self.view.setCurrentIndex(idx)

    def proxy_row_of(self, key: tuple[str, str]) -> int | None:
        i = self.model.row_of(key)
        if i is None:
            return None
        idx = self.proxy.mapFromSource(self.model.index(i, 0))
        return idx.row() if idx.isValid() else None

    def select_key(self, key: tuple[str, str]) -> bool:
        """Make the entry with ``key`` current (shows its film); False when not listed."""
        r = self.proxy_row_of(key)
        if r is None:
            return False
        self.select_row(r)
        self.view.scrollTo(self.proxy.index(r, 0))
        return True

    def select_path(self, path: str) -> None:
        """Follow the film shown elsewhere: its entry becomes current, or none is."""
        e = self.current_entry()
        if e is not None and e.path == path:
            return
        for i, cand in enumerate(self.model.entries()):
            if cand.path == path:
                idx = self.proxy.mapFromSource(self.model.index(i, 0))
                if idx.isValid():  # listed (not filtered out)
                    self.select_row(idx.row())
                    return
        self.view.setCurrentIndex(QModelIndex())
        self.view.clearSelection()

    def pending_key_after(self, step: int = 1) -> tuple[str, str] | None:
        """The key of the next (``step`` 1) or previous (-1) pending entry in the list's
        order after the current one (wrapping around, never the current one); with no
        current entry, the first (or last) pending one. None when nothing else is pending."""
        n = self.proxy.rowCount()
        cur = self.view.currentIndex()
        if cur.isValid():
            rows = [(cur.row() + step * k) % n for k in range(1, n)]
        else:
            rows = list(range(n)) if step > 0 else list(range(n - 1, -1, -1))
        for r in rows:
            e = self.proxy.index(r, 0).data(ROW_ROLE)
            if e is not None and e.review_state == "pending":
                return e.key
        return None

    def _current_changed(self, current: object, previous: object) -> None:
        e = self.current_entry()
        self.note_edit.setText(e.note if e is not None else "")
        self._update_buttons()
        if e is not None:
            self.entry_selected.emit(e)

    def _activated(self, index: object) -> None:
        e = self.current_entry()
        if e is not None:
            self.entry_activated.emit(e)

    def _request(self, state: str) -> None:
        e = self.current_entry()
        if e is not None and self.film_shown():
            self.review_requested.emit(e, state, self.note_edit.text().strip())
