"""The machine-wide configuration folder that IT owns (Qt-free).

One folder per machine holds everything IT decides for every user of the workstation: the
site profile installed for all users, the public keys a signed profile must verify against,
and the machine settings (issue 24). Its location:

- ``$PNEUMONIA_XRAY_MACHINE_CONFIG_DIR`` when set (tests, portable installs);
- else ``/etc/pneumonia-xray`` on Linux, ``%PROGRAMDATA%\\pneumonia-xray`` on Windows,
  ``/Library/Application Support/pneumonia-xray`` on macOS.

Nothing here creates the folder: only an installer or IT writes to it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Environment variable that relocates the machine-wide configuration folder.
MACHINE_CONFIG_ENV = "PNEUMONIA_XRAY_MACHINE_CONFIG_DIR"
APP_FOLDER = "pneumonia-xray"


def machine_config_dir() -> Path:
    """The machine-wide configuration folder (not created)."""
    env = os.environ.get(MACHINE_CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / APP_FOLDER
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_FOLDER
    return Path("/etc") / APP_FOLDER
