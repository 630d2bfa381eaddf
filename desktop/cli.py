"""The command-line entry point of the headless commands: ``classify`` (batch to CSV),
``verify`` (audit trail), ``--version`` and ``--self-test`` (``desktop.__main__`` dispatches here).

Nothing here imports Qt, matplotlib or TensorFlow, so these commands start fast and run on
machines without a display. Classification goes through
:func:`pneumonia_core.pipeline.classify_many`, the same engine, model and threshold as the app.

Exit codes: 0 every input classified; 3 finished, but some inputs could not be classified
(error or out-of-scope rows in the CSV, missing paths, folders without images); 1 the model
could not be loaded or verified; 2 usage error (including a ``--csv`` that would overwrite an
input or a file that is not a CSV); 4 ``verify`` found the audit trail tampered or damaged;
5 ``classify`` finished, but with an UNVERIFIED model folder (not the one pinned in this build:
every CSV row says so in its ``model`` cell);
130 interrupted by Ctrl-C, 143 terminated by SIGTERM (the CSV is not written and no temporary
file is left).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from desktop import commands, csv_safe, identifiers

if TYPE_CHECKING:
    from desktop.machine_config import MachineSettings
    from desktop.operating_point import Resolution
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import Result

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_MODEL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_TAMPERED = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: The CSV's columns: the result, then the DICOM identifiers (desktop/identifiers.py).
CSV_HEADER = ("path", "status", "probability", "prediction", "flagged", "message", "model",
              *identifiers.COLUMNS)
#: ``--csv -``: the CSV goes to standard output (logs, progress and summary to stderr).
STDOUT = Path("-")
EXIT_UNVERIFIED = 5
#: The ``model`` cell of a row classified by the model pinned in this build.
MODEL_VERIFIED = "verified"
PROG = "pneumonia-xray"


# -- argument parsing ----------------------------------------------------------------------
def parse_threshold(text: str) -> float:
    """A decision threshold from the command line: a number strictly between 0 and 1
    (argparse type for `classify` and the window)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1; received {text}")
    return value


