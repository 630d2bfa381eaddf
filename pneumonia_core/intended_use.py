"""Intended use: a triage aid for PEDIATRIC FRONTAL chest films (issue 21).

A DICOM file can say that it is a chest radiograph and still be outside that use: an adult
patient (PatientAge), a lateral, decubitus or oblique view (ViewPosition). Such a film is not
scored; its result carries the distinct status ``outside_intended_use``
(:data:`pneumonia_core.pipeline.STATUS_OUTSIDE_USE`) and a plain reason, on the worklist, in
the CSV and in the audit trail, never a silent normal result.

Only what the file states is used: a film without the tags (every JPEG or PNG) is read as
before, and the reader remains responsible for the patient's age and the view.
"""

from __future__ import annotations

import re

#: Patients at or above this age (years) are outside the intended use. The training films are
#: of children aged 1 to 5; "pediatric" ends at 18.
ADULT_AGE_YEARS = 18.0

#: ViewPosition values that are not frontal films (DICOM PS3.3 C.8.11.5.1.1 defined terms and
#: common vendor spellings): lateral, decubitus and oblique views.
NON_FRONTAL_VIEWS = frozenset({
    "LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT", "LATERAL_LEFT", "LATERAL_RIGHT",
    "LLD", "RLD", "LD", "RD", "DECUBITUS", "LATERAL_DECUBITUS", "LEFT_LATERAL_DECUBITUS",
    "RIGHT_LATERAL_DECUBITUS", "VD", "DV",
    "LLO", "RLO", "LAO", "RAO", "LPO", "RPO", "OBLIQUE",
})
#: Words that mark a non-frontal view in any other spelling (e.g. "LEFT LAT", "R DECUB").
_NON_FRONTAL_WORDS = re.compile(r"(^|[^A-Z])(LAT(ERAL)?|DECUB(ITUS)?|OBL(IQUE)?)([^A-Z]|$)")

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$")
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}
_UNIT_WORDS = {"D": "days", "W": "weeks", "M": "months", "Y": "years"}


def age_years(value: str) -> float | None:
    """A DICOM Age String (``nnnD``, ``nnnW``, ``nnnM``, ``nnnY``) in years; None when absent
    or malformed."""
    m = _AGE.match(value or "")
    if not m:
        return None
    return int(m.group(1)) * _UNIT_YEARS[m.group(2)]


def is_non_frontal(view: str) -> bool:
    """True when a ViewPosition value names a lateral, decubitus or oblique view."""
    v = (view or "").strip().upper().replace("-", "_")
    if not v:
        return False
    return v in NON_FRONTAL_VIEWS or v.replace(" ", "_") in NON_FRONTAL_VIEWS or bool(
        _NON_FRONTAL_WORDS.search(v.replace("_", " ")))


def outside_intended_use(tags: dict[str, str]) -> str | None:
    """Why a file's DICOM tags put it outside the intended use, or None when they do not."""
    reasons = []
    age = tags.get("PatientAge", "")
    years = age_years(age)
    if years is not None and years >= ADULT_AGE_YEARS:
        m = _AGE.match(age)
        assert m is not None
        reasons.append(f"patient age {int(m.group(1))} {_UNIT_WORDS[m.group(2)]} (adult)")
    view = tags.get("ViewPosition", "")
    if is_non_frontal(view):
        reasons.append(f"view position {view.strip()} (not a frontal film)")
    if not reasons:
        return None
    return ("Outside the intended use: " + "; ".join(reasons)
            + ". Not scored: this aid reads pediatric frontal chest films only")
