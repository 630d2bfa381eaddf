"""Table column layout that fits the window's default size (1400x860) at any font size: the
columns a reader needs first come first, each as wide as its header and a typical value in the
table's own font, so that nothing they need is cut off or scrolled out of sight (the worklist's
Note column was placed after the DICOM columns, the results' Folder after them too)."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QTableView

#: Results table: (header, a typical value), in the order shown; later columns (DICOM
#: fields, status, batch) follow at DEFAULT_SAMPLE's width and scroll sideways.
RESULT_COLUMNS = [("File", "…_bacteria_4882.jpeg"), ("Probability", "100.0%"),
                  ("Finding", "▲ PNEUMONIA"), ("Folder", "…PNEUMONIA")]
#: The worklist (flagged list), likewise (its Folder column is hidden by default).
WORKLIST_COLUMNS = [("File", "…_bacteria_48.jpeg"), ("Probability", "100.0%"),
                    ("Finding", "▲ PNEUMONIA"), ("Review", "✗ dismissed"),
                    ("Note", "consolidation"), ("Folder", "…PNEUMONIA")]
DEFAULT_SAMPLE = "Demo, Patient"
#: Room for the sort arrow beside a header, and the cell's own margins (pixels at 100 %,
#: scaled with the font's height).
ARROW, MARGIN = 16, 10


def width_for(view: QTableView, header: str, sample: str) -> int:
    """The width that shows ``header`` (with its sort arrow) and ``sample`` whole."""
    scale = view.fontMetrics().height() / 16.0
    text = view.fontMetrics().horizontalAdvance(sample)
    head = view.horizontalHeader().fontMetrics().horizontalAdvance(header) + ARROW * scale
    return int(max(text, head) + MARGIN * scale)


def lay_out(view: QTableView, headers: tuple[str, ...],
            first: list[tuple[str, str]]) -> None:
    """Order ``view``'s columns with ``first`` leading (a visual order: the model's column
    numbers are unchanged) and size every column for its header and a typical value."""
    hh = view.horizontalHeader()
    samples = dict(first)
    for c, name in enumerate(headers):
        hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
        hh.resizeSection(c, width_for(view, name, samples.get(name, DEFAULT_SAMPLE)))
    for target, (name, _sample) in enumerate(first):
        hh.moveSection(hh.visualIndex(headers.index(name)), target)


def fitting_width(view: QTableView, n_columns: int) -> int:
    """The width of ``view`` that shows its first ``n_columns`` (visual order) whole, with
    its frame and a vertical scroll bar."""
    hh = view.horizontalHeader()
    cols = sum(hh.sectionSize(hh.logicalIndex(v)) for v in range(n_columns))
    bar = view.style().pixelMetric(view.style().PixelMetric.PM_ScrollBarExtent)
    return cols + 2 * view.frameWidth() + bar + 4
