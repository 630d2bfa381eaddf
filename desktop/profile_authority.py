"""Whether a site profile carries the authority this machine requires, and where it came from
(Qt-free).

- **Signatures.** The machine trusts the Ed25519 public keys IT places in
  ``machine_config_dir()/trusted_keys`` (:mod:`desktop.machine_config`). With at least one key
  file there, every profile (user, machine-wide, bundled or ``--site-profile``) must carry a
  ``PROFILE.sig`` made by a trusted key over its exact bytes, else it is refused
  (:func:`check_signature`). Without keys, a profile is accepted unsigned and the app says
  so ("unsigned").
- **Import record.** Importing through the app (Tools > Import site profile...) writes
  ``site_profile.import.json`` beside the user's copy with its SHA-256 and where it came
  from; a profile in the user's folder without a matching record was placed there outside
  the app and is never called "imported by you" (:func:`user_origin`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from desktop.machine_config import machine_config_dir
from pneumonia_core.atomic_files import atomic_write_text
from pneumonia_core.profile_signing import (
    SigningError,
    load_trusted_keys,
    signature_path,
    verify_signature,
)
from pneumonia_core.site_profile import SiteProfileError, utc_now

log = logging.getLogger(__name__)

TRUSTED_KEYS = "trusted_keys"
IMPORT_RECORD = "site_profile.import.json"
#: Origin of a profile in the user's folder that has no matching import record.
ORIGIN_UNRECORDED = "user_unrecorded"


def trusted_keys_dir() -> Path:
    """``machine_config_dir()/trusted_keys``: the public keys IT trusts (not created)."""
    return machine_config_dir() / TRUSTED_KEYS


def check_signature(path: str | os.PathLike[str], raw: bytes | None = None) -> str:
    """How the profile at ``path`` is signed, for people (``signed by trusted key ID``,
    ``unsigned``, ...). Raises :class:`SiteProfileError` when this machine requires a
    signature (trusted keys installed) and the profile has no valid one."""
    path = Path(path)
    trusted = load_trusted_keys(trusted_keys_dir())
    sig = signature_path(path)
    if not trusted.required:
        return ("signature not checked (no trusted keys on this machine)" if sig.exists()
                else "unsigned (this machine does not require signatures)")
    if not trusted.keys:
        raise SiteProfileError(
            f"site profile {path} cannot be checked: this machine requires signed profiles but "
            f"none of its trusted keys in {trusted_keys_dir()} can be read ("
            + "; ".join(trusted.unusable) + ")")
    try:
        data = raw if raw is not None else path.read_bytes()
        sig_text = sig.read_bytes()
    except FileNotFoundError:
        raise SiteProfileError(
            f"site profile {path} is not signed ({sig.name} missing) and this machine accepts "
            "only profiles signed by a key IT trusts") from None
    except OSError as exc:
        raise SiteProfileError(f"cannot read {sig}: {exc.strerror or exc}") from None
    try:
        kid = verify_signature(data, sig_text, trusted, f"site profile {path}")
    except SigningError as exc:
        raise SiteProfileError(f"{exc}; this machine accepts only profiles signed by a key IT "
                               "trusts") from None
    return f"signed by trusted key {kid}"


def _record_path(profile_path: Path) -> Path:
    return profile_path.with_name(IMPORT_RECORD)


def record_import(target: Path, raw: bytes, source: str) -> None:
    """Remember that ``target`` was imported through the app (SHA-256, source, time)."""
    atomic_write_text(_record_path(target), json.dumps({
        "sha256": hashlib.sha256(raw).hexdigest(), "source": source, "imported": utc_now(),
    }, indent=2) + "\n")


def user_origin(path: str | os.PathLike[str]) -> str:
    """``user`` when the user's profile at ``path`` is the one last imported through the app,
    else :data:`ORIGIN_UNRECORDED` (copied there by hand, by a script, by anyone)."""
    path = Path(path)
    try:
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError):
        return ORIGIN_UNRECORDED
    if isinstance(record, dict) and record.get("sha256") == digest:
        return "user"
    return ORIGIN_UNRECORDED