def workers_option(text: str) -> int:
    """``--workers N``: an integer from 1 to 16 (also used by ``calibrate``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be between 1 and 16; received {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Triage aid for pediatric frontal chest X-rays (offline). Without a "
        "command, opens the app window.",
        epilog=f"window: {PROG} [FILE_OR_FOLDER ...] opens the app, optionally with files. "
        f"Each COMMAND has its own help: {PROG} COMMAND --help.",
    )
    parser.add_argument("-V", "--version", action="store_true",
                        help="print the app and model versions and exit")
    parser.add_argument("--self-test", action="store_true",
                        help="verify the bundled model and classify a built-in image")
    parser.add_argument("--model-dir", type=Path, default=None, metavar="DIR",
                        help="model folder (model.tflite + metadata.json); default: the bundled model")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cls = sub.add_parser(
        "classify",
        help=commands.command("classify").summary,
        description="Classify image files and folders (recursively) into a CSV: "
        + ", ".join(CSV_HEADER) + ". Exit status: 0 all classified, 3 some inputs could not "
        "be classified (see their rows), 1 model unusable, 2 usage error, 5 finished with an "
        "UNVERIFIED model folder (every row's model cell says so). Paths: a backslash, CR, LF "
        "and bytes that are not UTF-8 are written \\\\, \\r, \\n, \\xNN.",
    )
    cls.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders")
    cls.add_argument("--csv", type=Path, metavar="OUT.csv",
                     help="where to write the results (replaced atomically when finished, "
                     "keeping its permissions; a symbolic link is followed and kept). Refused "
                     "when it is one of the inputs or an existing file that is not a CSV. "
                     "'-' writes the CSV to standard output (progress, logs and the summary "
                     "stay on standard error)")
    cls.add_argument("--threshold", type=parse_threshold, default=None, metavar="T",
                     help="decision threshold on P(pneumonia), 0 < T < 1; default: the model's")
    cls.add_argument("--model-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                     help="model folder; default: the bundled model")
    site = cls.add_mutually_exclusive_group()
    site.add_argument("--site-profile", type=Path, default=None, metavar="PROFILE",
                      help="use this site profile (from `calibrate`) for this run; refused "
                      "(edited, another model): exit 1, nothing written")
    site.add_argument("--no-site-profile", action="store_true",
                      help="use the model's own calibration and threshold, not the site "
                      "profile in force (docs/site-calibration.md)")
    cls.add_argument("--sr-dir", type=Path, default=None, metavar="DIR",
                     help="also write a DICOM Structured Report of each DICOM film's result "
                     "into DIR, for the PACS (needs the optional package highdicom: "
                     "pip install 'pneumonia-xray[sr]'; docs/deployment.md)")
    cls.add_argument("--workers", type=workers_option, default=None, metavar="N",
                     help="worker threads, each with its own interpreter (default: 2 on a "
                     "machine with two cores or more, else 1)")
    _add_watch_options(cls)
    ver = sub.add_parser(
        "verify",
        help=commands.command("verify").summary,
        description="Verify the audit trail: every row's chained hash, the append-only "
        "triggers and the newest rows. Exit status: 0 intact, 4 tampered or damaged (the "
        "rows are named), 1 the file cannot be read.",
    )
    ver.add_argument("--db", type=Path, default=None, metavar="FILE",
                     help="data file to check (default: the app's own)")
    ver.add_argument("--anchor", type=Path, default=None, metavar="ANCHOR.json",
                     help="check against this exported anchor (IT's record) instead of the "
                     "one the app keeps outside the database")
    ver.add_argument("--export-anchor", type=Path, default=None, metavar="OUT.json",
                     help="after checking, write the current head (hash and count) for IT "
                     "to record")
    ver.add_argument("--reanchor", action="store_true",
                     help="accept the database as it is now as the new anchor (after IT has "
                     "looked into a reported problem); audited")
    for own in commands.COMMANDS:  # listed here, parsed by their own modules (desktop.commands)
        if own.module != __name__:
            sub.add_parser(own.name, help=own.summary, add_help=False)
    return parser


def _add_watch_options(cls: argparse.ArgumentParser) -> None:
    from desktop.watch_timing import SETTLE_S

    # PATH and --csv are required unless --watch replaces them (checked in run_classify)
    cls.usage = (f"{PROG} classify [options] PATH [PATH ...] --csv OUT.csv\n"
                 f"       {PROG} classify [options] --watch FOLDER [--settle S]")

    cls.add_argument("--watch", type=Path, default=None, metavar="FOLDER",
                     help="instead of PATH and --csv: keep watching FOLDER and its sub-folders "
                     "(a PACS export or scanner drop folder) and classify each film that "
                     "appears, once it is complete; flagged films go to the window's "
                     "worklist, every result to the audit trail, one line per file here. "
                     "Resumes after a restart without classifying a file twice; Ctrl+C stops "
                     "with a summary (exit 0)")
    cls.add_argument("--settle", type=float, default=SETTLE_S, metavar="S",
                     help="with --watch: read a file only after its size and time stayed the "
                     "same for S seconds (default %(default)s)")


# -- versions --------------------------------------------------------------------------------
def app_version() -> str:
    from pneumonia_core import __version__

    return __version__


def version_text(model_dir: Path | None = None) -> tuple[str, bool]:
    """The ``--version`` text and whether the model's metadata could be read."""
    from pneumonia_core.metadata import MetadataError, ModelMetadata
    from pneumonia_core.model import default_model_dir

    folder = model_dir if model_dir is not None else default_model_dir()
    line = f"{PROG} {app_version()}"
    try:
        meta = ModelMetadata.load(folder)
    except MetadataError as exc:
        return f"{line}\nmodel: unavailable ({exc})", False
    from pneumonia_core.formatting import format_fraction
    from pneumonia_core.integrity import IntegrityError, verify_folder

    try:
        state = verify_folder(folder).describe()
    except IntegrityError as exc:
        return f"{line}\nmodel: refused ({exc})", False
    return (f"{line}\nmodel: {meta.name} {meta.version} ({meta.quantization}, "
            f"sha256 {meta.sha256[:12]}, threshold {format_fraction(meta.threshold_value)}), "
            f"{state}"), True


