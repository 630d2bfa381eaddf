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
