"""``classify`` never harms its inputs or the user's files, says what it skipped and why,
shows progress in logs, and audits each run (issue 16 item 1, issue 14 item 7)."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop import cli, paths
from desktop.audit import AuditLog
from tests.conftest import ROOT
from tests.desktop.test_batch import jpeg_ls_dicom, read_csv, run, write_xrays


def _tree(tmp_path: Path) -> dict[str, Path]:
    files = write_xrays(tmp_path / "in", [1, 2])
    return {"a": files[0], "b": files[1], "folder": tmp_path / "in"}


def _same_bytes_after(path: Path, args: list[str]) -> tuple[int, str]:
    before = path.read_bytes()
    code, _, err = run(args)
    assert path.read_bytes() == before, "an input was modified"
    return code, err


@pytest.mark.parametrize("how", ["explicit", "in_folder", "symlink", "hardlink", "dotdot"])
def test_csv_that_is_an_input_is_refused(tmp_path, how):
    t = _tree(tmp_path)
    a = t["a"]
    target = {"explicit": a, "in_folder": a, "dotdot": t["folder"] / ".." / "in" / a.name,
              "symlink": tmp_path / "link.csv", "hardlink": tmp_path / "hard.csv"}[how]
    if how == "symlink":
        target.symlink_to(a)
    if how == "hardlink":
        os.link(a, target)
    inputs = [str(t["folder"])] if how in ("in_folder", "symlink", "hardlink") else [
        str(a), str(t["b"])]
    code, err = _same_bytes_after(a, ["classify", *inputs, "--csv", str(target)])
    assert code == cli.EXIT_USAGE
    assert "would be overwritten" in err or "not a CSV" in err
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_csv_that_is_a_csv_input_is_refused_too(tmp_path):
    listed = tmp_path / "list.csv"
    listed.write_text("path\n")  # a CSV given as an input (an error row), and as the output
    code, err = _same_bytes_after(listed, ["classify", str(listed), "--csv", str(listed)])
    assert code == cli.EXIT_USAGE and "is the input file" in err


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"%PDF-1.7 ...",
                                     b"plain notes, not a table\n", b"\xff\xd8\xff\xe0JFIF"])
def test_existing_file_that_is_not_a_csv_is_refused(tmp_path, content):
    t = _tree(tmp_path)
    notes = tmp_path / "results.out"  # not named .csv, not our header
    notes.write_bytes(content)
    code, err = _same_bytes_after(notes, ["classify", str(t["a"]), "--csv", str(notes)])
    assert code == cli.EXIT_USAGE and "not a CSV" in err and "Nothing was written" in err


def test_existing_csv_is_replaced_keeping_its_mode(tmp_path):
    t = _tree(tmp_path)
    out = tmp_path / "out.csv"
    out.write_text("old,results\n")
    out.chmod(0o644)
    assert run(["classify", str(t["a"]), "--csv", str(out)])[0] in (0, 3)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert read_csv(out)[0] == list(cli.CSV_HEADER)
    out.chmod(0o640)
    run(["classify", str(t["a"]), "--csv", str(out)])
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_new_csv_gets_the_usual_mode_not_0600(tmp_path):
    t = _tree(tmp_path)
    out = tmp_path / "new.csv"
    old = os.umask(0o022)
    try:
        run(["classify", str(t["a"]), "--csv", str(out)])
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_symlinked_csv_is_followed_and_the_link_kept(tmp_path):
    t = _tree(tmp_path)
    (tmp_path / "shared").mkdir()
    real = tmp_path / "shared" / "results.csv"
    real.write_text("old\n")
    real.chmod(0o664)
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    run(["classify", str(t["a"]), "--csv", str(link)])
    assert link.is_symlink() and link.resolve() == real
    assert read_csv(real)[0] == list(cli.CSV_HEADER)
    assert stat.S_IMODE(real.stat().st_mode) == 0o664


def test_cr_and_lf_in_file_names_keep_one_row_per_line(tmp_path):
    folder = tmp_path / "in"
    write_xrays(folder, [1])
    (folder / "xray_01.png").rename(folder / "a\rb.png")
    write_xrays(folder, [2])
    (folder / "xray_02.png").rename(folder / "c\nd.png")
    out = tmp_path / "out.csv"
    run(["classify", str(folder), "--csv", str(out)])
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == 3  # header + 2 rows, one line each
    assert b"\r" not in out.read_bytes()
    _, rows = read_csv(out)
    assert {Path(r["path"]).name for r in rows} == {"a\\rb.png", "c\\nd.png"}


def test_progress_lines_when_stderr_is_not_a_terminal():
    stream = io.StringIO()
    progress = cli.Progress(3, stream, plain_interval=0.0)
    for done in (1, 2, 3):
        progress.update(done)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("classify: 1/3 files,") and "\r" not in stream.getvalue()
    assert len(lines) == 2  # the last file is reported by the summary


def test_missing_path_is_an_error_for_that_path(tmp_path):
    t = _tree(tmp_path)
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(t["a"]), str(tmp_path / "nope.png"), "--csv", str(out)])
    assert code == cli.EXIT_INCOMPLETE
    assert "nope.png: no such file or folder" in err
    assert "classified 1 file(s)" in err and "1 path(s) not found" in err
    _, rows = read_csv(out)
    assert [r["status"] for r in rows] == ["ok", "error"] or rows[0]["status"] == "out_of_scope"


def test_only_missing_paths_still_say_classified_0_and_not_found(tmp_path):
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(tmp_path / "gone"), "--csv", str(out)])
    assert code == cli.EXIT_INCOMPLETE and "gone: no such file or folder" in err


def test_empty_folder_is_one_clear_error_and_nothing_is_written(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(tmp_path / "empty"), "--csv", str(out)])
    assert code == cli.EXIT_INCOMPLETE
    assert "empty: no image files found in this folder" in err
    assert "classified 0" not in err and "was not written" in err
    assert "1 unknown type (readme.txt)" in err
    assert not out.exists()


def test_skipped_files_are_listed_and_dicom_is_found_by_content(tmp_path):
    folder = tmp_path / "in"
    write_xrays(folder, [1])
    jpeg_ls_dicom(folder / "IM00001.IMA")  # Siemens naming: unknown suffix, DICOM inside
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "report.docx").write_bytes(b"PK\x03\x04 word")
    for i in range(5):
        (folder / f"note{i}.txt").write_text("x")
    out = tmp_path / "out.csv"
    _, _, err = run(["classify", str(folder), "--csv", str(out)])
    _, rows = read_csv(out)
    assert sorted(Path(r["path"]).name for r in rows) == ["IM00001.IMA", "xray_01.png"]
    assert "skipped 7 file(s) in folders: 1 hidden (.DS_Store), 6 unknown type (note0.txt, " \
           "note1.txt, note2.txt, ...) (all listed in the log" in err
    logged = paths.log_path().read_text(encoding="utf-8")
    assert "skipped (unknown type): " + str(folder / "note4.txt") in logged
    assert "skipped (hidden): " + str(folder / ".DS_Store") in logged


def test_each_run_is_audited(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMONIA_XRAY_HOME", str(tmp_path / "home"))
    t = _tree(tmp_path)
    out = tmp_path / "out.csv"
    code, _, _ = run(["classify", str(t["folder"]), "--csv", str(out), "--workers", "1"])
    with AuditLog(paths.review_db_path()) as log:
        [event] = [e for e in log.all() if e.action == "run:classify"]
        assert log.verify().ok
    assert event.path == str(out) and len(event.model_sha256) == 64
    assert event.details["argv"][1:] == ["classify", str(t["folder"]), "--csv", str(out),
                                         "--workers", "1"]
    assert sum(event.details["counts"][k] for k in ("ok", "error", "out_of_scope")) == 2
    assert event.details["exit"] == code and event.decision == "written"


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PNEUMONIA_XRAY_HOME=str(tmp_path / "home"))
    env.pop("PNEUMONIA_XRAY_MODEL_DIR", None)
    return env


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, cli.EXIT_TERMINATED),
                                       (signal.SIGINT, cli.EXIT_INTERRUPTED)])
def test_signal_mid_run_removes_the_temporary_file(tmp_path, sig, code):
    folder = tmp_path / "in"
    write_xrays(folder, list(range(40)))
    for i in range(3000):  # cheap error rows keep the run going long enough (>1 s)
        (folder / f"bad{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i % 256]) * 8)
    write_xrays(folder / "z", list(range(40, 80)))
    out = tmp_path / "out" / "results.csv"
    out.parent.mkdir()
    out.write_text("previous\n")
    stale = out.parent / f".results.csv.{2**22 + 12345}.x.tmp"  # left by a SIGKILLed run
    stale.write_text("partial")
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "classify", str(folder), "--csv",
                             str(out), "--workers", "1"], cwd=ROOT, env=_child_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    temps: list[Path] = []
    while time.monotonic() < deadline and proc.poll() is None:
        temps = [p for p in out.parent.iterdir() if p.name.endswith(".tmp") and p != stale]
        if temps:
            break
        time.sleep(0.02)
    assert temps, "the run never started writing"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "was not written" in err
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.csv"], "temp file left"
    assert out.read_text() == "previous\n"


def test_run_that_cannot_be_audited_says_so_and_keeps_the_csv(tmp_path, monkeypatch):
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("x")  # the data folder cannot be created below a file
    monkeypatch.setenv("PNEUMONIA_XRAY_HOME", str(blocker))
    t = _tree(tmp_path)
    out = tmp_path / "out.csv"
    code, _, err = run(["classify", str(t["a"]), "--csv", str(out)])
    assert "could not be recorded in the audit trail" in err
    assert code == cli.EXIT_INCOMPLETE and len(read_csv(out)[1]) == 1


@pytest.fixture
def interruptible():
    """Python's own Ctrl-C handling for the test, whatever the suite was started with: a
    suite run as a script's background job (or under nohup) inherits SIGINT ignored, which
    the run rightly keeps (the next test), and a SIGINT test would then prove nothing."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _default_sigint() -> None:
    """In a child before it runs Python: SIGINT back to its default, so Python installs its
    Ctrl-C handling however the suite was started (see ``interruptible``)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, raised", [(signal.SIGTERM, cli.Terminated),
                                         (signal.SIGINT, KeyboardInterrupt)])
def test_a_signal_stops_the_run_between_files_and_a_second_one_at_once(sig, raised,
                                                                         interruptible):
    """The handler only records the first signal (raising inside Python's import machinery
    could leave its import lock held and hang the run's audit thread); the run raises at its
    next ``check``, between files. A second signal raises at once; old handlers come back."""
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    stop = cli.StopRequest()
    stop.check()  # nothing yet
    steps = []
    with pytest.raises(raised), cli.signals_between_files(stop):
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # the handler runs here and returns: no exception mid-file
        steps.append("first signal recorded")
        assert stop.signum == sig
        with pytest.raises(raised):
            stop.check()
        steps.append("raised between files")
        os.kill(os.getpid(), sig)  # a second one: at once
        time.sleep(1)
        steps.append("second signal did not raise")
    assert steps == ["first signal recorded", "raised between files"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_signal_the_process_ignores_stays_ignored_during_a_run():
    from desktop import watch_cli

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup or `cmd &`
    try:
        stop = cli.StopRequest()
        with cli.signals_between_files(stop):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # that one handled
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            stop.check()  # nothing recorded, nothing raised
        assert stop.signum is None and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        watching = watch_cli._Stop()  # the watch follows the same rule
        with watch_cli._handle_stops(watching):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is watching
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert watching.requested == "" and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
