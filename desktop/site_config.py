"""Which site profile is in force, for the window and ``classify`` alike (Qt-free).

Where a profile can come from, highest precedence first:

1. **user**: imported in the window (Tools > Import site profile...), kept as
   ``site_profile.json`` in the user's config folder (see :mod:`desktop.paths`); only where
   the machine settings allow users to override IT's choice (``allow_user_profile``, see
   :mod:`desktop.machine_config`);
2. **machine**: the file named by ``$PNEUMONIA_XRAY_SITE_PROFILE`` (set to an empty value:
   none), else ``site_profile.json`` in the machine-wide config folder
   (:func:`desktop.machine_config.machine_config_dir`: ``/etc/pneumonia-xray`` on Linux,
   ``C:\\ProgramData\\pneumonia-xray`` on Windows,
   ``/Library/Application Support/pneumonia-xray`` on macOS);
3. **bundle**: ``resources/site/site_profile.json`` inside the application (build.spec copies
   it when present).

A user-folder file is "imported by you" only when the app imported it (an import record
matches it, :mod:`desktop.profile_authority`); otherwise it is said to have been placed there
outside the app, and the machine-wide profile it overrides is named. Every profile must pass
the plausibility bounds (:mod:`pneumonia_core.profile_bounds`) and, on a machine with trusted
keys, carry a valid signature (:func:`desktop.profile_authority.check_signature`).

The first location that holds a file decides. A file that fails verification (edited, another
model, unreadable) is NOT skipped for a lower one: the model's own operating point is used and
the reason is shown, so a broken deployment is noticed instead of silently replaced. The
user's "Revert to model default" (``Settings.site_profile_off``) and ``--no-site-profile``
turn every profile off, and ``classify --site-profile FILE`` replaces it for one run: all three
are user overrides, refused where the machine settings do not allow them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from desktop import machine_config, paths
from pneumonia_core.site_profile_file import (
    PROFILE_FILE,
    SiteProfileError,
    default_bundle_profile,
)

if TYPE_CHECKING:
    from pneumonia_core.decision import OperatingPoint
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.site_profile import SiteProfile

log = logging.getLogger(__name__)

MACHINE_ENV = "PNEUMONIA_XRAY_SITE_PROFILE"
SOURCE_MODEL = "model default"
SOURCES = {"user": "imported by you", "machine": "machine-wide", "bundle": "bundled",
           "option": "given with --site-profile",
           # a file in the user's folder that was never imported through the app (issue 23)
           "user_unrecorded": "placed in your config folder outside the app (not imported)"}


def user_profile_path() -> Path:
    """The user's imported profile (the folder is not created here: ``classify`` writes
    nothing but its CSV)."""
    return paths.config_base() / PROFILE_FILE


def machine_profile_path() -> Path | None:
    """The machine-wide profile location (``None`` when the variable is set but empty)."""
    env = os.environ.get(MACHINE_ENV)
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    return machine_config.site_profile_path()


#: Why a user override is refused (shown with the machine settings file that decided it).
OVERRIDE_REFUSED = "the machine settings do not allow users to override the site profile"


def users_may_override() -> bool:
    """IT's choice (``allow_user_profile`` in the machine settings; yes without the file)."""
    return machine_config.load_settings().allow_user_profile


def candidates() -> list[tuple[str, Path]]:
    """(origin, path) in precedence order; the user's import only where IT allows it."""
    out = [("user", user_profile_path())] if users_may_override() else []
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
    signature: str = ""  # how it is signed (desktop.profile_authority.check_signature)
    overrides: str = ""  # the machine-wide profile a user's profile takes precedence over

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
            extra = "".join(f"; {t}" for t in (self.signature, self.overrides) if t)
            return f"{self.source}: {self.profile.summary()}; {self.path}{extra}"
        if self.problem:
            return f"model default (site profile REFUSED: {self.problem})"
        if self.turned_off:
            return f"model default (site profile {self.path} turned off: {self.turned_off})"
        return "model default (no site profile)"


