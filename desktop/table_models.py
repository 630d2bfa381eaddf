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
from PySide6.QtGui import QBrush, QColor

from desktop import presentation
from desktop.jobs import ResultRow
from desktop.presentation import finding_text, format_probability, status_text
from desktop.review_store import FlagEntry

#: Role giving a value that sorts naturally (numbers as numbers, None last).
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: Role giving the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex
_BRUSHES: dict[tuple[int, int, int], QBrush] = {}
_DIM = QColor(128, 128, 128)
_dark = False


def set_dark(dark: bool) -> None:
    """Use lighter finding colours on a dark background (the dark theme)."""
    global _dark
    _dark = bool(dark)
    _BRUSHES.clear()


def finding_brush(status: str, flagged: bool) -> QBrush | None:
    """The Okabe-Ito colour of a finding (always shown with its symbol and words)."""
    rgb = presentation.finding_rgb(status, flagged)
    if rgb is None:
        return None
    if _dark and rgb == presentation.NEGATIVE_RGB:
        rgb = presentation.OKABE_ITO["sky_blue"]
    brush = _BRUSHES.get(rgb)
    if brush is None:
        brush = _BRUSHES[rgb] = QBrush(QColor(*rgb))
    return brush


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
    """The results table: file name, probability, finding, status."""

    HEADERS = ("File", "Probability", "Finding", "Status")

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        self._by_path: dict[str, int] = {}

    def _row_list(self) -> list[ResultRow]:
        return self._rows

    # -- Qt interface --------------------------------------------------------------------
    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.name, format_probability(row.probability),
                    finding_text(row.status, row.prediction, row.flagged),
                    status_text(row.status))[col]
        if role == SORT_ROLE:  # plain str/float: the proxy compares them in C++
            if col == 0:
                return row.name.lower()
            if col == 1:
                return -1.0 if row.probability is None else row.probability
            return row.prediction if col == 2 else row.status
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path + (f"\n{row.message}" if row.message else "")
        if role == Qt.ItemDataRole.ForegroundRole and (col == 2 or row.flagged and col == 0):
            return finding_brush(row.status, row.flagged)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # -- our interface -------------------------------------------------------------------
    def append_rows(self, rows: Sequence[ResultRow]) -> None:
        """Add a chunk of rows; a path already present is updated in place instead."""
        self._upsert_keyed(self._rows, self._by_path, rows, _row_path)

    def rows(self) -> list[ResultRow]:
        return self._rows

    def row_at(self, i: int) -> ResultRow:
        return self._rows[i]

    def row_of(self, path: str) -> int | None:
        return self._by_path.get(path)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._by_path.clear()
        self.endResetModel()

    def rows_changed(self) -> None:
        """Tell views that row values changed (after a threshold change)."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(self.HEADERS) - 1))


class FlaggedTableModel(ListTableModel):
    """The flagged-for-review list over :class:`FlagEntry` rows from the review store."""

    HEADERS = ("File", "Probability", "Finding", "Review", "Note")

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)
        self._entries: list[FlagEntry] = []
        self._by_key: dict[tuple[str, str], int] = {}

    def _row_list(self) -> list[FlagEntry]:
        return self._entries

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        e = self._entries[index.row()]
        col = index.column()
        finding = finding_text(e.status, e.prediction, True)
        if role == Qt.ItemDataRole.DisplayRole:
            return (os.path.basename(e.path), format_probability(e.probability), finding,
                    presentation.REVIEW_TEXT.get(e.review_state, e.review_state), e.note)[col]
        if role == SORT_ROLE:  # plain str/float: the proxy compares them in C++
            if col == 1:  # ascending = most likely first, unassessed (no probability) last
                return 1.0 if e.probability is None else -e.probability
            if col == 0:
                return os.path.basename(e.path).lower()
            return (finding, e.review_state, e.note.lower())[col - 2]
        if role == ROW_ROLE:
            return e
        if role == Qt.ItemDataRole.ToolTipRole:
            return e.path + (f"\n{e.message}" if e.message else "")
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.review_state != "pending":
                return QBrush(_DIM)
            return finding_brush(e.status, True) if col == 2 else None
        return None

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


def _row_path(r: ResultRow) -> str:
    return r.path


def _entry_key(e: FlagEntry) -> tuple[str, str]:
    return e.key


class SortProxy(QSortFilterProxyModel):
    """Sorts on :data:`SORT_ROLE` (native comparisons), keeps sorting while rows arrive."""

    def __init__(self, source: QAbstractTableModel, column: int = 0,
                 order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        super().__init__(source)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.sort(column, order)
