"""Issue 25, item 3: the local performance report's numbers against a hand-computed case, its
period, its plain-language text, its plots and HTML, and ``pneumonia-xray report``."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image

from desktop import report, report_cli
from desktop.__main__ import is_headless
from desktop.audit import AuditEvent, AuditLog
from desktop.review_store import FlagEntry, ReviewStore

pytestmark = pytest.mark.usefixtures("home")


def film(name: str, p: float | None, status: str = "ok") -> FlagEntry:
    return FlagEntry(path=f"/study/{name}", file_sha256=name.encode().hex().ljust(64, "0"),
                     status=status, probability=p,
                     prediction=("PNEUMONIA" if (p or 0) >= 0.5 else "NORMAL")
                     if status == "ok" else "", threshold=0.5, model_sha256="m" * 64)


def classify_event(name: str, time: str, p: float | None, decision: str) -> AuditEvent:
    f = film(name, p)
    return AuditEvent(action="classify", path=f.path, file_sha256=f.file_sha256,
                      model_sha256=f.model_sha256, probability=p, threshold=0.5,
                      decision=decision, time=time)


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """Reader findings: 4 pneumonia (model flagged 3: TP 3, FN 1), 5 no pneumonia (model
    flagged 1: TN 4, FP 1), 1 not assessable, 1 pneumonia on a film the guard refused.
    Classified films: week 2026-W49 P = 0.1, 0.2, 0.3, 0.9 (one flagged at 0.5); 2026-W50
    P = 0.6, 0.7 (both flagged; the 0.7 film was classified twice, counted once with its
    later result); one refused (out of scope), one outside intended use, one unreadable;
    one event in October, outside the period."""
    db = tmp_path / "review.sqlite3"
    with ReviewStore(db) as store:
        for i, (p, finding) in enumerate([(0.9, "pneumonia"), (0.8, "pneumonia"),
                                          (0.7, "pneumonia"), (0.2, "pneumonia"),
                                          (0.1, "no_pneumonia"), (0.2, "no_pneumonia"),
                                          (0.3, "no_pneumonia"), (0.4, "no_pneumonia"),
                                          (0.95, "no_pneumonia"), (0.6, "not_assessable")]):
            store.record_finding(film(f"f{i}.jpeg", p), p >= 0.5, finding, "", "dr_a")
        store.record_finding(film("guard.jpeg", None, "out_of_scope"), True, "pneumonia")
    with AuditLog(db) as audit:
        audit.append_many([
            classify_event("old.jpeg", "2026-10-01T10:00:00.000+00:00", 0.99, "PNEUMONIA"),
            classify_event("a.jpeg", "2026-11-30T08:00:00.000+00:00", 0.1, "NORMAL"),
            classify_event("b.jpeg", "2026-12-01T08:00:00.000+00:00", 0.2, "NORMAL"),
            classify_event("c.jpeg", "2026-12-02T08:00:00.000+00:00", 0.3, "NORMAL"),
            classify_event("d.jpeg", "2026-12-06T23:59:00.000+00:00", 0.9, "PNEUMONIA"),
            classify_event("e.jpeg", "2026-12-07T08:00:00.000+00:00", 0.6, "PNEUMONIA"),
            classify_event("f.jpeg", "2026-12-07T09:00:00.000+00:00", 0.4, "NORMAL"),
            classify_event("f.jpeg", "2026-12-08T09:00:00.000+00:00", 0.7, "PNEUMONIA"),
            classify_event("g.jpeg", "2026-12-08T10:00:00.000+00:00", None, "out_of_scope"),
            classify_event("h.jpeg", "2026-12-08T10:00:00.000+00:00", None,
                           "outside_intended_use"),
            classify_event("i.jpeg", "2026-12-08T10:00:00.000+00:00", None, "error"),
        ])
    return db


def test_the_reports_numbers_match_the_hand_computed_case(case: Path) -> None:
    r = report.build(case, since="2026-11-01")
    assert (r.tp, r.fn, r.tn, r.fp) == (3, 1, 4, 1)
    assert (r.not_assessable, r.model_unread) == (1, 1)
    assert (r.agreement.k, r.agreement.n) == (7, 9)
    assert r.sensitivity.value == 0.75 and r.specificity.value == 0.8
    # exact intervals by hand from the binomial tails: sensitivity 3/4: P(X>=3 | 4, p) =
    # 4p^3(1-p) + p^4 = 0.025 at p = 0.1941, P(X<=3 | 4, p) = 1 - p^4 = 0.025 at
    # p = 0.975^(1/4) = 0.9937; specificity 4/5: 0.2836 and 0.975^(1/5) = 0.9949;
    # refused 1/9: 1 - 0.975^(1/9) = 0.00281 and P(X<=1 | 9, p) = 0.025 at p = 0.4825.
    assert r.sensitivity.interval == pytest.approx((0.1941, 0.9937), abs=1e-4)
    assert r.specificity.interval == pytest.approx((0.2836, 0.9949), abs=1e-4)
    assert r.agreement.interval == pytest.approx((0.3999, 0.9719), abs=1e-4)  # 7/9, same way
    # films: a b c d e f g h i (f once, its later result; October's film outside the period)
    assert r.films == 9 and (r.refused, r.outside_use, r.unreadable) == (1, 1, 1)
    assert r.refused_rate.interval == pytest.approx((0.00281, 0.4825), abs=1e-4)
    assert [(w.week, w.n, w.flagged) for w in r.weeks] == [("2026-W49", 4, 1),
                                                           ("2026-W50", 2, 2)]
    assert r.weeks[0].quantiles()[2] == pytest.approx(0.25)  # median of 0.1 0.2 0.3 0.9
    assert r.thresholds == [0.5]
    text = report.text(r)
    for needle in ("Sensitivity (films a reader found pneumonia that the model flagged): "
                   "75.0% (3 of 4; 95% CI 19.4-99.4%)",
                   "Specificity (films a reader found no pneumonia that the model did not "
                   "flag): 80.0% (4 of 5; 95% CI 28.4-99.5%)",
                   "The model missed 1 film(s) a reader found pneumonia",
                   "Refused by the out-of-scope guard as not a chest X-ray: 11.1% (1 of 9",
                   "2026-W49      4        1"):
        assert needle in text


def test_the_period_is_inclusive_whole_days(case: Path) -> None:
    r = report.build(case, since="2026-12-07", until="2026-12-07")
    assert r.films == 2 and [w.week for w in r.weeks] == ["2026-W50"]  # e, f (first result)
    # the findings were recorded today: in this period only when today is that day
    assert all(f.recorded_at.startswith("2026-12-07") for f in r.findings)
    assert report.build(case, until="2026-10-01").films == 1
    with pytest.raises(ValueError, match="before --since"):
        report.bounds("2026-12-08", "2026-12-01")
    with pytest.raises(ValueError, match="received '12/07/2026'"):
        report.bounds("12/07/2026")


def test_an_empty_period_says_so_and_rates_are_undefined(case: Path) -> None:
    r = report.build(case, since="2030-01-01")
    assert r.compared == 0 and math.isnan(r.sensitivity.value)
    assert "No reader findings were recorded in this period" in report.text(r)
    assert "No film was classified" in report.text(r)
    assert r.sensitivity.text() == "no films"


def test_plots_and_html(case: Path) -> None:
    r = report.build(case, since="2026-11-01")
    for png in report_plots_of(r).values():
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG" and img.size == (760, 420)
            assert len(img.convert("RGB").getcolors(1 << 16) or ()) > 20  # drawn, not blank
    page = report.html(r)
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == 2
    assert "75.0% (3 of 4; 95% CI 19.4-99.4%)" in page


def report_plots_of(r: report.Report) -> dict[str, bytes]:
    from desktop import report_plots

    return report_plots.plots(r)


def test_report_command(case: Path, tmp_path: Path) -> None:
    assert is_headless(["report"])
    out, err = io.StringIO(), io.StringIO()
    html_out, csv_out = tmp_path / "r.html", tmp_path / "findings.csv"
    code = report_cli.main(["--db", str(case), "--since", "2026-11-01", "--html", str(html_out),
                            "--findings-csv", str(csv_out)], out, err)
    assert code == 0, err.getvalue()
    assert "75.0% (3 of 4" in out.getvalue()
    assert html_out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len(csv_out.read_text(encoding="utf-8").splitlines()) == 1 + 11
    before = case.read_bytes()
    code = report_cli.main(["--db", str(case), "--since", "yesterday"], out, err)
    assert code == report_cli.EXIT_USAGE and "received 'yesterday'" in err.getvalue()
    code = report_cli.main(["--db", str(tmp_path / "none.sqlite3")], out, err)
    assert code == report_cli.EXIT_DATA and "no data file" in err.getvalue()
    # the HTML may not replace a film or another kind of file
    code = report_cli.main(["--db", str(case), "--html", str(csv_out)], out, err)
    assert code == report_cli.EXIT_USAGE and "is not an HTML page" in err.getvalue()
    assert case.read_bytes() == before  # the report only reads
