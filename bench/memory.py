"""Peak resident memory of classifying a large folder, measured in a fresh process: the
headless batch path and the real main window (offscreen)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.corpus import repeated_folder, small_sources

ROOT = Path(__file__).resolve().parent.parent


def run_probe(folder: Path, work: Path, gui: bool, model_dir: Path | None = None,
              timeout: float = 900.0) -> dict[str, Any]:
    """Run :mod:`bench.memory_probe` on ``folder`` in a fresh process (app files in ``work``)."""
    home = work / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home),
               PNEUMONIA_XRAY_HOME=str(home / "app"), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "cfg"), XDG_CACHE_HOME=str(home / "cache"))
    if model_dir is not None:
        env["PNEUMONIA_XRAY_MODEL_DIR"] = str(model_dir)
    cmd = [sys.executable, "-m", "bench.memory_probe", str(folder)] + (["--gui"] if gui else [])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"ok": False, "detail": (proc.stderr or proc.stdout)[-400:]}
    return {"ok": True, **json.loads(lines[-1])}


def bench_memory(work: Path, count: int, gui: bool, model_dir: Path | None = None) -> dict[str, Any]:
    """Peak RSS (MB) of :mod:`bench.memory_probe` on a folder of ``count`` JPEGs."""
    sources, desc = small_sources(work / "small_src")
    folder = work / f"folder_{count}"
    repeated_folder(sources, count, folder)
    out: dict[str, Any] = {"corpus": f"{count} files cycling through {desc}"}
    out["headless"] = run_probe(folder, work, gui=False, model_dir=model_dir)
    if gui and (ROOT / "desktop" / "qt" / "app.py").is_file():
        out["gui"] = run_probe(folder, work, gui=True, model_dir=model_dir)
    return out
