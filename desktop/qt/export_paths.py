"""Where the window's export dialogs open (issue 25): the folder of the last export while it
exists, else the user's documents folder; never the image folder, where an export would sit
among the films (and be picked up by the next batch or a PACS import of that folder)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths


def documents_folder() -> str:
    """The user's documents folder, or the home folder where there is none."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return docs if docs and os.path.isdir(docs) else str(Path.home())


def export_folder(last_export: str) -> str:
    """The folder an export dialog opens in: ``last_export`` while it is a folder, else
    :func:`documents_folder`."""
    return last_export if last_export and os.path.isdir(last_export) else documents_folder()
