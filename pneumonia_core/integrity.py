"""The model folder verified as a whole: its digest against the one pinned in the app.

The SHA-256 in ``metadata.json`` only says that ``model.tflite`` belongs to that metadata; both
sit in the same editable folder, so it proves nothing about either. The digest of the shipped
folder (every file in it: ``model.tflite``, ``metadata.json``, the model card, ...) is
therefore pinned in the application itself, in :mod:`pneumonia_core.pinned_model`, which the
converter writes together with ``resources/model`` (``python -m converter.pin``; see
docs/model-integrity.md). At load time:

- the shipped folder (``resources/model`` of the checkout or the bundle) must match the pin,
  otherwise it is refused as tampered;
- any other folder (``--model-dir``, ``PNEUMONIA_XRAY_MODEL_DIR``, an edited copy) runs only as
  an *unverified* model, unless it is byte-for-byte the shipped folder: the window shows a
  banner, the batch summary and the log say so, and every audit event records the folder
  digest and the verified flag.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

#: Bytes of all files of a model folder together; a folder above it is refused unread.
MAX_FOLDER_BYTES = 512 * 1024 * 1024
#: Files in a model folder (it ships about a dozen).
MAX_FOLDER_FILES = 200
_DIGEST_HEADER = b"pneumonia-xray model folder v1\n"


class IntegrityError(RuntimeError):
    """The model folder cannot be hashed, or the shipped folder does not match its pin."""


@dataclass(frozen=True)
class Pin:
    """What the build expects of the shipped model folder."""

    folder_digest: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> SHA-256
    model_sha256: str = ""
    self_test_probability: float | None = None


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_folder` for a folder that may be used."""

    folder_digest: str
    verified: bool
    reason: str = ""  # why unverified ('' when verified)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> SHA-256 as hashed
    #: The bytes of the files :func:`verify_folder` was asked to keep, exactly those hashed
    #: (the model is read from disk once, and what runs is what was verified).
    contents: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def check_read(self, name: str, data: bytes) -> str:
        """``data``, read from file ``name`` after hashing, is what was hashed (a file swapped
        in between would otherwise run under the verdict of the one it replaced). Returns the
        SHA-256 of ``data``, so the caller need not hash it again."""
        digest = hashlib.sha256(data).hexdigest()
        if name in self.files and digest != self.files[name]:
            raise IntegrityError(f"{name} in the model folder changed while the model was "
                                 "loading; try again")
        return digest

    @property
    def short(self) -> str:
        return self.folder_digest[:12]

    def audit_details(self) -> dict[str, object]:
        """What every classification event records about the model folder."""
        return {"model_folder_sha256": self.folder_digest, "model_verified": self.verified}

    def describe(self) -> str:
        """One line for logs, summaries and the window."""
        if self.verified:
            return f"verified model folder (digest {self.short})"
        return f"UNVERIFIED model folder (digest {self.short}): {self.reason}"


