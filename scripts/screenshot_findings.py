#!/usr/bin/env python
"""Screenshots of reader findings, the local performance report and Tools > Calibrate… in the
REAL window under Xvfb: ``findings.png``, ``report.png`` (its text) and ``report_plots.png``
(scrolled to its plots), and ``calibrate.png``.

    .venv/bin/python scripts/screenshot_findings.py docs/screenshots [--images DIR] [--n N]

Opens N films of each class of ``--images`` (default: the shared data's ``test_public``, whose
folders carry the official labels) and records, as a reader would, the finding its folder
names on every film ("pneumonia" under PNEUMONIA/, "no pneumonia" under NORMAL/): the report
then compares the model with those labels. Shows a film the model did not flag that is
labelled pneumonia (a reader finding on the worklist) when there is one. Throw-away home
folder; Xvfb started when no DISPLAY is set (as scripts/screenshot.py, whose helpers it uses).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import screenshot as shots  # noqa: E402  (scripts/screenshot.py: Xvfb, pump, small PNGs)

DEFAULT_IMAGES = shots.DEFAULT_IMAGES.parent / "test_public"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--n", type=int, default=200, help="films of each class (at most; 200: all of test_public)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    xvfb = shots.start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="pneumonia-shot-"))
    os.environ["PNEUMONIA_XRAY_HOME"] = str(tmp / "home")
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    try:
        return _shoot(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()


def _study(images: Path, dest: Path, n: int) -> dict[str, str]:
    """Copy ``n`` films of each class; returns the finding of each copied path."""
    labels = {}
    for folder, finding in (("NORMAL", "no_pneumonia"), ("PNEUMONIA", "pneumonia")):
        files = sorted((images / folder).glob("*.jpeg"))
        for p in files[:: max(1, len(files) // n)][:n]:
            target = dest / folder / p.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
            labels[str(target)] = finding
    return labels


def _shoot(args: argparse.Namespace, tmp: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.qt import calibrate_dialog, finding_actions, report_dialog
    from desktop.qt.app import create_window
    from desktop.settings import Settings

    Settings(first_start_acknowledged=True).save()
    labels = _study(args.images, tmp / "study", args.n)
    app = QApplication([sys.argv[0]])
    w = create_window(show_first_start=False)
    w.resize(1440, 900)
    w.show()
    rows = shots._classify_folder(app, w, tmp / "study")
    for r in rows:
        if r.status == "ok" and r.path in labels:
            finding_actions.record(w, labels[r.path], film=r)
    missed = [r for r in rows if r.status == "ok" and not r.flagged
              and labels.get(r.path) == "pneumonia"]
    target = missed[0] if missed else next(r for r in rows if r.status == "ok")
    w.show_path(target.path)
    shots._wait_shown(app, w, target.path)
    finding_actions.record(w, labels[target.path], "seen on review of the NORMAL list",
                           film=target)
    shots.pump(app, 0.8)
    sizes = {"findings.png": shots.save_small_png(w.grab().toImage(), args.out / "findings.png")}
    d = report_dialog.open_report(w)
    d.all_time.setChecked(True)
    d.refresh()
    while d.report is None or d._worker is not None and not d.refresh_button.isEnabled():
        shots.pump(app, 0.1)
    d.resize(900, 1000)
    shots.pump(app, 0.8)
    sizes["report.png"] = shots.save_small_png(d.grab().toImage(), args.out / "report.png")
    bar = d.view.verticalScrollBar()
    bar.setValue(bar.maximum())  # the plots
    shots.pump(app, 0.5)
    sizes["report_plots.png"] = shots.save_small_png(d.grab().toImage(),
                                                     args.out / "report_plots.png")
    d.close()
    c = calibrate_dialog.open_calibrate(w)
    # Tools > Calibrate… on the reader findings just recorded (0.98: see tests' TARGET)
    next(b for b in c.kind.buttons() if b.property("kind") == "findings").click()
    c.target.setValue(0.98)
    c.out.setText(str(tmp / "site_profile.json"))
    c.start(force=False)
    while c.running:
        shots.pump(app, 0.2)
    shots.pump(app, 0.5)
    sizes["calibrate.png"] = shots.save_small_png(c.grab().toImage(),
                                                  args.out / "calibrate.png")
    for name, n in sizes.items():
        sys.stdout.write(f"{args.out / name}: {n / 1000:.0f} KB\n")
    sys.stdout.write(f"{len(rows)} films; missed pneumonias on the worklist: {len(missed)}\n")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
