"""Fixtures shared by the desktop tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.desktop.bundle_helpers import build_bundle


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundle built from the checkout with build.spec, once per test session."""
    return build_bundle(tmp_path_factory)
