"""The one list of ``pneumonia-xray`` subcommands (Qt-free, imports nothing heavy).

``desktop.__main__`` decides from it which first argument is a headless command, and
``desktop.cli`` lists every one of them in the main ``--help`` (issue 25: the help once left
``calibrate`` out because the list was written twice). A command whose ``module`` is not
``desktop.cli`` has its own parser there (``main(argv)``); ``desktop.cli`` only names it.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, the one-line help the main ``--help`` shows, the module whose
    ``main(argv)`` runs it, and whether a leading ``--model-dir DIR`` is passed on to it."""

    name: str
    summary: str
    module: str = "desktop.cli"
    takes_model_dir: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("classify", "classify files and folders into a CSV without a window"),
    Command("verify", "check that the audit trail is intact (hash chain and triggers)"),
    Command("calibrate", "fit a site profile (calibration and threshold) on this site's "
            "labelled films", "desktop.calibrate", takes_model_dir=True),
    Command("profile", "site-profile signatures: keygen, sign, verify", "desktop.profile_cli"),
    Command("report", "the local performance report: the model against readers' findings",
            "desktop.report_cli"),
)

NAMES: tuple[str, ...] = tuple(c.name for c in COMMANDS)


def command(name: str) -> Command | None:
    """The subcommand called ``name``, or None."""
    return next((c for c in COMMANDS if c.name == name), None)


def own_parser(name: str) -> Command | None:
    """The subcommand ``name`` when it is parsed by its own module (not ``desktop.cli``)."""
    found = command(name)
    return found if found is not None and found.module != "desktop.cli" else None


def run_own(found: Command, args: Sequence[str], lead: Sequence[str] = ()) -> int:
    """Run a subcommand that has its own parser with ``args`` (after its name); ``lead`` are
    the ``--model-dir DIR`` arguments given before the command name."""
    module = importlib.import_module(found.module)
    return int(module.main([*args, *(lead if found.takes_model_dir else ())]))


def main_streams(name: str, argv: Sequence[str] | None, stdout: TextIO | None,
                 stderr: TextIO | None) -> tuple[TextIO, TextIO, list[str]]:
    """The output, error stream and arguments of a subcommand's ``main(argv)``: the given
    streams, else the process's (else the null device, as in a windowed build without a
    console), and ``argv`` (default: the command line) without a leading command ``name``."""
    out = stdout or sys.stdout or open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run
    err = stderr or sys.stderr or open(os.devnull, "w")  # noqa: SIM115
    args = list(sys.argv[1:] if argv is None else argv)
    return out, err, args[1:] if args and args[0] == name else args
