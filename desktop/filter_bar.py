"""A search box and a filter choice over a :class:`desktop.table_models.SortProxy`, and a
header menu to hide or show table columns (the choice is kept in the settings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from desktop.table_models import SortProxy

Predicate = Callable[[Any], bool] | None


class FilterBar(QWidget):
    """Search text plus a choice of named filters, applied to ``proxy``."""

    changed = Signal()

    def __init__(self, proxy: SortProxy, choices: list[tuple[str, Predicate]],
                 placeholder: str = "Search", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proxy = proxy
        self._choices = list(choices)
        #: Another condition every shown row must meet too (e.g. the chosen folder).
        self.extra: Predicate = None
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText(placeholder)
        self.search.setClearButtonEnabled(True)
        self.combo = QComboBox()
        for label, _p in self._choices:
            self.combo.addItem(label)
        lay.addWidget(self.search, 1)
        lay.addWidget(self.combo)
        self.search.textChanged.connect(self._apply)
        self.combo.currentIndexChanged.connect(self._apply)

    def predicate(self) -> Predicate:
        return self._choices[self.combo.currentIndex()][1]

    def set_choice(self, label: str) -> None:
        for i, (text, _p) in enumerate(self._choices):
            if text == label:
                self.combo.setCurrentIndex(i)
                return
        raise KeyError(label)

    def refresh(self) -> None:
        """Re-apply (after something the predicate depends on changed)."""
        self._apply()

    def _apply(self, *args: object) -> None:
        first, extra = self.predicate(), self.extra
        if first is not None and extra is not None:
            combined: Predicate = lambda row: first(row) and extra(row)  # noqa: E731
        else:
            combined = first or extra
        self.proxy.set_search(self.search.text())
        self.proxy.set_predicate(combined)
        self.changed.emit()


class LeftElideDelegate(QStyledItemDelegate):
    """Elides on the left ("…1951_bacteria_4882.jpeg"): for file names and folders, whose
    distinguishing part is at the end. Other columns keep the view's right elision."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: object) -> None:  # noqa: N802
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


def elide_left(view: QTableView, columns: tuple[int, ...]) -> None:
    delegate = LeftElideDelegate(view)
    for c in columns:
        view.setItemDelegateForColumn(c, delegate)
    view._left_elide = delegate  # keep it alive with the view


def install_column_menu(view: QTableView, hidden: list[str], on_change: Callable[[], None],
                        always: tuple[int, ...] = (0,),
                        has_data: Callable[[int], bool] | None = None) -> Callable[[], None]:
    """Right-click on ``view``'s header: a checkable list of its columns. ``hidden`` (header
    texts) is applied now and kept up to date in place; ``on_change`` is called after.
    ``has_data(c)`` False hides a column with nothing to show yet (e.g. DICOM fields while
    only JPEGs are open). Returns a function that re-applies visibility (call when data
    arrives)."""
    header = view.horizontalHeader()
    model = view.model()

    def text(c: int) -> str:
        return str(model.headerData(c, Qt.Orientation.Horizontal))

    def apply() -> None:
        for c in range(model.columnCount()):
            hide = c not in always and (text(c) in hidden
                                        or (has_data is not None and not has_data(c)))
            if view.isColumnHidden(c) != hide:
                view.setColumnHidden(c, hide)

    apply()

    def menu(pos: QPoint) -> None:
        m = QMenu(view)
        for c in range(model.columnCount()):
            if c in always:
                continue
            a = m.addAction(text(c))
            a.setCheckable(True)
            a.setChecked(not view.isColumnHidden(c))
            a.toggled.connect(lambda on, c=c: toggle(c, on))
        m.popup(header.mapToGlobal(pos))
        view._column_menu = m  # kept for tests

    def toggle(c: int, shown: bool) -> None:
        view.setColumnHidden(c, not shown)
        name = text(c)
        if shown and name in hidden:
            hidden.remove(name)
        elif not shown and name not in hidden:
            hidden.append(name)
        on_change()

    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    header.customContextMenuRequested.connect(menu)
    view.toggle_column = toggle  # for the keyboard-free API and tests
    return apply
