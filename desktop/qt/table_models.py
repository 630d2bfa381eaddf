"""Qt item models (not widget lists) for the results table and the flagged-for-review list.

Both hold small row objects with no pixels. Rows are appended in chunks (one
``beginInsertRows`` per chunk); sorting is done by a :class:`QSortFilterProxyModel` on
:data:`SORT_ROLE`, so inserts never reorder the source rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette

from desktop import contrast, presentation
from desktop.findings import FINDING_TEXT
from desktop.jobs import ResultRow
from desktop.presentation import finding_text, format_probability, status_text
from desktop.review_store import FlagEntry
from desktop.session import ResultRows

#: Role giving a value that sorts naturally (numbers as numbers, None last).
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role giving the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
#: Role giving the lower-case text the search box matches (path, DICOM fields, note).
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 3
#: Headers of the DICOM demographic columns (presentation.DEMOGRAPHICS order).
DEMOGRAPHIC_HEADERS = tuple(h for _t, h, _f in presentation.DEMOGRAPHICS)

_Index = QModelIndex | QPersistentModelIndex
_BRUSHES: dict[tuple[int, int, int], QBrush] = {}
_DIM_RGB = (128, 128, 128)
#: The worklist's sort value for films without a probability ("could not read", "not a chest
#: X-ray"): below every -probability, so they form their own group at the top. Each needs a
#: human read and the model gave no reassurance; at the bottom of a long list they were read
#: last or not at all (docs/app.md, "The worklist").
UNASSESSED_FIRST = -2.0
_dark = False


#: The tables' background (the palette's Base) that text colours must stand out from.
_base: tuple[int, int, int] = (255, 255, 255)


def set_dark(dark: bool) -> None:
    """Use lighter finding colours on a dark background (the dark theme); every colour is
    then fitted to the theme's table background (WCAG AA, desktop.contrast)."""
    global _dark, _base
    _dark = bool(dark)
    app = QGuiApplication.instance()
    if app is not None:
        c = app.palette().color(QPalette.ColorRole.Base)
        _base = (c.red(), c.green(), c.blue())
    _BRUSHES.clear()


def _readable_brush(rgb: tuple[int, int, int]) -> QBrush:
    brush = _BRUSHES.get(rgb)
    if brush is None:
        brush = _BRUSHES[rgb] = QBrush(QColor(*contrast.readable_on(rgb, _base)))
    return brush


def finding_brush(status: str, flagged: bool) -> QBrush | None:
    """The Okabe-Ito colour of a finding (always shown with its symbol and words), darkened
    or lightened as far as needed to read at 4.5:1 on the table's background."""
    rgb = presentation.finding_rgb(status, flagged)
    if rgb is None:
        return None
    if _dark and rgb == presentation.NEGATIVE_RGB:
        rgb = presentation.OKABE_ITO["sky_blue"]
    return _readable_brush(rgb)


class ListTableModel(QAbstractTableModel):
    """A flat table over a Python list of row objects, with a fixed horizontal header.

    Subclasses set :attr:`HEADERS`, return their list from :meth:`_row_list` and implement
    ``data()``.
    """

    HEADERS: tuple[str, ...] = ()

    def _row_list(self) -> Sequence[Any]:
        raise NotImplementedError

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._row_list())

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def _upsert_keyed(self, items: list[Any], by_key: dict[Hashable, int],
                      new: Sequence[Any], key: Callable[[Any], Hashable]) -> None:
        """Replace rows whose key is present (one ``dataChanged`` for the chunk) and append
        the rest (one ``beginInsertRows``), keeping ``by_key`` (key -> row) up to date."""
        fresh: list[Any] = []
        changed: list[int] = []
        for r in new:
            i = by_key.get(key(r))
            if i is None:
                fresh.append(r)
            else:
                items[i] = r
                changed.append(i)
        if changed:  # one signal for the whole chunk
            self.dataChanged.emit(self.index(min(changed), 0),
                                  self.index(max(changed), len(self.HEADERS) - 1))
        if not fresh:
            return
        first = len(items)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for k, r in enumerate(fresh):
            by_key[key(r)] = first + k
        items.extend(fresh)
        self.endInsertRows()


