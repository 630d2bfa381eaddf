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
