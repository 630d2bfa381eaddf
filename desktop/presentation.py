"""How results are shown to a reader (Qt-free): probability and threshold text (from
:mod:`pneumonia_core.formatting`), plain-language status words, and the colour-blind-safe palette (Okabe-Ito), where a
colour always comes with a symbol or words so that it never carries meaning alone.
"""

from __future__ import annotations

# The one probability/threshold format lives in pneumonia_core (also used outside the app).
from pneumonia_core.formatting import EDGE, format_probability, format_threshold  # noqa: F401

#: Okabe-Ito colours (Okabe & Ito 2008), distinguishable under the common colour-vision
#: deficiencies. RGB tuples so that this module stays Qt-free.
OKABE_ITO = {
    "orange": (230, 159, 0),
    "sky_blue": (86, 180, 233),
    "bluish_green": (0, 158, 115),
    "yellow": (240, 228, 66),
    "blue": (0, 114, 178),
    "vermillion": (213, 94, 0),
    "reddish_purple": (204, 121, 167),
}
#: Above the threshold (flagged): vermillion; below: blue; no probability (unreadable or not a
#: chest X-ray): reddish purple.
POSITIVE_RGB = OKABE_ITO["vermillion"]
NEGATIVE_RGB = OKABE_ITO["blue"]
UNASSESSED_RGB = OKABE_ITO["reddish_purple"]

#: Symbols shown with the colours (the meaning never rests on colour alone).
POSITIVE_MARK = "▲"
NEGATIVE_MARK = "○"
UNASSESSED_MARK = "⚠"

#: Plain-language status words for the result statuses of :mod:`pneumonia_core.pipeline`.
STATUS_TEXT = {
    "ok": "classified",
    "error": "could not read",
    "out_of_scope": "not a chest X-ray",
    "outside_intended_use": "outside intended use",
    "pending": "waiting…",
}

#: Review states as shown in the flagged list.
REVIEW_TEXT = {"pending": "pending", "reviewed": "✓ reviewed", "dismissed": "✗ dismissed"}


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status.replace("_", " "))


def finding_text(status: str, prediction: str, flagged: bool) -> str:
    """The finding with its symbol: '▲ PNEUMONIA', '○ NORMAL', '⚠ could not read'."""
    if status == "pending":
        return ""
    if status != "ok":
        return f"{UNASSESSED_MARK} {status_text(status)}"
    return f"{POSITIVE_MARK if flagged else NEGATIVE_MARK} {prediction}"


def finding_rgb(status: str, flagged: bool) -> tuple[int, int, int] | None:
    """The colour of a finding (None: the default text colour)."""
    if status == "pending":
        return None
    if status != "ok":
        return UNASSESSED_RGB
    return POSITIVE_RGB if flagged else NEGATIVE_RGB


def person_name(value: str) -> str:
    """A DICOM person name ('Family^Given^Middle') as 'Family, Given Middle'."""
    parts = [p.strip() for p in value.split("=")[0].split("^")]
    family, rest = parts[0], " ".join(p for p in parts[1:] if p)
    return f"{family}, {rest}" if family and rest else (family or rest)


def dicom_date(value: str) -> str:
    """'20240131' -> '2024-01-31' (other text unchanged)."""
    v = value.strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


#: DICOM tags shown to the reader: (tag, column header, formatter).
DEMOGRAPHICS: tuple[tuple[str, str, object], ...] = (
    ("PatientName", "Patient", person_name),
    ("PatientID", "Patient ID", str),
    ("StudyDate", "Study date", dicom_date),
    ("ViewPosition", "View", str),
)


def demographics(info: dict[str, str]) -> tuple[str, ...]:
    """The shown DICOM fields of a file, in :data:`DEMOGRAPHICS` order ('' when absent)."""
    return tuple(fmt(info[tag]) if info.get(tag) else ""  # type: ignore[operator]
                 for tag, _h, fmt in DEMOGRAPHICS)


def demographics_lines(info: dict[str, str]) -> list[str]:
    """The viewer's top-left overlay: 'Patient: Doe, Jane (ID 123)', 'Study date: ...',
    'View: PA'; empty for files without DICOM tags."""
    name, pid, date, view = demographics(info)
    lines = []
    if name or pid:
        lines.append(f"Patient: {name or '?'}" + (f" (ID {pid})" if pid else ""))
    if date:
        lines.append(f"Study date: {date}")
    if view:
        lines.append(f"View: {view}")
    return lines
