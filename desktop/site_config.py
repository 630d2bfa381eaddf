"""Which site profile is in force, for the window and ``classify`` alike (Qt-free).

Where a profile can come from, highest precedence first:

1. **user**: imported in the window (Tools > Import site profile...), kept as
   ``site_profile.json`` in the user's config folder (see :mod:`desktop.paths`);
2. **machine**: the file named by ``$PNEUMONIA_XRAY_SITE_PROFILE`` (set to an empty value:
   none), else ``site_profile.json`` in the machine-wide config folder
   (``platformdirs.site_config_dir``: ``/etc/xdg/pneumonia-xray`` on Linux,
   ``C:\\ProgramData\\pneumonia-xray`` on Windows,
   ``/Library/Application Support/pneumonia-xray`` on macOS);
3. **bundle**: ``resources/site/site_profile.json`` inside the application (build.spec copies
   it when present).

The first location that holds a file decides. A file that fails verification (edited, another
model, unreadable) is NOT skipped for a lower one: the model's own operating point is used and
the reason is shown, so a broken deployment is noticed instead of silently replaced. The
user's "Revert to model default" (``Settings.site_profile_off``) and ``--no-site-profile``
turn every profile off.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import paths
from pneumonia_core.site_profile import (
    PROFILE_FILE,
    SiteProfile,
    SiteProfileError,
    default_bundle_profile,
    load_profile,
)

if TYPE_CHECKING:
    from pneumonia_core.decision import OperatingPoint
    from pneumonia_core.model import ModelBundle

log = logging.getLogger(__name__)

MACHINE_ENV = "PNEUMONIA_XRAY_SITE_PROFILE"
SOURCE_MODEL = "model default"
SOURCES = {"user": "imported by you", "machine": "machine-wide", "bundle": "bundled",
           "option": "given with --site-profile"}


def user_profile_path() -> Path:
    """The user's imported profile (the folder is not created here: ``classify`` writes
    nothing but its CSV)."""
    return paths.config_base() / PROFILE_FILE


def machine_profile_path() -> Path | None:
    """The machine-wide profile location (``None`` when the variable is set but empty)."""
    env = os.environ.get(MACHINE_ENV)
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    import platformdirs

    return Path(platformdirs.site_config_dir(paths.APP_NAME, appauthor=False)) / PROFILE_FILE


def candidates() -> list[tuple[str, Path]]:
    """(origin, path) in precedence order."""
    out = [("user", user_profile_path())]
    machine = machine_profile_path()
    if machine is not None:
        out.append(("machine", machine))
    out.append(("bundle", default_bundle_profile()))
    return out


@dataclass(frozen=True)
class ActiveProfile:
    """The outcome of :func:`resolve`: a verified profile, or none and why."""

    profile: SiteProfile | None = None
    origin: str = ""  # "user", "machine", "bundle" or "" (model default)
    path: str = ""
    problem: str = ""  # why a profile that exists is not used ("" when none)
    turned_off: str = ""  # who turned site profiles off ("" when nobody did)

    @property
    def source(self) -> str:
        """``model default`` or ``site profile, machine-wide`` etc., for people."""
        if self.profile is None:
            return SOURCE_MODEL
        return f"site profile, {SOURCES[self.origin]}"

    def operating_point(self, bundle: ModelBundle) -> OperatingPoint:
        """The decision in force for ``bundle``: the profile's, else the model's own."""
        meta = bundle.metadata
        if self.profile is not None:
            return self.profile.operating_point(meta.labels, meta.positive_label,
                                                SOURCES[self.origin], base_scope=meta.scope)
        return replace(bundle.operating_point, source=SOURCE_MODEL, description=self.describe())

    def describe(self) -> str:
        """One line: which operating point is in force and why."""
        if self.profile is not None:
            return f"{self.source}: {self.profile.summary()}; {self.path}"
        if self.problem:
            return f"model default (site profile REFUSED: {self.problem})"
        if self.turned_off:
            return f"model default (site profile {self.path} turned off: {self.turned_off})"
        return "model default (no site profile)"


def resolve(model_sha256: str, turned_off: str = "") -> ActiveProfile:
    """The profile in force for the model with ``model_sha256``; ``turned_off`` (who turned
    profiles off, e.g. ``--no-site-profile``) gives the model default."""
    for origin, path in candidates():
        if not path.exists():
            continue
        if turned_off:
            return ActiveProfile(turned_off=turned_off, path=str(path))
        try:
            profile = load_profile(path, model_sha256)
        except SiteProfileError as exc:
            log.warning("site profile refused, using the model default: %s", exc)
            return ActiveProfile(origin="", path=str(path), problem=str(exc))
        log.info("site profile in force (%s): %s", origin, profile.summary())
        return ActiveProfile(profile, origin, str(path))
    return ActiveProfile()


def import_profile(source: str | os.PathLike[str], model_sha256: str) -> SiteProfile:
    """Verify ``source`` for this model and copy it, byte for byte, to the user location
    (atomically, replacing a previous import). :class:`SiteProfileError` when refused."""
    from pneumonia_core.site_profile import parse_profile, plot_paths, write_atomically

    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise SiteProfileError(f"cannot read {source}: {exc.strerror or exc}") from None
    profile = parse_profile(raw, model_sha256, str(source))
    target = paths.config_dir() / PROFILE_FILE
    # plots first (a missing one is only a missing picture), the profile last
    for src_png, dest_png in zip(plot_paths(source), plot_paths(target), strict=True):
        try:
            write_atomically(dest_png, src_png.read_bytes(), force=True)
        except FileNotFoundError:
            dest_png.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("plot %s not copied: %s", src_png, exc)
    write_atomically(target, raw, force=True)
    return SiteProfile(profile.data, str(target))


USER_OFF = "you chose Tools > Revert to model default"


def for_classify(model_sha256: str, no_site_profile: bool,
                 explicit: str | os.PathLike[str] | None = None) -> ActiveProfile:
    """What ``classify`` and ``--self-test`` use: ``--site-profile FILE`` for this run
    (refused: :class:`SiteProfileError`), else the locations above; the user's choice in the
    window counts too (settings read without creating any folder)."""
    from desktop.settings import Settings

    if explicit is not None:
        return ActiveProfile(load_profile(explicit, model_sha256), "option", str(explicit))
    if no_site_profile:
        return resolve(model_sha256, "--no-site-profile")
    path = paths.config_base() / paths.SETTINGS_NAME
    off = path.exists() and Settings.load(path).site_profile_off
    return resolve(model_sha256, USER_OFF if off else "")
