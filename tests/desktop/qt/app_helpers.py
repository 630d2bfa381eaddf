"""Shared helpers for the desktop-app tests (tests/desktop/qt/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from desktop.qt.app import create_window
from pneumonia_core.imageio import load_image

BATCH_TIMEOUT_MS = 60_000


def new_window(qtbot, open_paths=None, wait: bool = True, first_start: bool = False):
    """A shown main window; waits for the batch when paths are given."""
    w = create_window(show_first_start=first_start)
    qtbot.addWidget(w)
    w.resize(1300, 820)
    w.show()
    if open_paths:
        if wait:
            with qtbot.waitSignal(w.runner.finished, timeout=BATCH_TIMEOUT_MS):
                w.open_paths([str(p) for p in open_paths])
        else:
            w.open_paths([str(p) for p in open_paths])
    return w


def copy_images(images: list[Path], folder: Path) -> Path:
    """Copy images into ``folder`` (a sub-folder per parent name, to test recursion)."""
    for p in images:
        dest = folder / p.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest / p.name)
    return folder


def xray_like(images: list[Path], size: int = 384) -> np.ndarray:
    """A real X-ray (first image) as a (size, size) uint8 array, for derived test files."""
    return load_image(images[0], size)


def wait_preview(qtbot, w, path: str, timeout: int = 20_000) -> None:
    """Wait until the viewer shows ``path``."""
    qtbot.waitUntil(lambda: w.previews.cache.get(path) is not None
                    and w.viewer.pixels is w.previews.cache[path].pixels, timeout=timeout)


def save_png(arr: np.ndarray, path: Path) -> Path:
    Image.fromarray(arr).save(path)
    return path