def unverified_text(bundle: ModelBundle) -> str:
    """The warning for results of a model folder that is not the one pinned in this build."""
    v = bundle.verification
    return (f"UNVERIFIED MODEL {bundle.folder} (folder digest {v.short}): {v.reason}. Its "
            "results are not those of the model this app was validated with.")


# -- classification --------------------------------------------------------------------------
def model_state(bundle: ModelBundle) -> str:
    """The ``model`` cell: ``verified``, or ``UNVERIFIED <folder digest>``."""
    if bundle.verified:
        return MODEL_VERIFIED
    return f"UNVERIFIED model folder {bundle.verification.short}"


def csv_row(result: Result, model: str = MODEL_VERIFIED) -> list[str]:
    """One CSV row: probability with 4 decimals and prediction only for classified files.
    Text cells that a spreadsheet would run as a formula get a leading apostrophe; CR and LF
    in a message are written as ``\\r`` / ``\\n`` so every row is one line; the path is
    :func:`desktop.csv_safe.path_text` (unambiguous); ``model`` is :func:`model_state`; the
    DICOM identifiers follow (:mod:`desktop.identifiers`, empty for other files)."""
    ok = result.status == "ok"
    probability = f"{result.probability:.4f}" if ok and result.probability is not None else ""
    message = result.message
    if ok and result.probability is not None and result.threshold is not None:
        from pneumonia_core.formatting import format_pair

        relation = ">=" if result.positive else "<"
        p_text, t_text = format_pair(result.probability, result.threshold)
        message = f"P(pneumonia) {p_text} {relation} threshold {t_text}" + (
            f"; {message}" if message else "")  # e.g. the frame note
    return [
        str(csv_safe.cell(csv_safe.path_text(result.path))),
        result.status,
        probability,
        (result.prediction or "") if ok else "",
        "1" if result.flagged else "0",
        str(csv_safe.safe_cell(message.replace("\r", " ").replace("\n", " "))),
        model,
        *identifiers.cells(identifiers.of(result.dicom)),
    ]


class Progress:
    """Progress on stderr: on a terminal ``classified 1200/5000 (240/s)`` rewritten in place at
    most every ``interval`` s; otherwise (a log file, a pipe, a service) one plain line every
    ``plain_interval`` s (``classify: 1200/5000 files, 240/s, 0:00:15 left``), also logged."""

    def __init__(self, total: int, stream: TextIO, interval: float = 1.0,
                 plain_interval: float = 5.0) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.plain_interval = plain_interval
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last = self.start

    def rate(self, done: int) -> float:
        elapsed = time.perf_counter() - self.start
        return done / elapsed if elapsed > 0 else 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if self.live:
            if now - self._last >= self.interval or done == self.total:
                self._last = now
                self.stream.write(f"\rclassified {done}/{self.total} ({self.rate(done):.0f}/s)")
                self.stream.flush()
            return
        if now - self._last >= self.plain_interval and done < self.total:
            self._last = now
            rate = self.rate(done)
            left = (self.total - done) / rate if rate > 0 else 0.0
            line = (f"classify: {done}/{self.total} files, {rate:.0f}/s, "
                    f"{int(left // 60)}:{int(left % 60):02d} left")
            self.stream.write(line + "\n")
            self.stream.flush()
            log.info("%s", line)

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def write_csv_atomically(target: Path, rows: Iterable[Sequence[str]]) -> None:
    """Stream rows into a temporary file beside ``target`` and rename it over ``target`` only
    when every row is written, so a crash, Ctrl-C or SIGTERM never leaves a partial or
    clobbered CSV, nor a temporary file (see :func:`desktop.csv_safe.write_csv_atomic`:
    permissions kept, a symbolic link followed and kept)."""
    csv_safe.write_csv_atomic(target, CSV_HEADER, rows, lineterminator="\n")


