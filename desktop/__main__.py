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
from typing import NoReturn

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


def _ending_process(code: int) -> NoReturn:
    """End the process right after a headless command, with exit status ``code``, without the
    interpreter's teardown (freeing every module and object one by one, and its final garbage
    collections: about 15-20 ms of a one-file ``classify`` on 2 cores, issue 22). Nothing of
    the command is pending by then: its files are written and closed by their own ``with``
    blocks (the CSV atomically, the audit trail committed, its thread joined), and the log's
    handlers are flushed and closed and the standard streams flushed here first. No module of
    the app registers an ``atexit`` handler."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: what was not written is lost anyway
            pass
    os._exit(code)


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
        _ending_process(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
