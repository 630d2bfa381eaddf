"""Where the machine-wide configuration folder is."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop import machine_config


def test_env_relocates_the_machine_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(machine_config.MACHINE_CONFIG_ENV, str(tmp_path / "etc"))
    assert machine_config.machine_config_dir() == tmp_path / "etc"
    assert not (tmp_path / "etc").exists()  # never created by a reader


def test_default_machine_folder_is_the_platform_one(monkeypatch) -> None:
    monkeypatch.delenv(machine_config.MACHINE_CONFIG_ENV, raising=False)
    folder = machine_config.machine_config_dir()
    assert folder.name == "pneumonia-xray"
    if sys.platform.startswith("linux"):
        assert folder == Path("/etc/pneumonia-xray")
