"""The DICOM identifiers that let a PACS match a result to its study and image (Qt-free).

ONE definition of the identifier columns of every export (issue 25): the ``classify`` CSV,
the window's flagged-list export (the review store's CSV). Each column is named by its DICOM
keyword and holds the file's value as stored (``StudyDate`` as ``YYYYMMDD``), so a PACS or a
spreadsheet lookup matches it as it is; the cells are empty for files that are not DICOM (or
lack the element). The values are read once, when the file is decoded
(:data:`pneumonia_core.dicom.INFO_TAGS`), and travel with the result row and the review entry;
they are never logged nor written to the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

#: The identifier columns, in export order: DICOM keywords (PS3.6).
COLUMNS: tuple[str, ...] = (
    "PatientID",
    "AccessionNumber",
    "StudyDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)

#: The identifiers of a file without any (not DICOM): one empty cell per column.
NONE: tuple[str, ...] = ("",) * len(COLUMNS)


def of(dicom: Mapping[str, str] | None) -> tuple[str, ...]:
    """The identifiers of a decoded file's DICOM tags, in :data:`COLUMNS` order ('' where
    absent; :data:`NONE` for a file without tags)."""
    if not dicom:
        return NONE
    return tuple(str(dicom.get(k, "") or "").strip() for k in COLUMNS)


def cells(values: Sequence[str] | None) -> list[str]:
    """The CSV cells of ``values`` (:func:`of`); empty cells for None or ``()``."""
    return list(values) if values else list(NONE)


def to_text(values: Sequence[str] | None) -> str:
    """The stored form (review store): a JSON object of the non-empty identifiers, '' when
    there is none. Stored as one text column so that a new identifier needs no new column."""
    import json  # here: the batch command's start-up does not need it

    kept = {k: v for k, v in zip(COLUMNS, cells(values), strict=True) if v}
    return json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else ""


def from_text(text: str | None) -> tuple[str, ...]:
    """The identifiers of a stored text (:func:`to_text`); :data:`NONE` for '' or a text
    that cannot be read (logged, never raised: an export must not fail on one entry)."""
    if not text:
        return NONE
    import json

    try:
        stored = json.loads(text)
    except ValueError:
        log.warning("unreadable stored DICOM identifiers ignored")
        return NONE
    return of(stored) if isinstance(stored, dict) else NONE
