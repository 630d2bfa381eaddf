"""Fixtures shared by the desktop tests (window and Qt-free)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.desktop.bundle_helpers import build_bundle
from tests.desktop.test_site_calibrate import generated_films, run


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundle built from the checkout with build.spec, once per test session."""
    return build_bundle(tmp_path_factory)


@pytest.fixture(scope="session")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site profile of the shipped model, fitted by ``calibrate`` on generated films (fast;
    the bookkeeping around it is what the tests check)."""
    root = tmp_path_factory.mktemp("site")
    out = root / "site_profile.json"
    code, _out, err = run(str(generated_films(root / "films")), "--out", str(out))
    assert code == 0, err
    return out
