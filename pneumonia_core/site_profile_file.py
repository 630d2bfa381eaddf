"""Where a site profile lives and the error raised when one cannot be used: the part of
:mod:`pneumonia_core.site_profile` that every ``classify`` needs, without the fitting and
verification code, which it loads only when a profile is there (start-up, issue 22)."""

from __future__ import annotations

import sys
from pathlib import Path

PROFILE_FILE = "site_profile.json"


class SiteProfileError(ValueError):
    """A profile cannot be used (tampered, another model, malformed) or not be fitted."""


def default_bundle_profile() -> Path:
    """``resources/site/site_profile.json`` in a checkout or inside a PyInstaller bundle."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "resources" / "site" / PROFILE_FILE
