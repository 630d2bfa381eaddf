"""The saved data file shown read-only (issue 23, point 5) (Qt-free).

When the data file exists but cannot be written because it or its folder is read-only (a
locked-down profile, read-only media), the window shows the saved review list and audit trail
READ-ONLY instead of letting the reader mark "for this session only":

* the saved file is copied (read-only, :func:`desktop.sqlite_util.copy_database`) to a
  temporary folder, so the list shows what was saved when the app started;
* every change to that list (review marks, notes, undo, archiving) is refused with
  :func:`refusal`, here in the store itself (:class:`ReadOnlyReviewStore`) and, with the same
  words, by the window's controls;
* films can still be classified and shown: their flags and audit events go to the session
  copy only, and the banner (:func:`banner`) says so;
* the audit trail is verified in the saved file itself (read-only connection).

A full disk or a missing data folder is another fault: the app keeps using a session copy
where marks work for this session (:func:`desktop.session.open_storage`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktop.review_store import ReviewStore, ReviewStoreError
from desktop.sqlite_util import DurableDB


def _sentence(cause: str) -> str:
    cause = cause.rstrip(". ")
    return cause[:1].upper() + cause[1:]


def refusal(cause: str) -> str:
    """Why a change of the review list is refused (store, window and tooltips say this)."""
    return (f"Not saved: the review list is shown read-only. {_sentence(cause)}. Marks, notes "
            "and archiving cannot be saved; ask IT to make the data folder writable for your "
            "account, then restart the app.")


def banner(cause: str, saved: Path, copy_folder: Path) -> str:
    """The window's banner: why the saved list and trail are read-only and what still works."""
    return (f"READ-ONLY: {_sentence(cause)}. The saved review list and audit trail are shown "
            "read-only, as saved when the app started: marks, notes and archiving cannot be "
            "saved.\nFilms can still be classified and shown; their flags and audit events are "
            f"kept only in a session copy in {copy_folder}, not in the saved trail. Ask IT to "
            f"make {saved.parent} and the file in it writable for your account, then restart "
            "the app.")


class _Refusing:
    """A :class:`DurableDB` whose every write transaction is refused with ``reason``."""

    def __init__(self, inner: DurableDB, reason: str) -> None:
        self._inner = inner
        self.reason = reason

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        raise ReviewStoreError(self.reason)
        yield  # pragma: no cover (a generator for contextmanager)


class ReadOnlyReviewStore(ReviewStore):
    """The review list of a session copy of a read-only saved file: it reads like a
    :class:`ReviewStore`; every write (mark, set_review, upsert, archive, threshold change)
    raises :class:`ReviewStoreError` with :func:`refusal`'s text and writes nothing.

    The classification job opens the copy by its path (its own store) and may still add the
    session's flagged films to it, as the banner says."""

    def __init__(self, path: str | os.PathLike[str], reason: str, timeout: float = 30.0) -> None:
        super().__init__(path, timeout)
        self.reason = reason
        self._store = _Refusing(self._store, reason)  # type: ignore[assignment]
