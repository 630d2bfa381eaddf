"""User settings persisted as JSON in the config folder (Qt-free).

The decision threshold is an *override*: ``None`` means "use the model's metadata value", so a
new model with a new operating point is picked up unless the user chose otherwise.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from desktop import paths
from pneumonia_core.atomic_files import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """The user's settings file (``settings.json``)."""

    threshold_override: float | None = None
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState()
    first_start_acknowledged: bool = False
    heatmap_opacity: float = 0.45
    last_folder: str = ""
    site_profile_off: bool = False  # "Revert to model default": no site profile in force
    last_export_folder: str = ""
    watch_folder: str = ""  # Tools > Watch folder (desktop.qt.watch_actions): watched again at start
    #: Keep window/level, invert and zoom when the next film is shown (else reset per film).
    keep_display_across_films: bool = False
    dark_theme: bool = False
    #: Results-table and flagged-list columns hidden (header texts; header right-click).
    hidden_columns: list[str] = field(
        default_factory=lambda: ["Status", "Patient ID", "Study date", "Batch"])
    hidden_flag_columns: list[str] = field(
        default_factory=lambda: ["Patient ID", "Study date", "View", "Folder", "Reviewer"])

    def threshold(self, model_default: float) -> float:
        """The threshold in force: the user's override, else the model's."""
        t = self.threshold_override
        return float(t) if t is not None and 0.0 < t < 1.0 else float(model_default)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read settings; a missing or damaged file gives defaults (logged, never fatal)."""
        try:
            p = path or paths.settings_path()
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings: %s", exc)
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {f.name: f for f in fields(cls)}
        s = cls()
        for key, value in data.items():
            if key in known and _same_kind(getattr(s, key), value):
                setattr(s, key, value)
            elif key in known:
                log.warning("ignoring setting %s of the wrong type: %r", key, value)
        if s.threshold_override is not None and not (
            isinstance(s.threshold_override, (int, float)) and 0.0 < s.threshold_override < 1.0
        ):
            log.warning("ignoring invalid threshold override %r", s.threshold_override)
            s.threshold_override = None
        try:
            s.heatmap_opacity = min(1.0, max(0.0, float(s.heatmap_opacity)))
        except (TypeError, ValueError):
            s.heatmap_opacity = cls.heatmap_opacity
        return s

    def save(self, path: Path | None = None) -> None:
        """Write atomically (temporary file + rename)."""
        try:
            p = path or paths.settings_path()
            atomic_write_text(p, json.dumps(asdict(self), indent=2))
        except OSError as exc:
            log.error("cannot save settings: %s", exc)


def _same_kind(default: object, value: object) -> bool:
    """A stored value may replace a default of the same kind (bool, str, list of str);
    numbers and optional values are checked by :meth:`Settings.load` itself."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True
