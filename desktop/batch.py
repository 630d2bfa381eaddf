"""Headless commands: ``classify`` (batch to CSV), ``--version`` and ``--self-test``.

Nothing here imports Qt, matplotlib or TensorFlow, so these commands start fast and run on
machines without a display. Classification goes through
:func:`pneumonia_core.pipeline.classify_many`, the same engine, model and threshold as the app.

Exit codes: 0 every input classified; 3 finished, but some inputs could not be classified
(error or out-of-scope rows in the CSV); 1 the model could not be loaded or verified;
2 usage error; 130 interrupted (the CSV is not written).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from desktop import csv_safe

if TYPE_CHECKING:
    from pneumonia_core.pipeline import Result

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_MODEL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130

CSV_HEADER = ("path", "status", "probability", "prediction", "flagged", "message")
PROG = "pneumonia-xray"


# -- argument parsing ----------------------------------------------------------------------
def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1; received {text}")
    return value


def _workers(text: str) -> int:
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
        f"Headless: {PROG} classify --help.",
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
        help="classify files and folders into a CSV without a window",
        description="Classify image files and folders (recursively) into a CSV: "
        + ",".join(CSV_HEADER) + ". Exit status: 0 all classified, 3 some inputs could not "
        "be classified (see their rows), 1 model unusable, 2 usage error.",
    )
    cls.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    cls.add_argument("--csv", required=True, type=Path, metavar="OUT.csv",
                     help="where to write the results (replaced atomically when finished)")
    cls.add_argument("--threshold", type=_threshold, default=None, metavar="T",
                     help="decision threshold on P(pneumonia), 0 < T < 1; default: the model's")
    cls.add_argument("--model-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR",
                     help="model folder; default: the bundled model")
    cls.add_argument("--workers", type=_workers, default=None, metavar="N",
                     help="worker threads, each with its own interpreter (default: 2 on a "
                     "machine with two cores or more, else 1)")
    return parser


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
    return (f"{line}\nmodel: {meta.name} {meta.version} ({meta.quantization}, "
            f"sha256 {meta.sha256[:12]}, threshold {meta.threshold_value:g})"), True


# -- classification --------------------------------------------------------------------------
def csv_row(result: Result) -> list[str]:
    """One CSV row: probability with 4 decimals and prediction only for classified files.
    Text cells that a spreadsheet would run as a formula get a leading apostrophe."""
    from pneumonia_core.pipeline import display_path

    ok = result.status == "ok"
    probability = f"{result.probability:.4f}" if ok and result.probability is not None else ""
    message = result.message
    if ok and not message and result.probability is not None and result.threshold is not None:
        relation = ">=" if result.positive else "<"
        message = f"P(pneumonia) {result.probability:.4f} {relation} threshold {result.threshold:.4f}"
    return [
        str(csv_safe.cell(display_path(result.path))),
        result.status,
        probability,
        (result.prediction or "") if ok else "",
        "1" if result.flagged else "0",
        str(csv_safe.cell(message.replace("\r", " ").replace("\n", " "))),
    ]


class Progress:
    """``classified 1200/5000 (240/s)`` on stderr, at most once a second, only on a terminal."""

    def __init__(self, total: int, stream: TextIO, interval: float = 1.0) -> None:
        self.total = total
        self.stream = stream
        self.interval = interval
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last = self.start

    def rate(self, done: int) -> float:
        elapsed = time.perf_counter() - self.start
        return done / elapsed if elapsed > 0 else 0.0

    def update(self, done: int) -> None:
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval or done == self.total:
            self._last = now
            self.stream.write(f"\rclassified {done}/{self.total} ({self.rate(done):.0f}/s)")
            self.stream.flush()

    def finish(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def write_csv_atomically(target: Path, rows: Iterable[Sequence[str]]) -> None:
    """Stream rows into a temporary file beside ``target`` and rename it over ``target`` only
    when every row is written, so a crash or Ctrl-C never leaves a partial or clobbered CSV."""
    from pneumonia_core.provenance import atomic_writer

    with atomic_writer(target, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for row in rows:
            writer.writerow(row)


def _output_problem(target: Path) -> str | None:
    """Why ``--csv`` cannot be written, checked before any work is done; None when fine."""
    if target.is_dir():
        return f"--csv {target} is a folder; give a file name"
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return f"--csv {target}: folder {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"--csv {target}: folder {parent} is not writable"
    return None


def run_classify(args: argparse.Namespace, stderr: TextIO) -> int:
    from pneumonia_core.model import ModelBundle, ModelError
    from pneumonia_core.pipeline import classify_many, default_workers, iter_image_files
    from pneumonia_core.runtime import quiet_runtime_banner

    problem = _output_problem(args.csv)
    if problem:
        stderr.write(f"{PROG}: error: {problem}\n")
        return EXIT_USAGE
    try:
        with quiet_runtime_banner():
            bundle = ModelBundle.load(args.model_dir)
    except ModelError as exc:
        stderr.write(f"{PROG}: error: the model could not be loaded: {exc}\n")
        return EXIT_MODEL
    point = (bundle.operating_point if args.threshold is None
             else bundle.operating_point.with_threshold(args.threshold, source="--threshold"))
    threshold = point.threshold
    files = list(iter_image_files(args.paths))
    progress = Progress(len(files), stderr)
    counts = {"ok": 0, "error": 0, "out_of_scope": 0, "flagged": 0}

    def rows() -> Iterator[list[str]]:
        for done, result in enumerate(
                classify_many(files, bundle, point, workers=args.workers or default_workers()),
                start=1):
            counts[result.status] = counts.get(result.status, 0) + 1
            counts["flagged"] += result.flagged
            if result.status != "ok":
                log.info("%s: %s: %s", result.path, result.status, result.message)
            progress.update(done)
            yield csv_row(result)

    try:
        write_csv_atomically(args.csv, rows())
    except KeyboardInterrupt:
        progress.finish()
        stderr.write(f"{PROG}: interrupted; {args.csv} was not written\n")
        return EXIT_INTERRUPTED
    except OSError as exc:
        progress.finish()
        stderr.write(f"{PROG}: error: cannot write {args.csv}: {exc}\n")
        return EXIT_USAGE
    progress.finish()
    n = len(files)
    elapsed = time.perf_counter() - progress.start
    skipped = counts["error"] + counts["out_of_scope"]
    stderr.write(
        f"classified {n} file(s) in {elapsed:.1f} s ({progress.rate(n):.0f}/s), threshold "
        f"{threshold:.4f}: {counts['ok']} ok, {counts['error']} error, {counts['out_of_scope']} "
        f"out of scope, {counts['flagged']} flagged for review -> {args.csv}\n"
    )
    if n == 0:
        stderr.write(f"{PROG}: no image files found in the given paths\n")
        return EXIT_INCOMPLETE
    return EXIT_INCOMPLETE if skipped else EXIT_OK


# -- entry point -----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run a headless command; returns the exit status (argparse usage errors exit 2)."""
    # A windowed Windows/macOS build has no console streams: write to nowhere, not crash.
    out = stdout or sys.stdout or open(os.devnull, "w")
    err = stderr or sys.stderr or open(os.devnull, "w")
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
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
        return run_classify(args, err)
    parser.print_usage(err)
    return EXIT_USAGE
