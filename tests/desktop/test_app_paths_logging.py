"""Qt-free: app folders and the last-resort exception hook."""

from __future__ import annotations

import sys
import threading

from desktop import logging_setup, paths


def test_home_override(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.data_dir() == tmp_path / "home" / "data"
    assert paths.review_db_path().parent.is_dir()
    assert paths.settings_path() == tmp_path / "home" / "config" / "settings.json"
    assert paths.log_path().parent == tmp_path / "home" / "log"


def test_platformdirs_default(monkeypatch):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert "pneumonia-xray" in str(paths._base("data"))


def test_excepthook_logs_critical_and_reports(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    log_file = logging_setup.setup_logging()
    seen = []
    logging_setup.set_error_reporter(lambda summary, details: seen.append((summary, details)))
    try:
        logging_setup.install_excepthook()
        try:
            raise RuntimeError("boom in a slot")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        logging_setup.set_error_reporter(None)
        logging_setup.shutdown_logging()
    assert seen and seen[0][0] == "RuntimeError: boom in a slot"
    assert "Traceback" in seen[0][1]
    text = log_file.read_text()
    assert "CRITICAL" in text and "boom in a slot" in text


def test_log_file_rotates_as_the_standard_rotating_handler(tmp_path):
    """The app's own rotating log file (no logging.handlers import, issue 22) keeps the same
    files with the same lines as logging.handlers.RotatingFileHandler, oldest backup dropped."""
    import logging.handlers

    ours_dir, std_dir = tmp_path / "ours", tmp_path / "std"
    ours_dir.mkdir()
    std_dir.mkdir()
    ours = logging_setup.RotatingLogFile(ours_dir / "app.log", 300, 3)
    std = logging.handlers.RotatingFileHandler(std_dir / "app.log", maxBytes=300, backupCount=3,
                                               encoding="utf-8")
    for handler in (ours, std):
        handler.setFormatter(logging.Formatter("%(message)s"))
        for i in range(60):
            handler.emit(logging.makeLogRecord({"msg": f"record {i:02d} " + "x" * (i % 17)}))
        handler.close()
    names = sorted(p.name for p in ours_dir.iterdir())
    assert names == ["app.log", "app.log.1", "app.log.2", "app.log.3"]
    assert names == sorted(p.name for p in std_dir.iterdir())
    for name in names:
        assert (ours_dir / name).read_text("utf-8") == (std_dir / name).read_text("utf-8")
    assert "record 59" in (ours_dir / "app.log").read_text("utf-8")
    assert all((ours_dir / n).stat().st_size < 300 for n in names)

