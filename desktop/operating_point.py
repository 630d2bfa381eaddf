"""THE operating-point resolver: which calibration and threshold decide, and why, for the window,
``classify``, ``calibrate`` and the self-test alike (Qt-free).

Layers, lowest first; each later one that is present wins for the threshold:

1. **model default**: the calibration and threshold in the model's ``metadata.json``;
2. **site profile**: a verified profile (:mod:`desktop.site_config`) replaces calibration
   and threshold;
3. **your setting**: the threshold the user chose in the window (``Settings.threshold_override``;
   ``classify`` reads it too, without creating any folder);
4. **--threshold**: the command line's threshold, for this run or this window session.

:func:`resolve` returns a :class:`Resolution`: the point in force, every layer with its source
and its audit action, and the one-line texts the window's panel and status bar and the
command's log show. Nothing else combines these layers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from desktop.site_config import SOURCE_MODEL, ActiveProfile
from pneumonia_core.decision import OperatingPoint
from pneumonia_core.formatting import format_threshold

if TYPE_CHECKING:
    from desktop.audit import AuditEvent
    from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

SOURCE_SETTING = "your setting"
SOURCE_OPTION = "--threshold"

#: Audit actions, one per layer (the model default is carried by every classification event).
ACTION_SITE_APPLY = "site_profile:apply"
ACTION_SITE_REFUSED = "site_profile:refused"
ACTION_SETTING = "threshold:setting"
ACTION_OPTION = "threshold:option"


@dataclass(frozen=True)
class Layer:
    """One step of the resolution: where a threshold (and maybe a calibration) comes from."""

    source: str  # "model default", "site profile, machine-wide", "your setting", "--threshold"
    threshold: float
    action: str  # its audit action ("" for the model default)


@dataclass(frozen=True)
class Resolution:
    """The decision in force and how it was reached (see the module docstring)."""

    point: OperatingPoint
    base: OperatingPoint  # the calibration's own point: model default or site profile
    site: ActiveProfile
    layers: tuple[Layer, ...]
    user_threshold: float | None = None
    cli_threshold: float | None = None

    @property
    def source(self) -> str:
        return self.point.source

    @property
    def threshold(self) -> float:
        return self.point.threshold

    def calibration_text(self) -> str:
        """Where the calibration comes from, for people (the status bar's second half)."""
        site = self.site
        if site.profile is not None:
            # the cross-validated figures: the honest estimate for new films (the in-sample
            # ones are measured on the films the profile was fitted on, optimistic)
            a = site.profile.data.get("report", {}).get("after_cv")
            how = "cross-validated"
            if not a:  # a profile without them: say which figures these are
                a, how = site.profile.after, "in-sample"
            return (f"{site.source}, {site.profile.created[:10]}, {site.profile.n_films} films, "
                    f"{how} sensitivity {a['sensitivity']['value']:.3f} / "
                    f"specificity {a['specificity']['value']:.3f}")
        if site.problem:
            return "model default (site profile REFUSED, see the red banner)"
        if site.turned_off:
            return "model default (site profile turned off)"
        return "model default (no site profile)"

    def status_line(self) -> str:
        """``Operating point: threshold 50.0% (your setting); calibration: model default (no
        site profile)`` - the window's status bar and the line under the model in the panel."""
        return (f"Operating point: threshold {format_threshold(self.threshold)} ({self.source}); "
                f"calibration: {self.calibration_text()}")

    def describe(self) -> str:
        """One line for logs and audit notes: the site profile's own line, then the layers."""
        steps = " -> ".join(f"{layer.source} {layer.threshold:.6g}" for layer in self.layers)
        return f"{self.site.describe()}; threshold: {steps}"

    def events(self, model_sha256: str) -> list[AuditEvent]:
        """One audit event per layer that is not the model default (the start of a window
        session, or the record of a ``classify`` run's operating point)."""
        from desktop.audit import AuditEvent

        out = []
        if self.site.problem:
            out.append(AuditEvent(action=ACTION_SITE_REFUSED, path=self.site.path,
                                  model_sha256=model_sha256, threshold=self.base.threshold,
                                  decision=SOURCE_MODEL, note=self.site.describe()))
        for layer in self.layers:
            if layer.action:
                out.append(AuditEvent(
                    action=layer.action, path=self.site.path if layer.action ==
                    ACTION_SITE_APPLY else "", model_sha256=model_sha256,
                    threshold=layer.threshold, decision=layer.source, note=self.describe()))
        return out


def resolve(bundle: ModelBundle | None, site: ActiveProfile | None = None,
            user_threshold: float | None = None, cli_threshold: float | None = None,
            locked: bool = False) -> Resolution:
    """The operating point in force for ``bundle`` (None: the fallback point, nothing is
    classified with it) given the site profile outcome, the user's setting and --threshold;
    ``locked`` (IT's machine settings lock the threshold) ignores the last two."""
    site = site or ActiveProfile()
    if locked:
        user_threshold = cli_threshold = None
    if bundle is None:
        point = OperatingPoint.fallback()
        return Resolution(point, point, site, (Layer(point.source, point.threshold, ""),))
    base = site.operating_point(bundle)
    layers = [Layer(SOURCE_MODEL, bundle.operating_point.threshold, "")]
    if site.profile is not None:
        layers.append(Layer(base.source, base.threshold, ACTION_SITE_APPLY))
    point = base
    for value, source, action in ((user_threshold, SOURCE_SETTING, ACTION_SETTING),
                                  (cli_threshold, SOURCE_OPTION, ACTION_OPTION)):
        if value is None:
            continue
        layers.append(Layer(source, float(value), action))
        point = base.with_threshold(float(value), source=source,
                                    description=f"on the {base.source} calibration")
    if point is base:
        point = replace(base, description=base.description or site.describe())
    return Resolution(point, base, site, tuple(layers), user_threshold, cli_threshold)


def saved_user_threshold() -> float | None:
    """The user's threshold setting as ``classify`` sees it: read without creating any folder;
    ``None`` when the user has none (or no settings file exists)."""
    from desktop import paths
    from desktop.settings import Settings

    path = paths.config_base() / paths.SETTINGS_NAME
    if not path.exists():
        return None
    return Settings.load(path).threshold_override