# -- output safety ---------------------------------------------------------------------------
def _output_problem(target: Path, inputs: Iterable[str] = ()) -> str | None:
    """Why ``--csv`` cannot be written (the one rule for every output,
    :func:`desktop.safe_output.check_output`); None when fine."""
    from desktop.safe_output import check_output

    return check_output(target, "csv", inputs, label="--csv", header=",".join(CSV_HEADER))


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so temporary files are removed."""


class StopRequest:
    """SIGTERM or Ctrl-C during a run, acted on between files (:func:`signals_between_files`).

    Raising from the signal handler itself could land inside Python's import machinery (a
    film's first decode imports Pillow's plugins) and leave its import lock held; the run's
    audit thread then waited for that lock forever, and so did the run (a rare hang of the
    signal test). :meth:`check` raises where the run is between files instead."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self) -> None:
        """Raise :class:`Terminated` (SIGTERM) or KeyboardInterrupt (Ctrl-C) if one came."""
        import signal

        if self.signum == signal.SIGTERM:
            raise Terminated(self.signum)
        if self.signum is not None:
            raise KeyboardInterrupt


@contextlib.contextmanager
def signals_between_files(stop: StopRequest) -> Iterator[None]:
    """While inside, SIGTERM and Ctrl-C are recorded in ``stop`` (the run stops after the file
    it is on, through ``stop.check()``); a second one raises at once, as before, for a run that
    does not get to its next file (:func:`desktop.stop_signals.stop_signal_handlers`: ignored
    signals stay so)."""
    import signal

    from desktop.stop_signals import stop_signal_handlers

    def handler(signum: int, _frame: object) -> None:
        if stop.signum is not None:
            raise Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt
        stop.signum = signum

    with stop_signal_handlers(handler):
        yield


# -- classify --------------------------------------------------------------------------------
#: How many names per skip reason the summary shows (all are in the log).
SHOWN_NAMES = 3


