"""``pneumonia-xray calibrate``: fit a site profile on a site's own labelled films.

    pneumonia-xray calibrate FOLDER_OR_CSV [--target-sensitivity S] [--out PROFILE]
                             [--dry-run] [--force] [--model-dir DIR] [--workers N]
    pneumonia-xray calibrate --from-reviews [--db FILE] [same options]

FOLDER: films under ``NORMAL/`` and ``PNEUMONIA/`` folders (any depth below FOLDER; the
nearest such folder names the label). CSV: ``path,label`` rows (header optional; relative
paths are relative to the CSV's folder). ``--from-reviews``: the findings readers recorded in the
review store (:mod:`desktop.calibrate_reviews`; "pneumonia" / "no pneumonia"). Every film goes through the app's own pipeline;
unreadable and out-of-scope films are left out (counted and listed), and so are repeated
copies of one file (by SHA-256). The fit and the guard rails are
:func:`pneumonia_core.site_profile.fit_site`. Qt-free.

Exit status: 0 profile written (or ``--dry-run`` finished); 1 the model could not be loaded;
2 usage error (bad arguments, unreadable CSV, the profile exists without ``--force``);
4 the films cannot support a calibration, or the fit would be refused by the plausibility bounds
every reader applies (guard rail; nothing written); 130 interrupted. ``--out`` and the two plots
follow the one output rule (:mod:`desktop.safe_output`).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

PROG = "pneumonia-xray calibrate"
EXIT_OK = 0
EXIT_MODEL = 1
EXIT_USAGE = 2
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130


class InputError(ValueError):
    """The labelled input cannot be read."""


@dataclass
class Films:
    """Labelled films to classify, and what was left out before classification."""

    items: list[tuple[str, int]] = field(default_factory=list)  # (path, 0/1)
    ignored: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}


def _label_index(text: str, labels: Sequence[str]) -> int | None:
    low = text.strip().lower()
    for i, name in enumerate(labels[:2]):
        if low == name.lower():
            return i
    return None


def collect_folder(root: Path, labels: Sequence[str]) -> Films:
    """Films under label-named folders at any depth; the nearest such folder decides."""
    from pneumonia_core.files import iter_image_files

    films = Films()
    for path in iter_image_files([root]):
        rel = Path(os.path.relpath(path, root))
        label = None
        for part in reversed(rel.parts[:-1]):
            label = _label_index(part, labels)
            if label is not None:
                break
        if label is None:
            films.ignored.append({"path": path, "reason": f"not under a {labels[0]}/ or "
                                                          f"{labels[1]}/ folder"})
        else:
            films.items.append((path, label))
    return films


def collect_csv(csv_path: Path, labels: Sequence[str]) -> Films:
    """``path,label`` rows; a header row is recognised by its ``label`` cell."""
    films = Films()
    base = csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {csv_path}: {exc}") from None
    for number, row in enumerate(rows, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if number == 1 and len(row) >= 2 and row[1].strip().lower() == "label":
            continue
        if len(row) < 2:
            films.ignored.append({"path": f"{csv_path.name}:{number}",
                                  "reason": "row needs two cells: path,label"})
            continue
        label = _label_index(row[1], labels)
        path = row[0].strip()
        full = path if os.path.isabs(path) else str(base / path)
        if label is None:
            films.ignored.append({"path": full, "reason": f"label {row[1]!r} is neither "
                                                          f"{labels[0]} nor {labels[1]}"})
        else:
            films.items.append((full, label))
    return films


class Progress:
    """``classified 120/314 (240/s)``: refreshed in place on a terminal; otherwise one line at
    every further 10% or 10 s, so logs of unattended runs show progress too."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.start = self._last = time.perf_counter()
        self._last_done = 0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        rate = done / max(now - self.start, 1e-9)
        text = f"classified {done}/{self.total} ({rate:.0f}/s)"
        if self.live:
            if now - self._last >= 0.5 or done == self.total:
                self._last = now
                self.stream.write("\r" + text + ("\n" if done == self.total else ""))
                self.stream.flush()
        elif (done == self.total or now - self._last >= 10
              or done - self._last_done >= max(1, math.ceil(self.total / 10))):
            self._last, self._last_done = now, done
            self.stream.write(text + "\n")
            self.stream.flush()


def model_default(bundle: Any) -> Any:
    """The model's own operating point, through the app's one resolver: a site profile is
    fitted on raw logits and compared with it (the "before" column)."""
    from desktop.operating_point import resolve

    return resolve(bundle).point


