"""Issue 25 defect: the status bar quoted the site profile's in-sample sensitivity (measured
on the films it was fitted on), not the cross-validated one (the honest estimate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop import site_config
from desktop.session import ReadingSession
from desktop.settings import Settings
from pneumonia_core.model import ModelBundle
from tests.conftest import MODEL_DIR

pytestmark = pytest.mark.usefixtures("home")


def test_the_status_line_quotes_the_cross_validated_sensitivity(profile: Path, monkeypatch
                                                                 ) -> None:
    monkeypatch.setenv(site_config.MACHINE_ENV, "")
    report = json.loads(profile.read_text())["report"]
    cv, fitted = report["after_cv"], report["after"]
    s = ReadingSession(ModelBundle.load(MODEL_DIR), Settings.load())
    try:
        s.import_profile(str(profile))
        line = s.resolution.status_line()
    finally:
        s.close()
    assert (f"cross-validated sensitivity {cv['sensitivity']['value']:.3f} / specificity "
            f"{cv['specificity']['value']:.3f}") in line
    if (fitted["sensitivity"]["value"], fitted["specificity"]["value"]) != (
            cv["sensitivity"]["value"], cv["specificity"]["value"]):
        assert f"sensitivity {fitted['sensitivity']['value']:.3f} / specificity " \
               f"{fitted['specificity']['value']:.3f}" not in line
