"""Where the app keeps its files: user data, log and config folders (platformdirs).

Everything lives under one override when the environment variable ``PNEUMONIA_XRAY_HOME``
is set (tests, kiosk installs, portable installs): ``$HOME_OVERRIDE/{data,log,config}``.
Otherwise the data folder is the one IT chose in the machine settings (``data_dir``, see
:mod:`desktop.machine_config`), else the per-user platformdirs folder.
Nothing here creates folders at import time; the ``*_dir`` functions create them on demand.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "pneumonia-xray"
#: Environment variable that relocates all of the app's files under one folder.
HOME_ENV = "PNEUMONIA_XRAY_HOME"

REVIEW_DB_NAME = "review.sqlite3"
AUDIT_DB_NAME = "audit.sqlite3"
SETTINGS_NAME = "settings.json"
LOG_NAME = "pneumonia-xray.log"


def _base(kind: str) -> Path:
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser() / kind
    import platformdirs

    if kind == "data":
        from desktop.machine_config import load_settings

        chosen = load_settings().data_folder()  # IT's data folder (machine settings), if any
        return chosen or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if kind == "log":
        return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    if kind == "config":
        return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    raise ValueError(f"unknown folder kind {kind!r}; expected data, log or config")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The user data folder (review list, audit log); created if missing."""
    return _ensure(_base("data"))


def log_dir() -> Path:
    """The folder of the rotating log file; created if missing."""
    return _ensure(_base("log"))


def config_dir() -> Path:
    """The folder of the settings file; created if missing."""
    return _ensure(_base("config"))


def config_base() -> Path:
    """The settings folder's path, NOT created (for readers such as ``classify``)."""
    return _base("config")


def review_db_location() -> Path:
    """Where the data file is, without creating anything."""
    return _base("data") / REVIEW_DB_NAME


def review_db_path() -> Path:
    """The ONE SQLite data file: flagged-for-review list and append-only audit trail
    (one file so that a mark and its audit event commit together)."""
    return data_dir() / REVIEW_DB_NAME


def audit_db_path() -> Path:
    """The audit trail's file: the same file as :func:`review_db_path`."""
    return review_db_path()


def legacy_audit_db_path() -> Path:
    """The separate audit file of earlier versions, imported once into the data file (see
    :func:`desktop.audit.migrate_legacy`) and then renamed ``audit.sqlite3.migrated``."""
    return _base("data") / AUDIT_DB_NAME


def settings_path() -> Path:
    """The JSON settings file."""
    return config_dir() / SETTINGS_NAME


def log_path() -> Path:
    """The rotating log file."""
    return log_dir() / LOG_NAME
