"""The local performance report (issue 25): how the model does on THIS site's films, measured
against the findings its readers recorded (Qt-free).

Read from the data file only (opened read-only, nothing written), over a chosen period:

- the reader findings (:mod:`desktop.findings`) recorded in the period, each with the model's
  result for the film at that moment: agreement, sensitivity (films a reader found
  "pneumonia" that the model flagged) and specificity (films found "no pneumonia" that the
  model did not flag), each with an exact 95% (Clopper-Pearson) interval
  (:func:`pneumonia_core.metrics.clopper_pearson`); "not assessable" findings and films the
  model could not read are counted apart, never in these rates;
- the films classified in the window in the period (audit ``classify`` events, each film
  counted once, its latest result): the share the out-of-scope guard refused as not a chest
  X-ray, the share outside the intended use, the share unreadable, each with its interval;
- the distribution of P(pneumonia) per ISO week (drift) and the share flagged each week.

:func:`build` computes a :class:`Report`; :func:`text` says it in plain language;
:func:`html` writes a standalone HTML page with the plots inline (:mod:`desktop.report_plots`,
Pillow PNGs: the app ships no plotting library). ``pneumonia-xray report`` is
:mod:`desktop.report_cli`; the window's Tools > Performance report is
:mod:`desktop.qt.report_dialog`.
"""

from __future__ import annotations

import base64
import html as html_mod
import logging
import math
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from desktop.findings import FINDING_TEXT, NO_PNEUMONIA, NOT_ASSESSABLE, PNEUMONIA, Finding
from desktop.review_store import read_findings
from desktop.sqlite_util import refuse_newer_format, utc_now
from pneumonia_core.decision import at_or_above
from pneumonia_core.metrics import clopper_pearson

log = logging.getLogger(__name__)

#: Audit decisions of films the model gave no reading (decision = the result's status).
REFUSED = "out_of_scope"
OUTSIDE_USE = "outside_intended_use"
UNREADABLE = "error"


class ReportError(RuntimeError):
    """The data file cannot be read for a report; the message is meant for the user."""


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its exact 95% interval (NaN when ``n`` is 0)."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.k, self.n)

    def text(self) -> str:
        """``83.3% (10 of 12; 95% CI 51.6-97.9%)``, or ``no films`` when n is 0."""
        if not self.n:
            return "no films"
        lo, hi = self.interval
        return (f"{100 * self.value:.1f}% ({self.k} of {self.n}; 95% CI "
                f"{100 * lo:.1f}-{100 * hi:.1f}%)")


@dataclass
class Week:
    """P(pneumonia) of the films classified in one ISO week (``2026-W49``)."""

    week: str
    probabilities: list[float] = field(default_factory=list)
    flagged: int = 0

    @property
    def n(self) -> int:
        return len(self.probabilities)

    def quantiles(self) -> tuple[float, float, float, float, float]:
        """5th, 25th, 50th, 75th and 95th percentiles of P."""
        q = np.percentile(np.asarray(self.probabilities, dtype=np.float64), [5, 25, 50, 75, 95])
        return tuple(float(v) for v in q)  # type: ignore[return-value]


