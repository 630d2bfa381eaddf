"""Entry point of ``pneumonia-xray``: the window by default, or a headless sub-command.

    pneumonia-xray [FILES_OR_FOLDERS...]          open the app (optionally with files)
    pneumonia-xray classify PATH... --csv OUT     headless batch classification
    pneumonia-xray calibrate FOLDER_OR_CSV        fit a site profile (desktop/calibrate.py)
    pneumonia-xray report [--since D --until D]   local performance report (desktop/report_cli.py)
    pneumonia-xray verify [--db FILE]             check the audit trail's hash chain
    pneumonia-xray profile keygen|sign|verify     site-profile signatures (desktop/profile_cli.py)
    pneumonia-xray --version | --self-test
"""

from __future__ import annotations

import os
import sys

# numpy's OpenBLAS starts a thread per core when numpy is imported (about 8 ms of every
# start on 2 cores). The app's BLAS work is tiny (a 256-level histogram, the guard's
# projection of one feature vector, a calibration fit), so one thread; set before anything
# imports numpy, and never over the user's own choice (issue 22).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from desktop import commands  # noqa: E402  (after the environment above)

#: First arguments handled without Qt (fast start, no display needed).
_HEADLESS = ("--version", "-V", "--self-test", "-h", "--help")


def _split_model_dir(args: list[str]) -> tuple[list[str], list[str]]:
    """(leading ``--model-dir DIR`` arguments, the rest)."""
    rest = list(args)
    lead: list[str] = []
    while rest and rest[0].startswith("--model-dir"):
        n = 1 if "=" in rest[0] else 2
        lead, rest = lead + rest[:n], rest[n:]
    return lead, rest


def is_headless(args: list[str]) -> bool:
    """True when the command line asks for a headless command (``--model-dir DIR`` may come
    first); anything else, including file names, opens the window."""
    rest = _split_model_dir(args)[1]
    return bool(rest) and (rest[0] in commands.NAMES or rest[0] in _HEADLESS)


def _ending_process() -> None:
    """The process ends right after a headless command: collect the garbage there is (its
    finalizers run now, e.g. a database connection closes) and freeze every object still
    alive, so the interpreter's teardown does not walk them all again in its final collections
    (about half of the exit, 20-30 ms of a one-file ``classify`` on 2 cores; issue 22). Python
    never promised finalizers for objects alive at exit; nothing of the command is pending."""
    import gc

    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    """Run the command on the command line (``argv``: the arguments, for a call from code; the
    process is then not ending and is left as it is)."""
    args = list(sys.argv[1:] if argv is None else argv)
    lead, rest = _split_model_dir(args)
    own = commands.own_parser(rest[0]) if rest else None
    if own is not None:  # calibrate, profile: parsed by their own modules
        code = commands.run_own(own, rest[1:], lead)
    elif is_headless(args):
        from desktop import cli

        code = cli.main(args)
    else:
        from desktop.qt import app

        return app.run_gui(args)
    if argv is None:
        _ending_process()
    return code


if __name__ == "__main__":
    sys.exit(main())