def shipped_model_dir() -> Path:
    """``resources/model`` of the checkout or of the PyInstaller bundle (no override)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "resources" / "model"


def build_pin() -> Pin | None:
    """The pin compiled into this build, or None when there is none."""
    try:
        from pneumonia_core import pinned_model
    except ImportError:
        return None
    digest = getattr(pinned_model, "FOLDER_DIGEST", "")
    if not digest:
        return None
    return Pin(digest, dict(getattr(pinned_model, "FILES", {})), getattr(pinned_model, "MODEL_SHA256", ""),
               getattr(pinned_model, "SELF_TEST_PROBABILITY", None))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def folder_files(folder: str | os.PathLike[str], keep: Mapping[str, int] | None = None,
                 kept: dict[str, bytes] | None = None) -> dict[str, str]:
    """Every regular file under ``folder`` (relative POSIX path -> SHA-256), sorted.

    ``keep`` (relative path -> most bytes) names files whose bytes are read whole, hashed and
    put into ``kept`` (when not larger than that), instead of being hashed as a stream.

    Raises :class:`IntegrityError` when the folder cannot be read, holds something that is not
    a plain file or folder, or is larger than :data:`MAX_FOLDER_BYTES` / :data:`MAX_FOLDER_FILES`.
    """
    root = Path(folder)
    entries: list[tuple[str, Path]] = []
    total = 0
    try:
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise, followlinks=False):
            dirnames.sort()
            for name in dirnames:
                if os.path.islink(os.path.join(dirpath, name)):
                    raise IntegrityError(f"model folder holds a link to a folder: {name}")
            for name in sorted(filenames):
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                st = path.stat()
                if not path.is_file():
                    raise IntegrityError(f"model folder holds {rel}, which is not a plain file")
                total += st.st_size
                entries.append((rel, path))
                if len(entries) > MAX_FOLDER_FILES or total > MAX_FOLDER_BYTES:
                    raise IntegrityError(
                        f"model folder {root} is too large to be a model folder (more than "
                        f"{MAX_FOLDER_FILES} files or {MAX_FOLDER_BYTES >> 20} MB)")
        hashed: dict[str, str] = {}
        for rel, path in sorted(entries):
            if keep and kept is not None and rel in keep and path.stat().st_size <= keep[rel]:
                data = kept[rel] = path.read_bytes()
                hashed[rel] = hashlib.sha256(data).hexdigest()
            else:
                hashed[rel] = _sha256_file(path)
        return hashed
    except OSError as exc:
        raise IntegrityError(f"cannot read model folder {root}: {exc}") from None


def _raise(exc: OSError) -> None:
    raise exc


def digest_of(files: dict[str, str]) -> str:
    """The folder digest: SHA-256 over the sorted (path, file SHA-256) list."""
    h = hashlib.sha256(_DIGEST_HEADER)
    for rel in sorted(files):
        h.update(f"{rel}\t{files[rel]}\n".encode())
    return h.hexdigest()


def folder_digest(folder: str | os.PathLike[str]) -> str:
    return digest_of(folder_files(folder))


def is_shipped(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is the app's own ``resources/model`` (however it is named)."""
    try:
        return Path(folder).resolve() == shipped_model_dir().resolve()
    except OSError:
        return False


def _differences(expected: dict[str, str], actual: dict[str, str]) -> str:
    changed = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    parts = []
    for words, names in (("changed", changed), ("missing", missing), ("added", extra)):
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{words}: {shown}")
    return "; ".join(parts) or "the folder digest differs"


def verify_folder(folder: str | os.PathLike[str], pin: Pin | None = None,
                  shipped: bool | None = None,
                  keep: Mapping[str, int] | None = None) -> Verification:
    """Hash ``folder`` and compare it with ``pin`` (default: :func:`build_pin`); the files
    named in ``keep`` come back in ``contents`` (see :func:`folder_files`).

    The shipped folder must match (else :class:`IntegrityError`, "tampered"); another folder is
    verified only when it is identical to the pinned one, else it is returned unverified.
    """
    pin = pin if pin is not None else build_pin()
    shipped = is_shipped(folder) if shipped is None else shipped
    contents: dict[str, bytes] = {}
    files = folder_files(folder, keep, contents)
    digest = digest_of(files)
    if pin is not None and digest == pin.folder_digest:
        return Verification(digest, True, files=files, contents=contents)
    if pin is None:
        reason = "this build has no pinned model to compare with"
    else:
        reason = (f"not the model this app was built with (pinned digest "
                  f"{pin.folder_digest[:12]}; {_differences(pin.files, files)})")
    if shipped and pin is not None:
        raise IntegrityError(
            f"The application's model folder was altered: {_differences(pin.files, files)} "
            f"(folder digest {digest[:12]}..., expected {pin.folder_digest[:12]}...). "
            "Reinstall the application.")
    if shipped:
        reason = "this build has no pinned model; the shipped folder cannot be verified"
    return Verification(digest, False, reason, files, contents)