def classify_films(films: Films, bundle: Any, workers: int | None, stderr: TextIO,
                   point: Any = None) -> Iterator[tuple[Any, int]]:
    """(Result, label) per film, in input order, through the app's engine, with progress;
    ``point``: the operating point (and guard) in force, default the model's."""
    from pneumonia_core.pipeline import classify_many, default_workers

    progress = Progress(len(films.items), stderr)
    paths = [p for p, _ in films.items]
    results = classify_many(paths, bundle, point or model_default(bundle),
                            workers=workers or default_workers())
    for done, (result, (_p, label)) in enumerate(zip(results, films.items, strict=True), 1):
        progress.update(done)
        yield result, label


def usable(pairs: list[tuple[Any, int]], labels: Sequence[str], root: Path | None = None
           ) -> tuple[list[float], list[int], list[dict[str, str]], list[str]]:
    """Logits and labels of the classified films; the excluded ones with their reason.
    A file seen before (same SHA-256) is left out; the same file under both labels is a
    guard-rail error (:class:`~pneumonia_core.site_profile.SiteCalibrationError`)."""
    from pneumonia_core.files import display_path
    from pneumonia_core.site_profile import SiteCalibrationError

    logits: list[float] = []
    y: list[int] = []
    excluded: list[dict[str, str]] = []
    seen: dict[str, tuple[str, int]] = {}
    conflicts: list[str] = []
    for result, label in pairs:
        path = display_path(_relative(result.path, root))
        if result.status != "ok" or result.logit is None:
            excluded.append({"path": path, "reason": f"{result.status}: {result.message}"})
            continue
        first = seen.get(result.file_sha256)
        if first is not None:
            if first[1] != label:
                conflicts.append(f"{first[0]} ({labels[first[1]]}) and {path} ({labels[label]})")
            excluded.append({"path": path, "reason": f"duplicate: same content (SHA-256) as "
                                                     f"{first[0]}"})
            continue
        seen[result.file_sha256] = (path, label)
        logits.append(float(result.logit))
        y.append(label)
    if conflicts:
        raise SiteCalibrationError(
            f"{len(conflicts)} file(s) appear under both labels (same SHA-256): "
            + "; ".join(conflicts[:5]) + ("; ..." if len(conflicts) > 5 else ""))
    return logits, y, excluded, [e["path"] for e in excluded if e["reason"].startswith("dupl")]


def _relative(path: str, root: Path | None) -> str:
    """``path`` relative to the input's folder (the profile records no absolute paths)."""
    if root is None:
        return path
    try:
        return os.path.relpath(path, root)
    except ValueError:  # another drive on Windows
        return path


def build_parser() -> argparse.ArgumentParser:
    from desktop.cli import workers_option

    p = argparse.ArgumentParser(
        prog=PROG,
        description="Fit a site profile (calibration + threshold) on labelled films of this "
        "site. Input: a folder with NORMAL/ and PNEUMONIA/ sub-folders (any depth) or a CSV "
        "of path,label. Exit status: 0 done, 1 model unusable, 2 usage error, 4 the films "
        "cannot support a calibration (nothing written).")
    p.add_argument("source", type=Path, metavar="FOLDER_OR_CSV", nargs="?", default=None,
                   help="a folder with NORMAL/ and PNEUMONIA/ sub-folders, or a CSV of "
                   "path,label (not with --from-reviews)")
    p.add_argument("--from-reviews", action="store_true",
                   help="label the films by the findings readers recorded in the window "
                   "(pneumonia / no pneumonia; not assessable is left out)")
    p.add_argument("--db", type=Path, default=None, metavar="FILE",
                   help="with --from-reviews: the data file (default: the app's own)")
    p.add_argument("--target-sensitivity", type=float, default=None, metavar="S",
                   help="sensitivity the threshold must reach on the films (default: the "
                   "model's own target)")
    p.add_argument("--out", type=Path, default=Path("site_profile.json"), metavar="PROFILE",
                   help="profile to write (default: %(default)s); the plots go beside it")
    p.add_argument("--dry-run", action="store_true",
                   help="fit and print the table, write nothing")
    p.add_argument("--force", action="store_true", help="replace an existing profile")
    p.add_argument("--model-dir", type=Path, default=None, metavar="DIR",
                   help="model folder; default: the bundled model")
    p.add_argument("--workers", type=workers_option, default=None, metavar="N",
                   help="classification threads (default: 2 with two cores or more, else 1)")
    return p


