"""No module imports another module's private names (``from x import _y``): what modules
share is public API, so a helper cannot be used across modules and changed in one place only
(issue 15: imageio/dicom, batch/selftest). import-linter checks which packages may import
which (pyproject ``[tool.importlinter]``)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGES = ("pneumonia_core", "desktop", "training", "converter", "bench")


def test_no_cross_module_private_imports() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and \
                        node.module.split(".")[0] in PACKAGES:
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            offenders.append(f"{path.relative_to(ROOT)}: from {node.module} "
                                             f"import {alias.name}")
    assert offenders == []


def test_a_warning_raised_in_project_code_fails_the_test() -> None:
    """pyproject's filterwarnings turns warnings from this project's modules into errors."""
    import pytest

    code = compile("import warnings\nwarnings.warn('probe', UserWarning)", "probe", "exec")
    with pytest.raises(UserWarning, match="probe"):
        exec(code, {"__name__": "pneumonia_core.probe"})


def _qt_free_contract() -> dict:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if "desktop.qt" in c.get("forbidden_modules", []))


def _imports_of(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_desktop_module_outside_desktop_qt_is_under_the_qt_free_contract() -> None:
    """A new module in desktop/ is either listed in the import-linter contract that keeps Qt
    out, or belongs in desktop/qt; only the dispatcher desktop.__main__ is exempt."""
    listed = set(_qt_free_contract()["source_modules"])
    present = {f"desktop.{p.stem}" for p in (ROOT / "desktop").glob("*.py")
               if p.stem not in ("__init__", "__main__")}
    assert present - listed == set(), "add these to the contract or move them to desktop/qt"
    assert {m for m in listed if m.startswith("desktop.")} - present == set(), "stale entries"


def test_every_module_that_imports_qt_lives_in_desktop_qt() -> None:
    outside = []
    for path in sorted((ROOT / "desktop").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("desktop/qt/") or rel == "desktop/__main__.py":
            continue
        if any(name.split(".")[0] in ("PySide6", "shiboken6") for name in _imports_of(path)):
            outside.append(rel)
    assert outside == []
    qt_modules = sorted(p.stem for p in (ROOT / "desktop" / "qt").glob("*.py"))
    assert "main_window" in qt_modules and "app" in qt_modules