class ResultTableModel(ListTableModel):
    """The results table: file name, probability, finding, status, DICOM demographics,
    folder and batch (the later columns can be hidden)."""

    HEADERS = ("File", "Probability", "Finding", "Status", *DEMOGRAPHIC_HEADERS, "Folder",
               "Batch")

    def __init__(self, parent: object | None = None, rows: ResultRows | None = None) -> None:
        super().__init__(parent)
        #: The session's rows (this model is a view of them; its own when none is given).
        self.source = rows if rows is not None else ResultRows()
        self._rows = self.source.rows
        #: batch number -> label ("3 · val · 19:05"), set by the window per opening
        self.batch_labels: dict[int, str] = {}

    def _row_list(self) -> list[ResultRow]:
        return self._rows

    # -- Qt interface --------------------------------------------------------------------
    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == SORT_ROLE:
            return self._sort_value(row, col)
        if role == SEARCH_ROLE:
            return " ".join((row.path, *row.demographics)).lower()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path + (f"\n{row.message}" if row.message else "")
        if role == Qt.ItemDataRole.ForegroundRole and (col == 2 or row.flagged and col == 0):
            return finding_brush(row.status, row.flagged)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: ResultRow, col: int) -> str:
        if col >= 4:
            return self._extra(row, col)
        return (row.name, format_probability(row.probability),
                finding_text(row.status, row.prediction, row.flagged),
                status_text(row.status))[col]

    def _sort_value(self, row: ResultRow, col: int) -> str | float | int:
        """A plain str/float/int per column: the sort proxy compares them in C++."""
        if col == 0:
            return row.name.lower()
        if col == 1:
            return -1.0 if row.probability is None else row.probability
        if col == len(self.HEADERS) - 1:
            return row.batch
        if col >= 4:
            return self._extra(row, col).lower()
        return row.prediction if col == 2 else row.status

    def _extra(self, row: ResultRow, col: int) -> str:
        k = col - 4
        if k < len(DEMOGRAPHIC_HEADERS):
            return row.demographics[k] if row.demographics else ""
        if k == len(DEMOGRAPHIC_HEADERS):
            return os.path.dirname(row.path)
        return self.batch_labels.get(row.batch, str(row.batch))

    # -- our interface -------------------------------------------------------------------
    def append_rows(self, rows: Sequence[ResultRow]) -> None:
        """Add a chunk of rows; a path already present is updated in place instead (one
        ``beginInsertRows`` and one ``dataChanged`` per chunk)."""
        rows = list(rows)
        fresh = self.source.new_paths(rows)
        first = len(self._rows)
        if fresh:
            self.beginInsertRows(QModelIndex(), first, first + fresh - 1)
        replaced = self.source.add(rows)
        if fresh:
            self.endInsertRows()
        if replaced:
            self.dataChanged.emit(self.index(min(replaced), 0),
                                  self.index(max(replaced), len(self.HEADERS) - 1))

    def rows(self) -> list[ResultRow]:
        return self._rows

    def row_at(self, i: int) -> ResultRow:
        return self._rows[i]

    def row_of(self, path: str) -> int | None:
        return self.source.index.get(path)

    def clear(self) -> None:
        self.beginResetModel()
        self.source.clear()
        self.endResetModel()

    def rows_changed(self) -> None:
        """Tell views that row values changed (after a threshold change)."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(self.HEADERS) - 1))


class FlaggedTableModel(ListTableModel):
    """The flagged-for-review list over :class:`FlagEntry` rows from the review store."""

    HEADERS = ("File", "Probability", "Finding", "Review", "Note", *DEMOGRAPHIC_HEADERS,
               "Folder", "Reviewer")

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)
        self._entries: list[FlagEntry] = []
        self._by_key: dict[tuple[str, str], int] = {}
        #: display path -> DICOM demographics (from this session's results; entries of
        #: earlier sessions have none until their film is opened again)
        self.demographics: dict[str, tuple[str, ...]] = {}

    def _row_list(self) -> list[FlagEntry]:
        return self._entries

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        e = self._entries[index.row()]
        col = index.column()
        finding = finding_text(e.status, e.prediction, e.model_flagged)
        if e.finding:  # a reader's finding (desktop.findings) first, then the model's
            finding = f"reader: {FINDING_TEXT.get(e.finding, e.finding)} · model {finding}"
        if role == Qt.ItemDataRole.DisplayRole:
            if col >= 5:
                return self._extra(e, col)
            return (os.path.basename(e.path), format_probability(e.probability), finding,
                    presentation.REVIEW_TEXT.get(e.review_state, e.review_state), e.note)[col]
        if role == SORT_ROLE:  # plain str/float: the proxy compares them in C++
            if col == 1:  # ascending: unassessed first, then most likely (FlagEntry.reading_key)
                return UNASSESSED_FIRST if e.probability is None else -e.probability
            if col == 0:
                return os.path.basename(e.path).lower()
            if col >= 5:
                return self._extra(e, col).lower()
            return (finding, e.review_state, e.note.lower())[col - 2]
        if role == SEARCH_ROLE:
            return " ".join((e.path, e.note, getattr(e, "reviewer", ""),
                             *self.demographics.get(e.path, ()))).lower()
        if role == ROW_ROLE:
            return e
        if role == Qt.ItemDataRole.ToolTipRole:
            reader = (f"\nReader finding ({e.finding_reviewer}): {finding}"
                      + (f" ({e.finding_note})" if e.finding_note else "")) if e.finding else ""
            return e.path + (f"\n{e.message}" if e.message else "") + reader
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.review_state != "pending":  # dimmed, still readable (4.5:1)
                return _readable_brush(_DIM_RGB)
            return finding_brush(e.status, e.model_flagged) if col == 2 else None
        return None

    def _extra(self, e: FlagEntry, col: int) -> str:
        k = col - 5
        if k < len(DEMOGRAPHIC_HEADERS):
            demo = self.demographics.get(e.path)
            return demo[k] if demo else ""
        if k == len(DEMOGRAPHIC_HEADERS):
            return os.path.dirname(e.path)
        return getattr(e, "reviewer", "")

    def set_demographics(self, by_path: dict[str, tuple[str, ...]]) -> None:
        """Add DICOM demographics of entries (display path -> fields)."""
        changed = {p: d for p, d in by_path.items() if self.demographics.get(p) != d}
        if not changed:
            return
        self.demographics.update(changed)
        if self._entries:
            self.dataChanged.emit(self.index(0, 5),
                                  self.index(len(self._entries) - 1, len(self.HEADERS) - 1))

    def set_entries(self, entries: Sequence[FlagEntry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self._by_key = {e.key: i for i, e in enumerate(self._entries)}
        self.endResetModel()

    def upsert(self, entries: Sequence[FlagEntry]) -> None:
        """Add or refresh entries (a chunk)."""
        self._upsert_keyed(self._entries, self._by_key, entries, _entry_key)

    def remove(self, key: tuple[str, str]) -> None:
        i = self._by_key.get(key)
        if i is None:
            return
        self.beginRemoveRows(QModelIndex(), i, i)
        del self._entries[i]
        self.endRemoveRows()
        self._by_key = {e.key: j for j, e in enumerate(self._entries)}

    def entries(self) -> list[FlagEntry]:
        return self._entries

    def row_of(self, key: tuple[str, str]) -> int | None:
        return self._by_key.get(key)

    def entry_at(self, i: int) -> FlagEntry:
        return self._entries[i]


def _entry_key(e: FlagEntry) -> tuple[str, str]:
    return e.key


class SortProxy(QSortFilterProxyModel):
    """Sorts on :data:`SORT_ROLE` (native comparisons), keeps sorting while rows arrive, and
    filters: a search text (every word must occur in :data:`SEARCH_ROLE`) and a predicate
    on the row object. With neither set, every row is accepted without a Python test."""

    def __init__(self, source: QAbstractTableModel, column: int = 0,
                 order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        super().__init__(source)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self._words: list[str] = []
        self._predicate: Callable[[Any], bool] | None = None
        self.sort(column, order)

    def set_search(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_words", text.lower().split()))

    def set_predicate(self, predicate: Callable[[Any], bool] | None) -> None:
        self._refilter(lambda: setattr(self, "_predicate", predicate))

    def _refilter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10 (invalidateFilter deprecated)
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    @property
    def filtering(self) -> bool:
        return bool(self._words) or self._predicate is not None

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:  # noqa: N802
        if not self._words and self._predicate is None:
            return True
        src = self.sourceModel()
        idx = src.index(source_row, 0, source_parent)
        if self._predicate is not None and not self._predicate(idx.data(ROW_ROLE)):
            return False
        if self._words:
            hay = idx.data(SEARCH_ROLE) or ""
            return all(w in hay for w in self._words)
        return True