class _Stop(Exception):
    """Ends :func:`run` with an exit status and a message for stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _check_out_replaceable(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise _Stop(EXIT_USAGE, f"{out} exists; pass --force to replace it (kept as is)")
    if not out.parent.is_dir() if str(out.parent) else False:
        raise _Stop(EXIT_USAGE, f"folder {out.parent} does not exist")


def _load_model(model_dir: Path | None) -> Any:
    from pneumonia_core.model import ModelBundle, ModelError
    from pneumonia_core.runtime import quiet_runtime_banner

    try:
        with quiet_runtime_banner():
            return ModelBundle.load(model_dir)
    except ModelError as exc:
        raise _Stop(EXIT_MODEL, f"the model could not be loaded: {exc}") from None


def _target_sensitivity(requested: float | None, meta: Any) -> float:
    from pneumonia_core.calibration import DEFAULT_TARGET_SENSITIVITY

    target = (float(meta.threshold.get("target_sensitivity", DEFAULT_TARGET_SENSITIVITY))
              if requested is None else requested)
    if not 0.0 < target < 1.0:
        raise _Stop(EXIT_USAGE, f"--target-sensitivity must lie in (0, 1); received {target}")
    return target


def _collect_films(src: Path, labels: Sequence[str]) -> Films:
    try:
        if src.is_dir():
            return collect_folder(src, labels)
        if src.is_file():
            return collect_csv(src, labels)
    except InputError as exc:
        raise _Stop(EXIT_USAGE, str(exc)) from None
    raise _Stop(EXIT_USAGE, f"{src} is neither a folder nor a CSV file")


def _films_from_reviews(db: Path | None) -> tuple[Films, Path, dict[str, str]]:
    """The films labelled by reader findings (desktop.calibrate_reviews), the data file, and
    the SHA-256 each finding was recorded on."""
    from desktop import paths
    from desktop.calibrate_reviews import collect
    from desktop.report import ReportError

    db = db if db is not None else paths.review_db_location()
    try:
        items, ignored, expected = collect(db)
    except ReportError as exc:
        raise _Stop(EXIT_USAGE, str(exc)) from None
    return Films(items, ignored), db, expected


def _check_outputs(out: Path, src: Path, films: Films) -> None:
    """The one output rule (desktop.safe_output) for the profile and its plots, before any work."""
    from desktop.safe_output import check_output
    from pneumonia_core import site_profile as sp

    inputs = [src, *(p for p, _ in films.items)]
    problem = check_output(out, "profile", inputs, label="--out") or next(
        (pr for png in sp.plot_paths(out)
         if (pr := check_output(png, "png", inputs, label="plot"))), None)
    if problem:
        raise _Stop(EXIT_USAGE, problem)


def _report_films(films: Films, src: Path, labels: Sequence[str], stderr: TextIO) -> None:
    for item in films.ignored:
        stderr.write(f"  ignored {item['path']}: {item['reason']}\n")
    stderr.write(f"{PROG}: {len(films.items)} labelled film(s) in {src} "
                 f"({sum(1 for _, y in films.items if y == 0)} {labels[0]}, "
                 f"{sum(1 for _, y in films.items if y == 1)} {labels[1]}); "
                 f"{len(films.ignored)} file(s) ignored\n")


def _fit_on_usable(pairs: list[tuple[Any, int]], src: Path, bundle: Any, target: float,
                   stderr: TextIO) -> tuple[Any, int, list[dict[str, str]]]:
    """(the site fit, films used, films left out), after reporting what was left out."""
    from pneumonia_core import site_profile as sp

    labels = list(bundle.metadata.labels)
    try:
        logits, y, excluded, dups = usable(pairs, labels, src if src.is_dir() else src.parent)
        for item in excluded:
            stderr.write(f"  left out {item['path']}: {item['reason']}\n")
        stderr.write(f"{PROG}: {len(y)} film(s) used, {len(excluded)} left out "
                     f"({len(excluded) - len(dups)} error/out of scope, {len(dups)} duplicate)\n")
        if dups:
            stderr.write(f"{PROG}: warning: {len(dups)} duplicate file(s) counted once\n")
        fit = sp.fit_site(logits, y, model_default(bundle), target, label_names=labels)
    except sp.SiteCalibrationError as exc:
        raise _Stop(EXIT_REFUSED, f"{exc}. Nothing was written.") from None
    return fit, len(y), excluded


def _summary(meta: Any, fit: Any, used: int, src: Path, target: float) -> str:
    from pneumonia_core import site_profile as sp

    report = {"before": fit.before, "after": fit.after, "after_cv": fit.after_cv}
    cand = ", ".join(f"{m} {c['cv_log_loss']:.4f}" for m, c in fit.candidates.items())
    return (
        f"Site calibration of {meta.name} {meta.version} (sha256 {meta.sha256[:12]}) on "
        f"{used} films of {src.name or src}\n"
        f"calibration: {fit.method} (cross-validated log loss: {cand}); "
        f"P = sigmoid({fit.scale:.4f} * logit {fit.offset:+.4f})\n"
        f"threshold {fit.threshold:.4f} for sensitivity >= {target:.3f}\n\n"
        + sp.format_table(report) + "\n\n"
        "'site profile' is fitted and measured on the same films (optimistic); "
        f"'site, cross-val.' fits on {sp.CV_FOLDS - 1}/{sp.CV_FOLDS} and measures on the rest "
        "(the honest estimate for new films).\n")


def _sealed_profile(fit: Any, meta: Any, src: Path, excluded: list[dict[str, str]],
                    guard: Any) -> str:
    """The sealed profile text, refused if any reader's bounds would refuse it."""
    from pneumonia_core import __version__
    from pneumonia_core import site_profile as sp

    body = sp.profile_body(fit, meta.sha256, meta.name, meta.version, __version__,
                           source=str(src.name or src), excluded=excluded)
    if guard:
        body["guard"] = guard  # sealed with the rest (issue 21)
    try:  # the bounds every reader applies (pneumonia_core.profile_bounds): never write a
        sp.parse_profile(sp.seal(body), meta.sha256)  # profile that would be refused
    except sp.SiteProfileError as exc:
        raise _Stop(EXIT_REFUSED, f"{exc}. Nothing was written.") from None
    return sp.seal(body)


