"""``pneumonia-xray profile``: keys and signatures for site profiles (IT's side; Qt-free).

    pneumonia-xray profile keygen --out NAME      write NAME.key (private, 0600) and NAME.pub
    pneumonia-xray profile sign --key NAME.key PROFILE    write PROFILE.sig
    pneumonia-xray profile verify PROFILE [--model-dir DIR]   as this machine would load it

Put ``NAME.pub`` into the machine's ``trusted_keys`` folder
(:func:`desktop.profile_authority.trusted_keys_dir`); from then on that machine refuses
unsigned or wrongly signed profiles. Keep ``NAME.key`` off the workstations.

Exit status: 0 done; 1 refused (the profile or its signature does not verify); 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

PROG = "pneumonia-xray profile"
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Sign site profiles so that machines "
                                "which trust IT's public key accept them (docs/model-integrity.md).")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    k = sub.add_parser("keygen", help="make an Ed25519 key pair (NAME.key, NAME.pub)")
    k.add_argument("--out", required=True, type=Path, metavar="NAME")
    s = sub.add_parser("sign", help="sign a profile (writes PROFILE.sig)")
    s.add_argument("--key", required=True, type=Path, metavar="NAME.key")
    s.add_argument("profile", type=Path, metavar="PROFILE")
    v = sub.add_parser("verify", help="check a profile as this machine would load it")
    v.add_argument("profile", type=Path, metavar="PROFILE")
    v.add_argument("--model-dir", type=Path, default=None, metavar="DIR")
    return p


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pneumonia_core import profile_signing as ps
    from pneumonia_core.site_profile import SiteProfileError, parse_profile

    def fail(code: int, text: str) -> int:
        stderr.write(f"{PROG}: error: {text}\n")
        return code

    if args.action == "keygen":
        try:
            private, public, kid = ps.generate_keypair(args.out)
        except (ps.SigningError, OSError) as exc:
            return fail(EXIT_USAGE, str(exc))
        stdout.write(f"key {kid}: private {private} (keep it off the workstations), public "
                     f"{public} (copy it into each machine's trusted_keys folder)\n")
        return EXIT_OK
    try:
        raw = args.profile.read_bytes()
    except OSError as exc:
        return fail(EXIT_USAGE, f"cannot read {args.profile}: {exc.strerror or exc}")
    if args.action == "sign":
        try:
            parse_profile(raw, None, str(args.profile))  # never sign a broken profile
            key = ps.load_private_key(args.key)
            from desktop.safe_output import check_output
            from pneumonia_core.atomic_files import atomic_write_text

            sig = ps.signature_path(args.profile)
            problem = check_output(sig, "signature", [args.profile, args.key])
            if problem:
                return fail(EXIT_USAGE, problem)
            atomic_write_text(sig, ps.signature_text(raw, key))
        except (SiteProfileError, ps.SigningError) as exc:
            return fail(EXIT_REFUSED, str(exc))
        except OSError as exc:
            return fail(EXIT_USAGE, f"cannot write the signature: {exc}")
        stdout.write(f"wrote {sig} (key {ps.key_id(ps.public_key_of(key))})\n")
        return EXIT_OK
    from desktop import profile_authority
    from pneumonia_core.metadata import MetadataError, ModelMetadata
    from pneumonia_core.model import default_model_dir

    try:
        meta = ModelMetadata.load(args.model_dir or default_model_dir())
    except MetadataError as exc:
        return fail(EXIT_USAGE, f"the model's metadata cannot be read: {exc}")
    try:
        profile = parse_profile(raw, meta.sha256, str(args.profile))
        signature = profile_authority.check_signature(args.profile, raw)
    except SiteProfileError as exc:
        return fail(EXIT_REFUSED, str(exc))
    stdout.write(f"{args.profile}: accepted for {meta.name} {meta.version}: {profile.summary()}; "
                 f"{signature}\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=err,
                            format=f"{PROG}: %(levelname)s: %(message)s")
    return run(args, out, err)