@dataclass
class Inputs:
    """The expanded inputs of a run and what was left out, for the summary."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def expand_inputs(paths: Sequence[str]) -> Inputs:
    """Expand each given path; a missing path stays in ``files`` (its row says so) and is
    listed in ``missing``; a folder without image files is listed in ``empty``."""
    from pneumonia_core.files import display_path, iter_image_files

    found = Inputs()

    def skip(path: str, reason: str) -> None:
        found.skipped.setdefault(reason, []).append(path)
        log.info("skipped (%s): %s", reason, display_path(path))

    for raw in paths:
        try:
            os.stat(raw)
        except FileNotFoundError:  # also a dangling symbolic link
            found.missing.append(raw)
            found.files.append(raw)
            continue
        except (OSError, ValueError):
            pass  # exists but cannot be examined: its row gives the reason
        files = list(iter_image_files([raw], on_skip=skip))
        if os.path.isdir(raw) and not files:
            found.empty.append(raw)
        found.files.extend(files)
    return found


def _outside_use_text(counts: dict[str, int]) -> str:
    """'N outside the intended use, ' for the summary line, when any (issue 21)."""
    from pneumonia_core.pipeline import STATUS_OUTSIDE_USE

    n = counts.get(STATUS_OUTSIDE_USE, 0)
    return f"{n} outside the intended use (not scored), " if n else ""


def _names(paths: list[str]) -> str:
    from pneumonia_core.files import display_path

    shown = ", ".join(csv_safe.one_line(display_path(os.path.basename(p)))
                      for p in paths[:SHOWN_NAMES])
    return shown + (", ..." if len(paths) > SHOWN_NAMES else "")


def skipped_text(skipped: dict[str, list[str]], log_file: Path | None = None) -> str:
    """``skipped 3 file(s) in folders: 2 hidden (.a, .b), 1 unknown type (notes.txt)``."""
    if not skipped:
        return ""
    n = sum(len(v) for v in skipped.values())
    parts = [f"{len(v)} {reason} ({_names(v)})" for reason, v in sorted(skipped.items())]
    where = f"the log {log_file}" if log_file is not None else "the log"
    return f"skipped {n} file(s) in folders: " + ", ".join(parts) + f" (all listed in {where})"


def log_to_file() -> Path | None:
    """Also log (INFO and up) to the app's rotating log file, where every skipped file and
    every error row is listed; the terminal keeps showing warnings only. None when the log
    folder cannot be written (the run goes on)."""
    from desktop import logging_setup

    root = logging.getLogger()
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler and handler.level == logging.NOTSET:
            handler.setLevel(logging.WARNING)
    try:
        return logging_setup.setup_logging(logging.INFO)
    except OSError as exc:
        log.warning("cannot write the log file: %s", exc)
        return None


def _where(csv: Path) -> str:
    """How messages name the output: its path, or 'the CSV on standard output'."""
    return "the CSV on standard output" if csv == STDOUT else str(csv)


def _load_for_run(args: argparse.Namespace, error: Callable[[str], None], stderr: TextIO
                  ) -> tuple[ModelBundle, MachineSettings, Resolution] | int:
    """The model, the machine settings and the operating point a ``classify`` run uses, or
    the exit status when one of them refuses (said through ``error``)."""
    from pneumonia_core.model import ModelBundle, ModelError
    from pneumonia_core.runtime import quiet_runtime_banner

    try:
        with quiet_runtime_banner():
            bundle = ModelBundle.load(args.model_dir)
    except ModelError as exc:
        error(f"the model could not be loaded: {exc}")
        return EXIT_MODEL
    from desktop import machine_config

    machine = machine_config.load_settings()
    if args.threshold is not None and machine.threshold_locked:
        error(f"--threshold refused: the machine settings ({machine.path}) lock the threshold. "
              "Nothing was written")
        return EXIT_USAGE
    resolution = _operating_point(bundle, args, error, stderr, machine.threshold_locked)
    if resolution is None:
        return EXIT_MODEL
    return bundle, machine, resolution


def _write_rows(csv: str, rows: Iterable[list[str]], stdout: TextIO | None, stderr: TextIO,
                error: Callable[[str], None], progress: Progress,
                stop: StopRequest) -> tuple[str, int] | None:
    """Write the CSV (atomically, or to standard output for ``-``) as the rows come; None when
    written, else the run's outcome for the audit trail and the exit status (interrupted,
    terminated, or the CSV could not be written; each said on ``stderr`` once ``progress``
    has ended its line). ``rows`` calls ``stop.check()`` between files."""
    try:
        with signals_between_files(stop):
            if csv == STDOUT:
                out = stdout or sys.stdout
                csv_safe.write_csv(out, CSV_HEADER, rows, lineterminator="\n")
                out.flush()
            else:
                write_csv_atomically(csv, rows)
    except (KeyboardInterrupt, Terminated) as exc:
        progress.finish()
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        stderr.write(f"{PROG}: {what}; " + ("the CSV on standard output is incomplete\n"
                     if csv == STDOUT else f"{csv} was not written\n"))
        return what, EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except OSError as exc:
        progress.finish()
        error(f"cannot write {_where(csv)}: {exc}")
        return f"cannot write the CSV: {exc}", EXIT_USAGE
    return None


def run_classify(args: argparse.Namespace, stderr: TextIO, argv: Sequence[str] = (),
                 stdout: TextIO | None = None) -> int:
    from pneumonia_core.files import display_path
    from pneumonia_core.pipeline import classify_many, default_workers

    def error(text: str) -> None:
        stderr.write(f"{PROG}: error: {csv_safe.one_line(text)}\n")

    checked = _inputs(args, error, stderr) if args.watch is None else _watch_usage(args, error)
    if isinstance(checked, int):
        return checked
    found, skipped = checked
    if args.sr_dir is not None:
        from desktop import structured_report

        problem = structured_report.folder_problem(args.sr_dir, args.paths)
        if problem:
            error(f"{problem}. Nothing was written")
            return EXIT_USAGE
    loaded = _load_for_run(args, error, stderr)
    if isinstance(loaded, int):
        return loaded
    bundle, machine, resolution = loaded
    if args.watch is not None:
        from desktop.watch_cli import run_watch

        code = run_watch(args.watch, bundle, resolution, stderr, PROG,
                         args.workers or default_workers(), args.settle,
                         model_warning="" if bundle.verified else unverified_text(bundle))
        return EXIT_UNVERIFIED if code == EXIT_OK and not bundle.verified else code
    active, point = resolution.site, resolution.point
    threshold = point.threshold
    log.info("operating point: %s", resolution.describe())
    # An unverified folder was logged as a WARNING by ModelBundle.load; the summary says it again.
    files = found.files
    state = model_state(bundle)
    progress = Progress(len(files), stderr)
    counts = {"ok": 0, "error": 0, "out_of_scope": 0, "flagged": 0}
    reports = None if args.sr_dir is None else structured_report.Writer(
        args.sr_dir, bundle.metadata, app_version())

    stop = StopRequest()

    def rows() -> Iterator[list[str]]:
        for done, result in enumerate(
                classify_many(files, bundle, point, workers=args.workers or default_workers()),
                start=1):
            stop.check()  # a signal stops the run here, between files
            counts[result.status] = counts.get(result.status, 0) + 1  # every row, a missing
            counts["flagged"] += result.flagged  # path's error row too: counts equal rows
            if result.status != "ok":
                log.info("%s: %s: %s", display_path(result.path), result.status, result.message)
            if reports is not None:
                reports.add(result)
            progress.update(done)
            yield csv_row(result, state)

    run = {"argv": [PROG, *argv], "csv": _where(args.csv), "threshold": threshold,
           "model_dir": str(args.model_dir or ""), "files": len(files),
           "missing": len(found.missing), "empty_folders": len(found.empty),
           "skipped": {k: len(v) for k, v in found.skipped.items()},
           "operating_point": point.source, "site_profile": resolution.describe(),
           "site_profile_sha256": active.profile.sha256 if active.profile else "",
           **machine.audit_details()}
    from desktop.run_audit import RunAudit

    # the audit trail is opened now, on its own thread: its disk syncs overlap the work
    recorder = RunAudit(bundle, PROG)
    failed = _write_rows(args.csv, rows(), stdout, stderr, error, progress, stop)
    if failed is not None:
        outcome, code = failed
        recorder.finish(dict(run, outcome=outcome, counts=counts), stderr)
        return code
    progress.finish()
    _write_summary(stderr, _where(args.csv), len(files) - len(found.missing), progress, counts,
                   resolution, bundle, machine.describe(), len(found.missing))
    _say_left_out(stderr, found, skipped)
    if reports is not None:
        stderr.write(f"{PROG}: {reports.summary()}\n")
        run.update(sr_dir=str(args.sr_dir), sr_written=reports.written)
    code = _exit_status(counts, len(found.empty) + (len(reports.failed) if reports is not None
                                                      else 0), bundle)
    if not recorder.finish(dict(run, outcome="written", counts=counts, exit=code), stderr):
        code = code or EXIT_INCOMPLETE
    return code


def _say_left_out(stderr: TextIO, found: Inputs, skipped: str) -> None:
    """After the summary: the paths not found (each has an error row) and what was skipped."""
    if found.missing:
        stderr.write(f"{PROG}: {len(found.missing)} path(s) not found ({_names(found.missing)}); "
                     "each has an error row\n")
    if skipped:
        stderr.write(f"{PROG}: {skipped}\n")


def _exit_status(counts: dict[str, int], other_failures: int, bundle: ModelBundle) -> int:
    """``classify``'s exit status once the CSV is written: unverified model first (impossible
    to miss: exit status, CSV column, last summary line), else incomplete when any file was
    not scored (error, out of scope, outside intended use) or ``other_failures`` (empty
    folders, structured reports not written), else OK."""
    from pneumonia_core.pipeline import STATUS_OUTSIDE_USE

    if not bundle.verified:
        return EXIT_UNVERIFIED
    incomplete = (counts["error"] + counts["out_of_scope"] + counts.get(STATUS_OUTSIDE_USE, 0)
                  + other_failures)
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


def _watch_usage(args: argparse.Namespace, error: Callable[[str], None]
                 ) -> tuple[Inputs, str] | int:
    """``--watch FOLDER``: no PATH nor ``--csv`` beside it, a folder that exists."""
    if args.paths or args.csv is not None:
        error("--watch FOLDER takes no PATH and no --csv: results go to the worklist and the "
              "audit trail")
        return EXIT_USAGE
    if not args.watch.is_dir():
        error(f"--watch {args.watch}: no such folder")
        return EXIT_USAGE
    log_to_file()
    return Inputs(), ""


def _inputs(args: argparse.Namespace, error: Callable[[str], None], stderr: TextIO
            ) -> tuple[Inputs, str] | int:
    """The files to classify and the text about those skipped, or the exit status when there
    is nothing to do (a refused ``--csv``, no file); every missing input is reported."""
    from pneumonia_core.files import display_path

    missing = [name for name, given in (("PATH", args.paths), ("--csv", args.csv)) if not given]
    if missing:  # optional for argparse only because --watch replaces both
        error(f"the following arguments are required: {', '.join(missing)}")
        return EXIT_USAGE
    to_file = args.csv != STDOUT
    problem = _output_problem(args.csv) if to_file else None
    if problem:
        error(problem)
        return EXIT_USAGE
    log_file = log_to_file()
    if to_file:
        csv_safe.remove_stale_temps(args.csv)
    found = expand_inputs(args.paths)
    clash = _output_problem(args.csv, [*args.paths, *found.files]) if to_file else None
    if clash is not None:
        error(clash)
        return EXIT_USAGE
    for p in found.missing:
        error(f"{display_path(p)}: no such file or folder")
    for p in found.empty:
        error(f"{display_path(p)}: no image files found in this folder")
    skipped = skipped_text(found.skipped, log_file)
    if not found.files:
        if skipped:
            stderr.write(f"{PROG}: {skipped}\n")
        error(f"nothing to classify; {_where(args.csv)} was not written")
        return EXIT_INCOMPLETE
    return found, skipped


def _operating_point(bundle: ModelBundle, args: argparse.Namespace,
                     error: Callable[[str], None], stderr: TextIO,
                     locked: bool = False) -> Resolution | None:
    """The run's operating point from THE resolver (:mod:`desktop.operating_point`): the site
    profile in force (``--site-profile`` / ``--no-site-profile``), the user's setting of the
    window, ``--threshold`` (both ignored where IT's machine settings lock the threshold).
    None (and the reason said) when ``--site-profile`` is refused."""
    from desktop import operating_point, site_config
    from pneumonia_core.site_profile_file import SiteProfileError

    try:
        active = site_config.for_classify(bundle.metadata.sha256, args.no_site_profile,
                                          args.site_profile)
    except SiteProfileError as exc:
        error(f"{exc} Nothing was written")
        return None
    if active.problem:
        stderr.write(f"{PROG}: warning: {active.problem} Using the model's own operating point.\n")
    return operating_point.resolve(bundle, active, operating_point.saved_user_threshold(),
                                   args.threshold, locked=locked)


def _write_summary(stderr: TextIO, csv: str, n: int, progress: Progress, counts: dict[str, int],
                   resolution: Resolution, bundle: ModelBundle, machine: str,
                   missing: int = 0) -> None:
    """The closing lines: files classified, rate, threshold, the rows by status (they add up to
    the CSV's rows: a missing path's error row is counted), operating point, machine settings,
    model state (last, so an unverified model is the last thing said)."""
    from pneumonia_core.formatting import format_fraction

    elapsed = time.perf_counter() - progress.start
    model_line = ("model: verified" if bundle.verified
                  else f"model: {unverified_text(bundle)}")
    stderr.write(
        f"classified {n} file(s) in {elapsed:.1f} s ({progress.rate(n):.0f}/s), threshold "
        f"{format_fraction(resolution.threshold)}: {counts['ok']} ok, {counts['error']} error"
        + (f" ({missing} path(s) not found)" if missing else "")
        + f", {counts['out_of_scope']} out of scope, {_outside_use_text(counts)}"
        f"{counts['flagged']} flagged for review; {n + missing} row(s) -> "
        f"{csv}\noperating point: {resolution.describe()}\n{machine}\n{model_line}\n")


def run_verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``verify``: check the audit trail read-only (works on read-only media too)."""
    import sqlite3

    from desktop import audit_anchor, paths
    from desktop.audit import verify_file

    db = args.db if args.db is not None else paths.review_db_location()
    if not db.is_file():
        missing = audit_anchor.missing_database_problem(db)
        if missing:
            stderr.write(f"{PROG}: AUDIT TRAIL TAMPERED OR DAMAGED: {missing}\n")
            return EXIT_TAMPERED
        stderr.write(f"{PROG}: error: no data file at {db}\n")
        return EXIT_MODEL
    anchor = None
    if args.anchor is not None:
        try:
            anchor = audit_anchor.read(args.anchor)
        except ValueError as exc:
            stderr.write(f"{PROG}: error: {exc}\n")
            return EXIT_USAGE
        if anchor is None:
            stderr.write(f"{PROG}: error: no anchor file {args.anchor}\n")
            return EXIT_USAGE
    if args.reanchor:
        return _reanchor(db, stdout, stderr)
    try:
        check = verify_file(db, anchor)
    except sqlite3.Error as exc:
        stderr.write(f"{PROG}: error: cannot read {db}: {exc}\n")
        return EXIT_MODEL
    (stdout if check.ok else stderr).write(f"{db}: {check.summary()}\n")
    if args.export_anchor is not None:
        code = _export_anchor(db, args.export_anchor, stdout, stderr)
        if code:
            return code
    return EXIT_OK if check.ok else EXIT_TAMPERED


def _export_anchor(db: Path, dest: Path, stdout: TextIO, stderr: TextIO) -> int:
    """Write the database's current head for IT (the one output rule applies)."""
    import sqlite3

    from desktop import audit_anchor
    from desktop.safe_output import check_output
    from desktop.sqlite_util import read_only_connection
    from pneumonia_core.atomic_files import atomic_write_text

    problem = check_output(dest, "anchor", [db], label="--export-anchor")
    if problem:
        stderr.write(f"{PROG}: error: {problem}\n")
        return EXIT_USAGE
    try:
        with read_only_connection(db) as con:
            now = audit_anchor.head(con, db.resolve())
        atomic_write_text(dest, now.text())
    except (OSError, sqlite3.Error) as exc:
        stderr.write(f"{PROG}: error: cannot export the anchor: {exc}\n")
        return EXIT_USAGE
    stdout.write(f"anchor written to {dest}: {now.describe()}\n")
    return EXIT_OK


def _reanchor(db: Path, stdout: TextIO, stderr: TextIO) -> int:
    """``verify --reanchor``: record the database as it is now (an audited event names the
    anchor it replaces)."""
    from desktop import audit_anchor
    from desktop.audit import AuditEvent, AuditLog
    from desktop.sqlite_util import StorageError

    target = audit_anchor.anchor_path(db)
    try:
        old = audit_anchor.read(target)
    except ValueError as exc:
        old, note = None, str(exc)
    else:
        note = f"replaces {old.describe()}" if old else "no anchor before"
    try:
        target.unlink(missing_ok=True)
        with AuditLog(db) as log:  # the event's commit records the new anchor
            log.append(AuditEvent(action="anchor:reset", path=str(db), note=note))
    except (OSError, StorageError) as exc:
        stderr.write(f"{PROG}: error: cannot record a new anchor: {exc}\n")
        return EXIT_MODEL
    new = audit_anchor.read(target)
    stdout.write(f"{db}: new audit anchor {new.describe() if new else '(not written)'}; "
                 f"{note}\n")
    return EXIT_OK if new else EXIT_MODEL


# -- entry point -----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run a headless command; returns the exit status (argparse usage errors exit 2)."""
    # A windowed Windows/macOS build has no console streams: write to nowhere, not crash.
    out = stdout or sys.stdout or open(os.devnull, "w")
    err = stderr or sys.stderr or open(os.devnull, "w")
    given = list(sys.argv[1:] if argv is None else argv)
    own = commands.own_parser(given[0]) if given else None
    if own is not None:  # calibrate, profile (reached here when called directly)
        return commands.run_own(own, given[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(given)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=err,
                            format=f"{PROG}: %(levelname)s: %(message)s")
    if args.version:
        text, ok = version_text(args.model_dir)
        out.write(text + "\n")
        return EXIT_OK if ok else EXIT_MODEL
    if args.self_test:
        from desktop.selftest import run_self_test

        return run_self_test(args.model_dir, out, err)
    if args.command == "classify":
        return run_classify(args, err, list(sys.argv[1:] if argv is None else argv), out)
    if args.command == "verify":
        return run_verify(args, out, err)
    parser.print_usage(err)
    return EXIT_USAGE
