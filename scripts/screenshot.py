#!/usr/bin/env python
"""Screenshots of the REAL app window under Xvfb: ``app.png`` (an X-ray in the preview, its
probability bar, the worklist of flagged films), ``heatmap.png`` (the same with the
class-activation overlay and its legend), ``dicom.png`` (a DICOM film with the patient, study
date and view overlay and columns), ``dark.png`` (the dark reading-room theme), ``audit.png``
(the audit trail filtered to review actions) and ``shortcuts.png`` (Help > Keyboard
shortcuts).

    .venv/bin/python scripts/screenshot.py docs/screenshots [--images DIR] [--model DIR]

Starts ``Xvfb`` itself when no DISPLAY is set. The study opened is the validation images
(``--images``, default: the shared data's ``val`` folder) plus one colour photograph and one
truncated file, so the flagged list also shows how unassessable inputs are flagged, plus one
DICOM file made from the first film with made-up demographics ("Demo^Patient"). The app
runs with a throw-away home folder (no effect on the user's review list). Images are saved
as palette PNGs, below 300 KB each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_IMAGES = Path(os.environ.get(
    "PNEUMONIA_DATA", ROOT.parent / "shared" / "data" / "chest_xray")) / "val"
MAX_BYTES = 300_000


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    for n in range(99, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    return proc


def build_study(images: Path, dest: Path) -> Path:
    import numpy as np
    from PIL import Image

    files = sorted(p for p in images.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise SystemExit(f"no images under {images}")
    for p in files:
        target = dest / p.relative_to(images)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    extra = dest / "other"
    extra.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[..., 0] = np.linspace(30, 220, 400)[None, :]
    photo[..., 1] = np.linspace(200, 60, 300)[:, None]
    photo[..., 2] = rng.integers(0, 255, (300, 400))
    Image.fromarray(photo).save(extra / "holiday_photo.png")
    data = files[0].read_bytes()
    (extra / "upload_truncated.jpeg").write_bytes(data[: len(data) // 5])
    write_demo_dicom(files[-1], dest / "dicom" / "demo_patient.dcm")
    return dest


DEMO_TAGS = {"PatientName": "Demo^Patient", "PatientID": "DEMO-0001",
             "StudyDate": "20240131", "ViewPosition": "PA"}


def write_demo_dicom(source: Path, dest: Path) -> Path:
    """A 12-bit DX DICOM of ``source``'s pixels with made-up demographics (no real patient)."""
    import numpy as np
    from PIL import Image

    from bench.dicom_films import write_dx_dicom

    gray = np.asarray(Image.open(source).convert("L"), dtype=np.uint16) * 15 + 40  # <= 4095
    return write_dx_dicom(dest, gray, "MONOCHROME2", 12, **DEMO_TAGS)


def save_small_png(qimage, path: Path) -> int:
    """Save a QImage as an optimised palette PNG under MAX_BYTES."""
    import io

    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    qimage.save(buf, "PNG")
    im = Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB")
    for colours in (256, 160, 96, 64):
        out = io.BytesIO()
        im.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out, "PNG", optimize=True)
        if out.tell() <= MAX_BYTES:
            break
    path.write_bytes(out.getvalue())
    return out.tell()


def pump(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path,
                    help="output folder for app.png, heatmap.png, dicom.png, dark.png, "
                    "audit.png and shortcuts.png")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: bundled)")
    ap.add_argument("--size", default="1440x900", help="window size WxH")
    args = ap.parse_args(argv)
    return run_under_xvfb(_shoot, args)


