"""The audit record of a ``classify`` run, written on its own thread (issue 22, start-up): the
data file opens while the files are classified, the run's event is appended only once the CSV
is in place, and an unexpected failure there is not swallowed."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from desktop import cli, paths, run_audit
from desktop.audit import AuditLog
from pneumonia_core import pipeline
from tests.desktop.test_batch import write_xrays

pytestmark = pytest.mark.usefixtures("home")


def test_the_audit_trail_opens_while_the_files_are_classified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classification waits (at most 30 s) for the audit trail to be open: without the
    overlap it would wait in vain and the test fails."""
    opened = threading.Event()
    real_init, real_classify = AuditLog.__init__, pipeline.classify_file
    waited: list[bool] = []

    def init(self: AuditLog, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)
        opened.set()

    def classify_file(*args: object, **kwargs: object) -> pipeline.Result:
        waited.append(opened.wait(30))
        return real_classify(*args, **kwargs)

    monkeypatch.setattr(AuditLog, "__init__", init)
    monkeypatch.setattr(pipeline, "classify_file", classify_file)
    film = write_xrays(tmp_path / "in", [3])[0]
    out = tmp_path / "out.csv"
    assert cli.main(["classify", str(film), "--csv", str(out)], stderr=io.StringIO()) == 0
    assert waited == [True]
    with AuditLog(paths.review_db_path()) as audit:
        assert [e.decision for e in audit.all() if e.action == "run:classify"] == ["written"]


def test_the_run_event_is_appended_only_once_the_csv_is_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool]] = []
    out = tmp_path / "out.csv"
    real = AuditLog.append

    def append(self: AuditLog, event):  # noqa: ANN001, ANN202
        seen.append((event.action, out.is_file()))
        return real(self, event)

    monkeypatch.setattr(AuditLog, "append", append)
    film = write_xrays(tmp_path / "in", [4])[0]
    assert cli.main(["classify", str(film), "--csv", str(out)], stderr=io.StringIO()) == 0
    assert ("run:classify", True) in seen


def test_an_unexpected_failure_in_the_audit_thread_is_raised_not_swallowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("a bug in the audit record")

    monkeypatch.setattr(run_audit, "run_event", broken)
    film = write_xrays(tmp_path / "in", [5])[0]
    with pytest.raises(RuntimeError, match="a bug in the audit record"):
        cli.main(["classify", str(film), "--csv", str(tmp_path / "o.csv")],
                 stderr=io.StringIO())
