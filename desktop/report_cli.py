"""``pneumonia-xray report``: the local performance report (:mod:`desktop.report`) without a
window. Qt-free.

    pneumonia-xray report [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--html OUT.html]
                          [--findings-csv OUT.csv] [--db FILE]

Prints the report in plain language; ``--html`` also writes it as a standalone page with its
plots inline; ``--findings-csv`` writes every reader finding of the data file. The data file
is only read. Exit status: 0 done; 1 the data file cannot be read; 2 usage error (a bad date,
an output that must not be written).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

PROG = "pneumonia-xray report"
EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="The local performance report: the model against the findings this "
        "site's readers recorded (agreement, sensitivity, specificity with exact 95%% "
        "intervals), the share of films refused by the guard or outside the intended use, "
        "and P(pneumonia) per week (drift). Exit status: 0 done, 1 the data file cannot be "
        "read, 2 usage error.")
    p.add_argument("--since", default="", metavar="YYYY-MM-DD",
                   help="first day of the period (UTC; default: the first record)")
    p.add_argument("--until", default="", metavar="YYYY-MM-DD",
                   help="last day of the period, inclusive (UTC; default: today)")
    p.add_argument("--html", type=Path, default=None, metavar="OUT.html",
                   help="also write the report as an HTML page with its plots")
    p.add_argument("--findings-csv", type=Path, default=None, metavar="OUT.csv",
                   help="also write every reader finding of the data file as CSV")
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help="data file (default: the app's own)")
    return p


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from desktop import paths, report
    from desktop.safe_output import check_output
    from pneumonia_core.atomic_files import atomic_write_bytes

    db = args.db if args.db is not None else paths.review_db_location()
    for target, kind, label in ((args.html, "html", "--html"),
                                (args.findings_csv, "csv", "--findings-csv")):
        problem = target is not None and check_output(target, kind, [db], label=label)
        if problem:
            stderr.write(f"{PROG}: error: {problem}\n")
            return EXIT_USAGE
    try:
        rep = report.build(db, args.since, args.until)
    except ValueError as exc:
        stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except report.ReportError as exc:
        stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_DATA
    stdout.write(report.text(rep))
    try:
        if args.html is not None:
            atomic_write_bytes(args.html, report.html(rep).encode("utf-8"))
            stdout.write(f"wrote {args.html}\n")
        if args.findings_csv is not None:
            n = export_findings(db, args.findings_csv)
            stdout.write(f"wrote {n} finding(s) to {args.findings_csv}\n")
    except OSError as exc:
        stderr.write(f"{PROG}: error: cannot write: {exc}\n")
        return EXIT_USAGE
    return EXIT_OK


def export_findings(db: Path, dest: Path) -> int:
    """Every finding of ``db`` (read-only) as CSV; returns rows."""
    from desktop import report
    from desktop.review_store import read_findings, write_findings_csv

    con = report.open_read_only(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        found = read_findings(con) if "findings" in tables else []
    finally:
        con.close()
    return write_findings_csv(found, dest)


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    from desktop.commands import main_streams

    out, err, args_in = main_streams("report", argv, stdout, stderr)
    try:
        args = build_parser().parse_args(args_in)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=err,
                            format="pneumonia-xray: %(levelname)s: %(message)s")
    return run(args, out, err)
