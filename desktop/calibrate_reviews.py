"""``calibrate --from-reviews``: the labelled films of a site profile taken from the findings
its readers recorded in the review store (:mod:`desktop.findings`). Qt-free.

"pneumonia" labels a film positive, "no pneumonia" negative; "not assessable" is left out
(listed). Each film is read again from where it was when the finding was recorded and goes
through the same pipeline, guard rails and report as a labelled folder
(:mod:`desktop.calibrate`); a file whose content changed since (another SHA-256) is left out
with that reason, as is a file that is gone.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from desktop.findings import FINDING_TEXT, finding_label

log = logging.getLogger(__name__)

CHANGED = "the file changed since the finding was recorded (another SHA-256)"


def collect(db: Path) -> tuple[list[tuple[str, int]], list[dict[str, str]], dict[str, str]]:
    """(the films labelled by their findings as (path, label), the findings left out with
    their reason, the SHA-256 each finding was recorded on by the path the film is read
    from). :class:`desktop.report.ReportError` when the data file cannot be read."""
    from desktop.report import open_read_only
    from desktop.review_store import read_findings

    con = open_read_only(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        found = read_findings(con) if "findings" in tables else []
    finally:
        con.close()
    items: list[tuple[str, int]] = []
    ignored: list[dict[str, str]] = []
    expected: dict[str, str] = {}
    for f in found:
        path = os.fsdecode(f.fs_path) if f.fs_path else f.path
        label = finding_label(f.finding)
        if label is None:
            ignored.append({"path": f.path, "reason": f"reader finding "
                                  f"{FINDING_TEXT[f.finding]!r} gives no label"})
            continue
        items.append((path, label))
        expected[path] = f.file_sha256
    log.info("%d film(s) labelled by reader findings in %s", len(items), db)
    return items, ignored, expected


def same_content(pairs: Iterable[tuple[Any, int]], expected: dict[str, str]
                 ) -> list[tuple[Any, int]]:
    """The classified films, a film whose content is no longer the one the finding was
    recorded on turned into an error result (left out, with :data:`CHANGED` as the reason)."""
    out = []
    for result, label in pairs:
        want = expected.get(result.path)
        if (result.status == "ok" and want and result.file_sha256
                and result.file_sha256 != want):
            result = dataclasses.replace(result, status="error", message=CHANGED, logit=None)
        out.append((result, label))
    return out