def resolve(model_sha256: str, turned_off: str = "") -> ActiveProfile:
    """The profile in force for the model with ``model_sha256``; ``turned_off`` (who turned
    profiles off, e.g. ``--no-site-profile``) gives the model default."""
    found = [(origin, path) for origin, path in candidates() if path.exists()]
    for origin, path in found[:1]:
        if turned_off:
            return ActiveProfile(turned_off=turned_off, path=str(path))
        # loaded only when a profile is there: a classify without one starts faster
        from desktop import profile_authority
        from pneumonia_core.site_profile import load_profile

        if origin == "user":
            origin = profile_authority.user_origin(path)
        try:
            profile = load_profile(path, model_sha256)
            signature = profile_authority.check_signature(path)
        except SiteProfileError as exc:
            log.warning("site profile refused, using the model default: %s", exc)
            return ActiveProfile(origin="", path=str(path), problem=str(exc))
        overrides = next((f"overrides the machine-wide profile {p}" for o, p in found[1:]
                          if o == "machine"), "")
        log.info("site profile in force (%s, %s): %s", origin, signature, profile.summary())
        return ActiveProfile(profile, origin, str(path), signature=signature,
                             overrides=overrides)
    return ActiveProfile()


def import_profile(source: str | os.PathLike[str], model_sha256: str) -> SiteProfile:
    """Verify ``source`` for this model and copy it, byte for byte, to the user location
    (atomically, replacing a previous import). :class:`SiteProfileError` when refused."""
    from pneumonia_core.site_profile import SiteProfile, parse_profile, plot_paths, write_atomically

    if not users_may_override():
        raise SiteProfileError(f"Import refused: {OVERRIDE_REFUSED} "
                               f"({machine_config.config_path()}); ask IT.")
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        raise SiteProfileError(f"cannot read {source}: {exc.strerror or exc}") from None
    profile = parse_profile(raw, model_sha256, str(source))
    from desktop import profile_authority
    from pneumonia_core.profile_signing import signature_path

    profile_authority.check_signature(source, raw)
    target = paths.config_dir() / PROFILE_FILE
    # plots first (a missing one is only a missing picture), the profile last
    for src_png, dest_png in zip(plot_paths(source), plot_paths(target), strict=True):
        try:
            write_atomically(dest_png, src_png.read_bytes(), force=True)
        except FileNotFoundError:
            dest_png.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("plot %s not copied: %s", src_png, exc)
    try:  # the signature travels with the profile (none: an old one must not stay)
        write_atomically(signature_path(target), signature_path(source).read_bytes(), force=True)
    except FileNotFoundError:
        signature_path(target).unlink(missing_ok=True)
    write_atomically(target, raw, force=True)
    profile_authority.record_import(target, raw, str(source))
    return SiteProfile(profile.data, str(target))


USER_OFF = "you chose Tools > Revert to model default"


def user_off(site_profile_off: bool) -> str:
    """Who turned profiles off: the user's saved choice, where IT allows users to override."""
    return USER_OFF if site_profile_off and users_may_override() else ""


def for_classify(model_sha256: str, no_site_profile: bool,
                 explicit: str | os.PathLike[str] | None = None) -> ActiveProfile:
    """What ``classify`` and ``--self-test`` use: ``--site-profile FILE`` for this run
    (refused: :class:`SiteProfileError`), else the locations above; the user's choice in the
    window counts too (settings read without creating any folder)."""
    from desktop.settings import Settings

    allowed = users_may_override()
    if (explicit is not None or no_site_profile) and not allowed:
        option = "--site-profile" if explicit is not None else "--no-site-profile"
        raise SiteProfileError(f"{option} refused: {OVERRIDE_REFUSED} "
                               f"({machine_config.config_path()}).")
    if explicit is not None:
        from desktop import profile_authority
        from pneumonia_core.site_profile import load_profile

        profile = load_profile(explicit, model_sha256)
        return ActiveProfile(profile, "option", str(explicit),
                             signature=profile_authority.check_signature(explicit))
    if no_site_profile:
        return resolve(model_sha256, "--no-site-profile")
    path = paths.config_base() / paths.SETTINGS_NAME
    off = allowed and path.exists() and Settings.load(path).site_profile_off
    return resolve(model_sha256, user_off(off))