def _write_profile_and_plots(out: Path, sealed: str, fit: Any, force: bool) -> tuple[Path, Path]:
    """Write the two plots, then the profile; returns the plot paths."""
    from pneumonia_core import site_plots
    from pneumonia_core import site_profile as sp
    from pneumonia_core.atomic_files import atomic_write_bytes

    rel_png, roc_png = sp.plot_paths(out)
    b, a = fit.before, fit.after
    try:
        if out.exists() and not force:
            raise FileExistsError(f"{out} exists; pass --force to replace it")
        atomic_write_bytes(rel_png, site_plots.reliability_png(
            fit.labels, fit.probs_before, fit.probs_after, b["ece_10"], a["ece_10"]))
        atomic_write_bytes(roc_png, site_plots.roc_png(
            fit.labels, fit.probs_after, a["roc_auc"]["value"],
            (1 - b["specificity"]["value"], b["sensitivity"]["value"]),
            (1 - a["specificity"]["value"], a["sensitivity"]["value"])))
        atomic_write_bytes(out, sealed.encode("ascii"))
    except FileExistsError as exc:
        raise _Stop(EXIT_USAGE, str(exc)) from None
    except OSError as exc:
        raise _Stop(EXIT_USAGE, f"cannot write {out}: {exc}") from None
    return rel_png, roc_png


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    try:
        return _run(args, stdout, stderr)
    except _Stop as stop:
        stderr.write(f"{PROG}: error: {stop}\n")
        return stop.code


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    out: Path = args.out
    src: Path = args.source
    if not args.dry_run:
        _check_out_replaceable(out, args.force)
    bundle = _load_model(args.model_dir)
    meta = bundle.metadata
    labels = list(meta.labels)
    target = _target_sensitivity(args.target_sensitivity, meta)
    expected: dict[str, str] = {}
    if args.from_reviews:
        films, src, expected = _films_from_reviews(args.db)
    else:
        films = _collect_films(src, labels)
    if not args.dry_run:
        _check_outputs(out, src, films)
    _report_films(films, src, labels, stderr)
    try:
        from desktop.calibrate_guard import fit_guard

        guard, point = fit_guard([p for p, _ in films.items], bundle, stderr, PROG)
        pairs = list(classify_films(films, bundle, args.workers, stderr, point))
        if expected:
            from desktop.calibrate_reviews import same_content

            pairs = same_content(pairs, expected)
    except KeyboardInterrupt:
        raise _Stop(EXIT_INTERRUPTED, "interrupted; nothing written") from None
    fit, used, excluded = _fit_on_usable(pairs, src, bundle, target, stderr)
    stdout.write(_summary(meta, fit, used, src, target))
    for w in fit.warnings:
        stderr.write(f"{PROG}: warning: {w}\n")
    if args.dry_run:
        stdout.write("dry run: nothing written\n")
        return EXIT_OK
    sealed = _sealed_profile(fit, meta, src, excluded, guard)
    rel_png, roc_png = _write_profile_and_plots(out, sealed, fit, args.force)
    stdout.write(f"wrote {out} (+ {rel_png.name}, {roc_png.name})\n"
                 f"to use it: pneumonia-xray classify ... --site-profile {out}; for this user: "
                 "Tools > Import site profile... in the window; for a workstation or a build: "
                 "docs/site-calibration.md\n")
    log.info("site profile written: %s", out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    from desktop.commands import main_streams

    out, err, args_in = main_streams("calibrate", argv, stdout, stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(args_in)
        if (args.source is None) == (not args.from_reviews):
            parser.error("give FOLDER_OR_CSV or --from-reviews (one of them)")
    except SystemExit as exc:
        return int(exc.code or 0)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=err,
                            format="pneumonia-xray: %(levelname)s: %(message)s")
    return run(args, out, err)
