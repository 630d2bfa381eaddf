"""The review list reconciled with the audit trail (Qt-free).

Every review mark commits together with its ``review:<state>`` audit event (reviewer, note),
so the trail is the history of the list. :func:`disagreements` replays the review events,
oldest first, and compares the outcome with the ``flags`` table: an entry whose state,
reviewer or note differs from its last review event (e.g. ``UPDATE flags SET
review_state='dismissed'`` outside the app), an entry marked with no review event at all,
and an entry that was reviewed or dismissed according to the trail but is gone from the list
(the app removes only pending entries). Called by ``verify`` and the window's start-up check
through :func:`desktop.audit.verify_file`.
"""

from __future__ import annotations

import sqlite3

from desktop.sqlite_util import columns_of

REVIEW_PREFIX = "review:"
MAX_REPORTED = 5


def _expected(db: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(path, sha) -> (state, reviewer, note) after the last review event of each entry."""
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    for path, sha, action, user, note in db.execute(
            "SELECT path, file_sha256, action, user, note FROM audit "
            "WHERE action LIKE 'review:%' ORDER BY id"):
        out[(path, sha)] = (action[len(REVIEW_PREFIX):], user, note)
    return out


def disagreements(db: sqlite3.Connection) -> list[str]:
    """One line per review entry that disagrees with the trail ([] when all agree or the
    file holds no review list)."""
    if not columns_of(db, "flags") or "hash" not in columns_of(db, "audit"):
        return []
    expected = _expected(db)
    bad: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path, sha, state, reviewer, note in db.execute(
            "SELECT path, file_sha256, review_state, reviewer, note FROM flags ORDER BY path"):
        key = (path, sha)
        seen.add(key)
        want = expected.get(key, ("pending", "", ""))
        diffs = []
        if state != want[0]:
            diffs.append(f"state {state!r}, trail says {want[0]!r}")
        if reviewer != want[1]:
            diffs.append(f"reviewer {reviewer!r}, trail says {want[1]!r}")
        if note != want[2]:
            diffs.append(f"note {note!r}, trail says {want[2]!r}")
        if diffs:
            bad.append(f"{path} ({sha[:12]}): " + ", ".join(diffs))
    for key, (state, _user, _note) in expected.items():
        if key not in seen and state != "pending":
            bad.append(f"{key[0]} ({key[1][:12]}): {state} in the trail but missing from the "
                       "review list")
    return bad


def summary(lines: list[str]) -> list[str]:
    """The problem line for :class:`desktop.audit.AuditCheck` ([] when none)."""
    if not lines:
        return []
    shown = "; ".join(lines[:MAX_REPORTED]) + ("; ..." if len(lines) > MAX_REPORTED else "")
    what = "review entry disagrees" if len(lines) == 1 else "review entries disagree"
    return [f"{len(lines)} {what} with the audit trail (edited outside the app): {shown}"]
