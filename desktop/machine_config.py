"""The machine-wide configuration folder that IT owns (Qt-free).

One folder per machine holds everything IT decides for every user of the workstation: the
site profile installed for all users (``site_profile.json``), the public keys a signed profile
must verify against, and the machine settings (``config.json``: whether users may override the
site profile, a threshold lock, whether a reviewer name is required, where the data folder
lives). Its location:

- ``$PNEUMONIA_XRAY_MACHINE_CONFIG_DIR`` when set (tests, portable installs);
- else ``/etc/pneumonia-xray`` on Linux, ``%PROGRAMDATA%\\pneumonia-xray`` on Windows,
  ``/Library/Application Support/pneumonia-xray`` on macOS.

Nothing here creates the folder: only an installer or IT writes to it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

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


# -- the machine settings file (issue 24) ---------------------------------------------------------

#: IT's settings for every user of the machine (a dpkg conffile in the .deb: upgrades keep edits).
CONFIG_FILE = "config.json"
#: The site profile installed for every user.
SITE_PROFILE_FILE = "site_profile.json"

#: Each setting: its default (what a machine without the file gets) and what it means.
DEFAULTS: dict[str, object] = {
    "allow_user_profile": True,
    "threshold_locked": False,
    "require_reviewer_name": False,
    "data_dir": "",
}
#: What a file that cannot be read or is invalid gives: the safe side of each choice, so a
#: typo in IT's file never unlocks what IT locked (and the problem is shown everywhere).
FAIL_CLOSED: dict[str, object] = {
    "allow_user_profile": False,
    "threshold_locked": True,
    "require_reviewer_name": True,
    "data_dir": "",
}
_TYPES = {"allow_user_profile": bool, "threshold_locked": bool,
          "require_reviewer_name": bool, "data_dir": str}


def config_path() -> Path:
    """``machine_config_dir()/config.json``."""
    return machine_config_dir() / CONFIG_FILE


def site_profile_path() -> Path:
    """The site profile IT installed for every user: ``machine_config_dir()/site_profile.json``."""
    return machine_config_dir() / SITE_PROFILE_FILE


@dataclass(frozen=True)
class MachineSettings:
    """The machine settings in force, and where each came from."""

    allow_user_profile: bool = True
    threshold_locked: bool = False
    require_reviewer_name: bool = False
    data_dir: str = ""
    path: str = ""  # the file read ("" when there is none)
    problem: str = ""  # why the file was not used as written ("" when it was)
    from_file: frozenset[str] = field(default_factory=frozenset)  # the keys the file set

    def origin(self, key: str) -> str:
        """Where one setting came from: the file, the built-in default, or the safe value."""
        if self.problem:
            return f"safe value ({CONFIG_FILE} refused)"
        return self.path if key in self.from_file else "default"

    def data_folder(self) -> Path | None:
        """The data folder IT chose (``~`` and ``{user}`` expanded), or None."""
        if not self.data_dir:
            return None
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        return Path(self.data_dir.replace("{user}", user)).expanduser()

    def describe(self) -> str:
        """One line for the window, ``classify``, ``--self-test`` and the audit."""
        parts = [
            "user site profiles " + ("allowed" if self.allow_user_profile else "NOT allowed"),
            "threshold " + ("LOCKED" if self.threshold_locked else "may be changed"),
            "reviewer name " + ("required" if self.require_reviewer_name else "optional"),
            f"data folder {self.data_folder() or 'per user (default)'}",
        ]
        if self.problem:
            where = f"{self.path} REFUSED ({self.problem}); safe values"
        elif self.path:
            where = f"from {self.path}"
        else:
            where = f"defaults (no {config_path()})"
        return f"machine settings {where}: " + ", ".join(parts)

    def summary(self) -> str:
        """A few words for the status bar: what differs from the defaults ("" when nothing)."""
        if self.problem:
            return "Machine settings REFUSED (safe values)"
        parts = [text for on, text in (
            (not self.allow_user_profile, "site profile fixed"),
            (self.threshold_locked, "threshold locked"),
            (self.require_reviewer_name, "reviewer name required"),
            (bool(self.data_dir), "data folder set")) if on]
        return f"IT settings: {', '.join(parts)}" if parts else ""

    def audit_details(self) -> dict[str, object]:
        """The settings and their origins, for an audit event's details."""
        return {"machine_settings": {k: getattr(self, k) for k in DEFAULTS},
                "machine_settings_origin": {k: self.origin(k) for k in DEFAULTS},
                "machine_config": self.path, "machine_config_problem": self.problem}


def parse_settings(raw: bytes, path: str) -> MachineSettings:
    """Settings from the bytes of ``config.json``; :class:`ValueError` names what is wrong."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(data) - set(DEFAULTS) - {"comment", "_comment"})
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    values = dict(DEFAULTS)
    for key, kind in _TYPES.items():
        if key in data:
            if not isinstance(data[key], kind):
                raise ValueError(f"{key} must be {'true or false' if kind is bool else 'text'}")
            values[key] = data[key]
    if values["data_dir"] and not Path(str(values["data_dir"]).replace("{user}", "u"))\
            .expanduser().is_absolute():
        raise ValueError("data_dir must be an absolute path (~ and {user} allowed)")
    return MachineSettings(**values, path=path,  # type: ignore[arg-type]
                           from_file=frozenset(k for k in DEFAULTS if k in data))


def load_settings(path: Path | None = None) -> MachineSettings:
    """The machine settings in force (never raises): defaults without a file, the file's
    values, or the fail-closed values with the reason when the file is unreadable or invalid."""
    path = config_path() if path is None else path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return MachineSettings()
    except OSError as exc:
        problem = f"cannot read it: {exc.strerror or exc}"
    else:
        try:
            return parse_settings(raw, str(path))
        except ValueError as exc:
            problem = str(exc)
    log.warning("machine settings %s refused, using the safe values: %s", path, problem)
    return MachineSettings(**FAIL_CLOSED, path=str(path), problem=problem)  # type: ignore[arg-type]