def run_under_xvfb(shoot, args: argparse.Namespace) -> int:  # noqa: ANN001
    """``shoot(args, tmp)`` with Xvfb (when no DISPLAY), a throw-away app home under ``tmp``
    and ``args.model`` (if any) as the model; everything removed afterwards."""
    args.out.mkdir(parents=True, exist_ok=True)
    xvfb = start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="pneumonia-shot-"))
    os.environ["PNEUMONIA_XRAY_HOME"] = str(tmp / "home")
    if getattr(args, "model", None) is not None:
        os.environ["PNEUMONIA_XRAY_MODEL_DIR"] = str(args.model)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    try:
        return shoot(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()


def _shoot(args: argparse.Namespace, tmp: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.qt.app import create_window
    from desktop.settings import Settings

    Settings(first_start_acknowledged=True).save()
    study = build_study(args.images, tmp / "study")
    app = QApplication([sys.argv[0]])
    w = create_window(show_first_start=False)
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()
    rows = _classify_folder(app, w, study)
    ok = [r for r in rows if r.status == "ok"]
    if not ok:
        sys.stderr.write("no image was classified in scope; nothing to show\n")
        return 1
    target, entries = _show_likeliest_positive(app, w, ok)
    sizes = {"app.png": save_small_png(w.grab().toImage(), args.out / "app.png")}
    w.set_heatmap(True)
    pump(app, 0.5)
    sizes["heatmap.png"] = save_small_png(w.grab().toImage(), args.out / "heatmap.png")
    w.set_heatmap(False)
    # A DICOM film: patient, study date and view on the film and in the list's columns.
    dicom = next((r for r in rows if r.path.endswith(".dcm")), None)
    if dicom is not None:
        w.show_path(dicom.path)
        _wait_shown(app, w, dicom.path)
        # Default window: W/L shown in the file's own (12-bit) stored units.
        pump(app, 0.5)
        sizes["dicom.png"] = save_small_png(w.grab().toImage(), args.out / "dicom.png")
    # The dark reading-room theme, on the most likely positive film again.
    w.set_dark_theme(True)
    w.show_path(target.path)
    _wait_shown(app, w, target.path)
    pump(app, 0.5)
    sizes["dark.png"] = save_small_png(w.grab().toImage(), args.out / "dark.png")
    w.set_dark_theme(False)
    sizes.update(_shoot_dialogs(app, w, args.out))
    for name, n in sizes.items():
        sys.stdout.write(f"{args.out / name}: {n / 1000:.0f} KB\n")
    sys.stdout.write(f"shown: {target.path} p={target.probability:.3f}; "
                     f"{len(rows)} rows, {len(entries)} flagged\n")
    w.close()
    return 0


def _shoot_dialogs(app, w, out: Path) -> dict[str, int]:  # noqa: ANN001
    """``audit.png`` (the audit trail filtered to the review actions) and ``shortcuts.png``
    (Help > Keyboard shortcuts)."""
    from desktop.qt import menus

    sizes = {}
    audit = menus.audit_dialog(w)
    audit.filter_bar.set_choice("review")
    pump(app, 0.3)
    sizes["audit.png"] = save_small_png(audit.grab().toImage(), out / "audit.png")
    audit.close()
    keys = menus.shortcuts_dialog(w)
    pump(app, 0.3)
    sizes["shortcuts.png"] = save_small_png(keys.grab().toImage(), out / "shortcuts.png")
    keys.close()
    return sizes


def _classify_folder(app, w, folder: Path) -> list:  # noqa: ANN001
    """Open ``folder`` in the window and wait (at most 5 minutes) for the run to finish."""
    done: list[bool] = []
    w.runner.finished.connect(lambda cancelled: done.append(cancelled))
    w.open_paths([str(folder)])
    t0 = time.monotonic()
    while not done and time.monotonic() - t0 < 300:
        pump(app, 0.1)
    return w.results.rows()


def _show_likeliest_positive(app, w, ok: list) -> tuple:  # noqa: ANN001
    """Show the most likely positive film, selected in the flagged list, with one other flagged
    entry marked as reviewed; returns (that film's row, the flagged entries)."""
    from PySide6.QtCore import Qt

    from desktop.qt.table_models import ROW_ROLE

    target = max(ok, key=lambda r: r.probability or 0.0)
    entries = w.flagged.model.entries()
    other = next((e for e in entries if e.path != target.path and e.status == "ok"), None)
    if other is not None:
        w.set_review(other, "reviewed", "read by radiologist, no consolidation")
    w.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # most likely first
    w.show_path(target.path)
    pump(app, 0.3)
    t0 = time.monotonic()
    while (w.viewer.pixels is None or w.previews.cache.get(target.path) is None) \
            and time.monotonic() - t0 < 60:
        pump(app, 0.1)
    for i in range(w.flagged.proxy.rowCount()):
        if w.flagged.proxy.index(i, 0).data(ROW_ROLE).path == target.path:
            w.flagged.select_row(i)
    w.show_path(target.path)
    pump(app, 0.5)
    return target, entries


def _wait_shown(app, w, path: str, seconds: float = 60) -> None:  # noqa: ANN001
    from pneumonia_core.files import display_path

    t0 = time.monotonic()
    while w.shown_path != display_path(path) and time.monotonic() - t0 < seconds:
        pump(app, 0.1)


if __name__ == "__main__":
    sys.exit(main())
