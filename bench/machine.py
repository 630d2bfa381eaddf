"""What the numbers were measured on: CPU, cores, Python, package versions, load."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "pillow", "ai-edge-litert", "tensorflow-cpu", "keras",
            "pyside6-essentials", "pyinstaller")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(root: Path) -> str:
    """The checkout's commit (:func:`pneumonia_core.provenance.git_commit`, ``+dirty`` when
    tracked files changed)."""
    from pneumonia_core.provenance import git_commit as commit

    return commit(root)


def describe(root: Path) -> dict[str, Any]:
    """A record of the machine and software, stored with every result."""
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gib = 0.0
    return {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "memory_gib": round(mem_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git_commit": git_commit(root),
        "load_average_start": load_average(),
    }


def shown_path(path: str | Path) -> str:
    """A path as the published report shows it: relative to the checkout when inside it,
    else its last folder and file name (``release/model.keras``); docs/ holds no path of the
    measuring machine."""
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    root = Path(__file__).resolve().parent.parent
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return f"{p.parent.name}/{p.name}"


def portable_text(text: str) -> str:
    """``text`` (a command line, a note) with this machine's absolute paths made relative, for
    the published results.json: the checkout becomes ``.``, the folder beside it
    (``../shared/data``, ``../runs``) ``..``, the temporary folder ``$TMPDIR``."""
    root = Path(__file__).resolve().parent.parent
    for prefix, short in ((root, "."), (root.parent, ".."),
                          (Path(tempfile.gettempdir()), "$TMPDIR")):
        text = text.replace(f"{prefix}{os.sep}", f"{short}/").replace(str(prefix), short)
    return text
