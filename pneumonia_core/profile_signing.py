"""Ed25519 signatures on site profiles: who made a profile, not only whether it is intact.

A profile's own SHA-256 (:mod:`pneumonia_core.site_profile`) detects an accidental or careless
edit, but anyone can recompute it. A signature can only be made with IT's private key; a
machine that trusts the matching public key refuses a profile that is unsigned, signed by
another key, or changed by a single byte after signing.

Files:

- the private key ``NAME.key`` (PKCS #8 PEM, mode 0600): kept by IT, never on a workstation;
- the public key ``NAME.pub`` (SubjectPublicKeyInfo PEM): copied into the machine's
  ``trusted_keys`` folder (:func:`desktop.profile_authority.trusted_keys_dir`);
- the signature ``PROFILE.sig`` beside ``PROFILE`` (JSON: ``kind``, ``algorithm``,
  ``key_id``, ``profile_sha256``, ``signature`` in base64). The signed message is
  :data:`DOMAIN` followed by the profile file's exact bytes.

The key id is the first 16 hex digits of the SHA-256 of the raw 32-byte public key. Uses PyNaCl
(libsodium; Qt-free, TensorFlow-free): it adds about 1.5 MB to the bundle where ``cryptography``
added 12 MB. The key files are the standard RFC 8410 PEM containers, so a key pair made with
``openssl genpkey -algorithm ed25519`` works too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

KIND = "pneumonia-xray profile signature"
ALGORITHM = "Ed25519"
DOMAIN = b"pneumonia-xray site profile signature v1\n"
SIG_SUFFIX = ".sig"
KEY_SUFFIX = ".key"
PUB_SUFFIX = ".pub"


class SigningError(ValueError):
    """A key or a signature cannot be read, made or verified; the message says why."""


def signature_path(profile: str | os.PathLike[str]) -> Path:
    """``PROFILE.sig`` beside ``profile``."""
    p = Path(profile)
    return p.with_name(p.name + SIG_SUFFIX)


# RFC 8410 DER prefixes: an Ed25519 key in the standard PEM containers (SubjectPublicKeyInfo,
# PKCS #8) is a fixed prefix followed by the 32 raw bytes, so OpenSSL (``openssl genpkey
# -algorithm ed25519``) and this module read each other's files.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_PUBLIC = "PUBLIC KEY"
_PEM_PRIVATE = "PRIVATE KEY"


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])
            + "\n").encode("ascii")


def _unpem(path: Path, label: str, prefix: bytes, what: str) -> bytes:
    """The 32 raw key bytes of an Ed25519 ``what`` key in PEM file ``path``."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(f"cannot read the {what} key {path}: {exc}") from None
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if begin not in text or end not in text:
        raise SigningError(f"{path} is not a PEM {what} key ({begin} ... {end})")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except ValueError as exc:
        raise SigningError(f"cannot read the {what} key {path}: {exc}") from None
    if len(der) != len(prefix) + 32 or not der.startswith(prefix):
        raise SigningError(f"{path} is not an Ed25519 {what} key")
    return der[len(prefix):]


def _raw_public(public_key: object) -> bytes:
    return bytes(public_key)  # type: ignore[call-overload]  # nacl VerifyKey: the 32 bytes


def key_id(public_key: object) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def public_key_of(private_key: object) -> object:
    """The public half of ``private_key`` (from :func:`load_private_key`)."""
    return private_key.verify_key  # type: ignore[attr-defined]


def generate_keypair(stem: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write ``STEM.key`` (private, 0600) and ``STEM.pub``; refuses to replace either.
    Returns (private path, public path, key id)."""
    from nacl.signing import SigningKey

    stem = Path(stem)
    private_path = stem.with_name(stem.name + KEY_SUFFIX)
    public_path = stem.with_name(stem.name + PUB_SUFFIX)
    for p in (private_path, public_path):
        if os.path.lexists(p):
            raise SigningError(f"{p} exists; a key is never replaced (choose another name)")
    key = SigningKey.generate()
    private_pem = _pem(_PEM_PRIVATE, _PKCS8_PREFIX + bytes(key))
    public_pem = _pem(_PEM_PUBLIC, _SPKI_PREFIX + bytes(key.verify_key))
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(public_pem)
    return private_path, public_path, key_id(key.verify_key)


def load_private_key(path: str | os.PathLike[str]) -> object:
    """IT's Ed25519 private key from a PKCS #8 PEM file (unencrypted)."""
    from nacl.signing import SigningKey

    return SigningKey(_unpem(Path(path), _PEM_PRIVATE, _PKCS8_PREFIX, "private"))


def load_public_key(path: str | os.PathLike[str]) -> object:
    """An Ed25519 public key from a SubjectPublicKeyInfo PEM file."""
    from nacl.signing import VerifyKey

    return VerifyKey(_unpem(Path(path), _PEM_PUBLIC, _SPKI_PREFIX, "public"))


def signature_text(profile_bytes: bytes, private_key: object) -> str:
    """The ``.sig`` file's text for ``profile_bytes`` signed with ``private_key``."""
    sig = private_key.sign(DOMAIN + profile_bytes).signature  # type: ignore[attr-defined]
    return json.dumps({
        "kind": KIND, "algorithm": ALGORITHM,
        "key_id": key_id(public_key_of(private_key)),
        "profile_sha256": hashlib.sha256(profile_bytes).hexdigest(),
        "signature": base64.b64encode(sig).decode("ascii"),
    }, indent=2) + "\n"


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a machine trusts (``key id -> key``) and the files it could not use."""

    keys: dict[str, object]
    unusable: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """A signature is required as soon as the folder holds any key file (even an
        unreadable one: IT meant to require signatures, so the machine fails closed)."""
        return bool(self.keys or self.unusable)


def load_trusted_keys(folder: str | os.PathLike[str]) -> TrustedKeys:
    """Every ``*.pub`` / ``*.pem`` file in ``folder`` (none when it does not exist)."""
    folder = Path(folder)
    keys: dict[str, object] = {}
    unusable: list[str] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return TrustedKeys({})
    for name in names:
        if name.startswith(".") or not name.endswith((PUB_SUFFIX, ".pem")):
            continue
        try:
            key = load_public_key(folder / name)
        except SigningError as exc:
            unusable.append(str(exc))
            continue
        keys[key_id(key)] = key
    return TrustedKeys(keys, tuple(unusable))


def verify_signature(profile_bytes: bytes, sig_text: str | bytes, trusted: TrustedKeys,
                     where: str = "site profile") -> str:
    """The key id that signed ``profile_bytes``; :class:`SigningError` when the signature is
    malformed, made by a key not trusted here, or does not match the bytes."""
    from nacl.exceptions import BadSignatureError

    try:
        data = json.loads(sig_text)
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise ValueError("not a profile signature")
        if data.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm {data.get('algorithm')!r}, expected {ALGORITHM}")
        kid = str(data["key_id"])
        signature = base64.b64decode(str(data["signature"]), validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise SigningError(f"the signature of {where} is unreadable: {exc}") from None
    key = trusted.keys.get(kid)
    if key is None:
        raise SigningError(f"{where} is signed by key {kid}, which this machine does not trust")
    try:
        key.verify(DOMAIN + profile_bytes, signature)  # type: ignore[attr-defined]
    except BadSignatureError:
        raise SigningError(f"the signature of {where} does not match its content (signed by "
                           f"key {kid}, then changed, or forged)") from None
    return kid