@dataclass
class Report:
    """Everything the report shows (see the module docstring)."""

    since: str
    until: str
    generated: str
    findings: list[Finding]
    tp: int = 0  # reader pneumonia, model flagged
    fn: int = 0  # reader pneumonia, model not flagged (a missed pneumonia)
    tn: int = 0  # reader no pneumonia, model not flagged
    fp: int = 0  # reader no pneumonia, model flagged
    not_assessable: int = 0
    model_unread: int = 0  # a finding on a film the model gave no reading
    films: int = 0  # distinct films classified in the period
    refused: int = 0
    outside_use: int = 0
    unreadable: int = 0
    weeks: list[Week] = field(default_factory=list)
    thresholds: list[float] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return self.tp + self.fn + self.tn + self.fp

    @property
    def agreement(self) -> Rate:
        return Rate(self.tp + self.tn, self.compared)

    @property
    def sensitivity(self) -> Rate:
        return Rate(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> Rate:
        return Rate(self.tn, self.tn + self.fp)

    @property
    def refused_rate(self) -> Rate:
        return Rate(self.refused, self.films)

    @property
    def outside_use_rate(self) -> Rate:
        return Rate(self.outside_use, self.films)

    @property
    def unreadable_rate(self) -> Rate:
        return Rate(self.unreadable, self.films)

    @property
    def period(self) -> str:
        since = self.since or "the first record"
        until = (f"{self.until} (inclusive)" if self.until else "now")
        return f"{since} to {until}"


# -- period ----------------------------------------------------------------------------------
def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` -> date; ValueError naming what was received."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"a date is YYYY-MM-DD; received {text!r}") from None


def bounds(since: str = "", until: str = "") -> tuple[str, str]:
    """The stored-time bounds ``[lo, hi)`` of a period of whole days (UTC); ``until`` is
    inclusive. "" leaves a side open. ValueError when ``until`` is before ``since``."""
    lo = parse_day(since).isoformat() if since else ""
    hi = (parse_day(until) + timedelta(days=1)).isoformat() if until else ""
    if lo and hi and hi <= lo:
        raise ValueError(f"--until {until} is before --since {since}")
    return lo, hi


def iso_week(stamp: str) -> str:
    """``2026-12-07T09:00:00+00:00`` -> ``2026-W50``."""
    year, week, _ = datetime.fromisoformat(stamp).isocalendar()
    return f"{year}-W{week:02d}"


# -- computation -----------------------------------------------------------------------------
def compare(report: Report) -> None:
    """Fill the model-against-reader counts of ``report`` from its findings."""
    for f in report.findings:
        if f.finding == NOT_ASSESSABLE:
            report.not_assessable += 1
            continue
        positive = f.model_positive
        if positive is None:
            report.model_unread += 1
        elif f.finding == PNEUMONIA:
            report.tp += positive
            report.fn += not positive
        elif f.finding == NO_PNEUMONIA:
            report.tn += not positive
            report.fp += positive


def classifications(db: sqlite3.Connection, lo: str, hi: str) -> list[tuple]:
    """(time, path, sha, probability, threshold, decision, model) of the ``classify`` events in
    ``[lo, hi)``, oldest first."""
    return db.execute(
        "SELECT time, path, file_sha256, probability, threshold, decision, model_sha256 "
        "FROM audit WHERE action = 'classify' AND time >= ? AND (? = '' OR time < ?) "
        "ORDER BY id", (lo, hi, hi)).fetchall()


def summarise_films(report: Report, events: list[tuple]) -> None:
    """Fill the film counts and weeks of ``report`` from ``classify`` events: each film (by
    content; by path when it could not be read) counts once, with its latest result, in the
    week of that result."""
    latest: dict[str, tuple] = {}
    for ev in events:
        latest[ev[2] or f"path:{ev[1]}"] = ev
    weeks: dict[str, Week] = defaultdict(lambda: Week(""))
    thresholds, models = set(), set()
    for time, _path, _sha, p, t, decision, model in latest.values():
        report.films += 1
        report.refused += decision == REFUSED
        report.outside_use += decision == OUTSIDE_USE
        report.unreadable += decision == UNREADABLE
        models.add(model[:12])
        if p is None or decision in (REFUSED, OUTSIDE_USE, UNREADABLE):
            continue
        week = weeks[iso_week(time)]
        week.week = iso_week(time)
        week.probabilities.append(float(p))
        if t is not None:
            thresholds.add(round(float(t), 6))
            week.flagged += bool(at_or_above(float(p), float(t)))
    report.weeks = sorted(weeks.values(), key=lambda w: w.week)
    report.thresholds = sorted(thresholds)
    report.models = sorted(m for m in models if m)


def open_read_only(db_path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The data file, read-only (a report never writes); ReportError naming the cause."""
    path = Path(db_path)
    if not path.is_file():
        raise ReportError(f"no data file at {path}: nothing has been classified or recorded "
                          "there yet")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        refuse_newer_format(db, path)
        db.execute("SELECT 1 FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the data file {path}: {exc}") from None
    return db


def build(db_path: str | os.PathLike[str], since: str = "", until: str = "") -> Report:
    """The report of the data file over ``since`` .. ``until`` (inclusive days, UTC; "" open).
    Raises ValueError for a bad period, ReportError when the file cannot be read."""
    lo, hi = bounds(since, until)
    db = open_read_only(db_path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        found = read_findings(db, lo, hi) if "findings" in tables else []
        events = classifications(db, lo, hi) if "audit" in tables else []
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the data file {db_path}: {exc}") from None
    finally:
        db.close()
    report = Report(since, until, utc_now()[:16].replace("T", " ") + " UTC", found)
    compare(report)
    summarise_films(report, events)
    return report


# -- plain language --------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def findings_lines(r: Report) -> list[str]:
    """The model-against-readers part, in plain language."""
    if not r.findings:
        return ["No reader findings were recorded in this period, so the model cannot be "
                "compared with its readers yet. Record findings in the window (Review > "
                "Record finding: P, C, A)."]
    counts = {k: sum(1 for f in r.findings if f.finding == k) for k in FINDING_TEXT}
    lines = [f"Readers recorded {len(r.findings)} finding(s): "
             + ", ".join(f"{n} {FINDING_TEXT[k]}" for k, n in counts.items()) + "."]
    lines.append(f"Agreement of the model with its readers: {r.agreement.text()} of the films "
                 "a reader found pneumonia or no pneumonia and the model read.")
    lines.append(f"Sensitivity (films a reader found pneumonia that the model flagged): "
                 f"{r.sensitivity.text()}.")
    if r.fn:
        lines.append(f"The model missed {r.fn} film(s) a reader found pneumonia: each is on "
                     "the worklist as a reader finding.")
    lines.append(f"Specificity (films a reader found no pneumonia that the model did not "
                 f"flag): {r.specificity.text()}.")
    if r.not_assessable or r.model_unread:
        lines.append(f"Not counted in these rates: {r.not_assessable} film(s) a reader found "
                     f"not assessable, {r.model_unread} film(s) the model gave no reading "
                     "(unreadable, not a chest X-ray, outside the intended use).")
    lines.append("Readers record findings mostly on films they look at, so these rates "
                 "describe those films, not every film the model read; with few films the "
                 "intervals are wide.")
    return lines


def films_lines(r: Report) -> list[str]:
    """The films classified in the period, and drift."""
    if not r.films:
        return ["No film was classified in the window in this period."]
    lines = [f"{r.films} film(s) were classified in the window in this period (each counted "
             "once, with its latest result).",
             f"Refused by the out-of-scope guard as not a chest X-ray: {r.refused_rate.text()}.",
             f"Outside the intended use (e.g. a lateral view or an adult, from DICOM tags): "
             f"{r.outside_use_rate.text()}.",
             f"Could not be read: {r.unreadable_rate.text()}."]
    if r.weeks:
        first, last = r.weeks[0], r.weeks[-1]
        span = (f"median {_pct(first.quantiles()[2])} in {first.week} ({first.n} films)"
                + ("" if first is last else f", {_pct(last.quantiles()[2])} in {last.week} "
                   f"({last.n} films) over {len(r.weeks)} weeks"))
        lines.append(
            f"P(pneumonia) per week: {span}. A lasting shift of the distribution or of the share flagged can mean the films "
            "have changed (another machine, another population) and the site profile may "
            "need refitting (Tools > Calibrate…).")
    if len(r.thresholds) > 1:
        lines.append("The threshold changed within the period ("
                     + ", ".join(_pct(t) for t in r.thresholds) + "): the share flagged per "
                     "week follows it.")
    return lines


def text(r: Report) -> str:
    """The report as plain text (``pneumonia-xray report`` prints it)."""
    out = [f"Local performance report, {r.period} (generated {r.generated})", "",
           "Model against reader findings", *("  " + line for line in findings_lines(r)), "",
           "Films classified", *("  " + line for line in films_lines(r))]
    if r.weeks:
        out += ["", "  week       films  flagged  P: 5%  25%  median  75%  95%"]
        for w in r.weeks:
            q = w.quantiles()
            out.append(f"  {w.week}  {w.n:5d}  {w.flagged:7d}  "
                       + "  ".join(f"{100 * v:4.1f}" for v in q))
    out += ["", DISCLAIMER]
    return "\n".join(out) + "\n"


DISCLAIMER = ("pneumonia-xray is a triage aid for pediatric frontal chest films, not a "
              "diagnosis. Reader findings are the site's own labels; they are not a reference "
              "standard.")


def html(r: Report, image_src: Callable[[str, bytes], str] | None = None) -> str:
    """A standalone HTML page of the report with its plots. ``image_src(name, png)`` gives
    each plot's ``src`` (default: an inline ``data:`` URI; the window uses resources)."""
    from desktop import report_plots

    src = image_src or (lambda _n, png: "data:image/png;base64,"
                        + base64.b64encode(png).decode("ascii"))
    e = html_mod.escape
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{e(rate.text())}</td></tr>"
        for name, rate in (("Agreement", r.agreement), ("Sensitivity", r.sensitivity),
                           ("Specificity", r.specificity),
                           ("Refused by the guard", r.refused_rate),
                           ("Outside the intended use", r.outside_use_rate),
                           ("Could not be read", r.unreadable_rate)))
    table = (
        "<table border='1' cellspacing='0' cellpadding='4'>"
        "<tr><th></th><th>model flagged</th><th>model did not flag</th></tr>"
        f"<tr><th>reader: pneumonia</th><td>{r.tp}</td><td>{r.fn}</td></tr>"
        f"<tr><th>reader: no pneumonia</th><td>{r.fp}</td><td>{r.tn}</td></tr></table>")
    plots = []
    for name, png in report_plots.plots(r).items():
        plots.append(f"<p><img src='{e(src(name, png))}' alt='{e(name)}' width='640'></p>")
    para = "".join(f"<p>{e(line)}</p>" for line in findings_lines(r))
    films = "".join(f"<p>{e(line)}</p>" for line in films_lines(r))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pneumonia-xray: local "
        "performance report</title></head><body style='font-family: sans-serif'>"
        f"<h1>Local performance report</h1><p>Period: {e(r.period)}. Generated "
        f"{e(r.generated)}.</p>"
        f"<h2>Model against reader findings</h2>{para}{table}"
        f"<h2>Rates with exact 95% intervals</h2><table border='1' cellspacing='0' "
        f"cellpadding='4'><tr><th>measure</th><th>value</th></tr>{rows}</table>"
        f"<h2>Films classified and drift</h2>{films}{''.join(plots)}"
        f"<p><i>{e(DISCLAIMER)}</i></p></body></html>")
