"""The whole-command throughput runs the app from bytecode, as an installed app does (the
start-up benchmark compiles the same way): with ``PYTHONDONTWRITEBYTECODE`` set, every timed
process would otherwise compile the app's modules from source again."""

from __future__ import annotations

import importlib.util
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
