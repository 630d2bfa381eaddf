"""The whole-command throughput times the app as it runs for a user: from bytecode, as an
installed app does (the start-up benchmark compiles the same way; with
``PYTHONDONTWRITEBYTECODE`` set every timed process would otherwise compile the app's modules
from source again), and in the environment the app sets for itself before numpy loads (the
harness must not import numpy first)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from bench.throughput import compile_for_commands
from tests.conftest import ROOT


def test_every_module_the_timed_command_imports_from_the_checkout_is_compiled() -> None:
    compile_for_commands()
    sources = [*(ROOT / "desktop").rglob("*.py"), *(ROOT / "pneumonia_core").rglob("*.py"),
               *(ROOT / "bench" / n for n in ("__init__.py", "throughput.py", "timing.py"))]
    assert len(sources) > 40
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_file(), source
        assert cached.stat().st_mtime >= source.stat().st_mtime, source


def test_the_timed_process_imports_numpy_only_after_the_apps_own_set_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = ("import sys; from bench.throughput import cli_main; loaded = 'numpy' in sys.modules; "
            "import desktop.__main__, os; print(loaded, os.environ.get('OPENBLAS_NUM_THREADS'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["False", "1"]
