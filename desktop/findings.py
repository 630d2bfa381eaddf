"""Reader findings (issue 25): what a reader found on a film, whatever the model said (Qt-free).

On ANY film, flagged or not, a reader records one of :data:`FINDINGS` ("pneumonia",
"no pneumonia", "not assessable") with an optional note. The finding is kept in the
``findings`` table of the data file (beside the review list and the audit trail, one
transaction with its ``finding:<value>`` audit event; :meth:`desktop.review_store.ReviewStore.
record_finding`), with the model's result for the film at that moment (status, P, decision,
threshold, model), so the local performance report (:mod:`desktop.report`) compares the model
with its readers, and ``calibrate --from-reviews`` (:mod:`desktop.calibrate_reviews`) uses the
findings as labels.

A film the model did not flag that a reader finds "pneumonia" or "not assessable" goes on the
worklist as a reader finding (a review entry of origin ``reader``): it needs a human follow-up
like any flagged film. "No pneumonia" on an unflagged film is recorded, not put on the list.
One finding per film (path and content); recording again replaces it (the audit keeps both).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FINDINGS", "FINDING_TEXT", "LABEL_OF", "ON_WORKLIST", "SCHEMA", "Finding",
           "finding_label", "parse_finding"]

PNEUMONIA = "pneumonia"
NO_PNEUMONIA = "no_pneumonia"
NOT_ASSESSABLE = "not_assessable"
#: The findings a reader can record, in menu order.
FINDINGS = (PNEUMONIA, NO_PNEUMONIA, NOT_ASSESSABLE)
#: How each finding is shown to people.
FINDING_TEXT = {PNEUMONIA: "pneumonia", NO_PNEUMONIA: "no pneumonia",
                NOT_ASSESSABLE: "not assessable"}
#: The label index a finding gives a film (the model's labels: 0 negative, 1 positive);
#: "not assessable" gives none.
LABEL_OF = {PNEUMONIA: 1, NO_PNEUMONIA: 0}
#: Findings that put a film the model did not flag on the worklist.
ON_WORKLIST = (PNEUMONIA, NOT_ASSESSABLE)
#: Origin of a review entry: flagged by the model, or put on the list by a reader's finding.
ORIGIN_MODEL = "model"
ORIGIN_READER = "reader"

SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    path          TEXT NOT NULL,
    file_sha256   TEXT NOT NULL,
    finding       TEXT NOT NULL
                  CHECK (finding IN ('pneumonia', 'no_pneumonia', 'not_assessable')),
    note          TEXT NOT NULL DEFAULT '',
    reviewer      TEXT NOT NULL DEFAULT '',
    recorded_at   TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT '',
    probability   REAL,
    prediction    TEXT NOT NULL DEFAULT '',
    threshold     REAL,
    model_sha256  TEXT NOT NULL DEFAULT '',
    flagged       INTEGER NOT NULL DEFAULT 0,
    revision      INTEGER NOT NULL DEFAULT 0,
    fs_path       BLOB,
    PRIMARY KEY (path, file_sha256)
)"""


@dataclass
class Finding:
    """One recorded finding and the model's result for the film when it was recorded
    (``status`` "ok", "error", "out_of_scope" or "outside_intended_use"; ``flagged``: the
    model put it on the worklist at the operating point then in force)."""

    path: str
    file_sha256: str
    finding: str
    note: str = ""
    reviewer: str = ""
    recorded_at: str = ""
    status: str = ""
    probability: float | None = None
    prediction: str = ""
    threshold: float | None = None
    model_sha256: str = ""
    flagged: bool = False
    revision: int = 0
    fs_path: bytes | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.file_sha256)

    @property
    def text(self) -> str:
        return FINDING_TEXT.get(self.finding, self.finding)

    @property
    def model_positive(self) -> bool | None:
        """Whether the model called the film positive (flagged with a probability); None when
        the model gave no reading (could not read it, out of scope, outside intended use)."""
        if self.status != "ok" or self.probability is None:
            return None
        return bool(self.flagged)


#: Columns of the findings table, in :class:`Finding` order.
COLUMNS = ["path", "file_sha256", "finding", "note", "reviewer", "recorded_at", "status",
           "probability", "prediction", "threshold", "model_sha256", "flagged", "revision",
           "fs_path"]


def parse_finding(text: str) -> str:
    """``"pneumonia"``, ``"no pneumonia"``, ``"no_pneumonia"``... -> the stored value;
    ValueError naming what was received otherwise."""
    value = text.strip().lower().replace(" ", "_").replace("-", "_")
    if value not in FINDINGS:
        raise ValueError(f"a finding is one of {', '.join(FINDING_TEXT.values())}; "
                         f"received {text!r}")
    return value


def finding_label(finding: str) -> int | None:
    """The label (1 positive, 0 negative) a finding gives; None for "not assessable"."""
    return LABEL_OF.get(finding)
