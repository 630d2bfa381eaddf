#!/usr/bin/env python
"""Screenshot of the REAL window watching a folder (issue 25), under Xvfb: ``watch.png``.

    .venv/bin/python scripts/screenshot_watch.py docs/screenshots [--images DIR]

Starts the window with a throw-away home folder, watches an empty temporary "PACS export"
folder, then copies the validation films (``--images``, default: the shared data's ``val``)
into two study sub-folders, a few at a time, and takes the picture once they are classified:
the status bar's watch line (running counts, Stop button) and the notice of the new flagged
films, the rows in the table and the flagged films on the worklist. Palette PNG < 300 KB (the
helpers of scripts/screenshot.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import DEFAULT_IMAGES, ROOT, pump, run_under_xvfb, save_small_png  # noqa: E402

sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output folder for watch.png")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--size", default="1440x900", help="window size WxH")
    args = ap.parse_args(argv)
    return run_under_xvfb(_shoot, args)


def _shoot(args: argparse.Namespace, tmp: Path) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.qt.app import create_window
    from desktop.settings import Settings

    Settings(first_start_acknowledged=True).save()
    films = sorted(p for p in args.images.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not films:
        sys.stderr.write(f"no images under {args.images}\n")
        return 1
    folder = tmp / "pacs-export"
    folder.mkdir()
    app = QApplication([sys.argv[0]])
    w = create_window(show_first_start=False)
    width, height = (int(v) for v in args.size.split("x"))
    w.resize(width, height)
    w.show()
    w.watch.settle_s = 1.0
    if not w.watch.start(str(folder)):
        return 1
    pump(app, 1.0)
    for i, p in enumerate(films):  # an export arriving, study by study
        dest = folder / f"study-{i % 2 + 1}" / p.name
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(p, dest)
        pump(app, 0.1)
    t0 = time.monotonic()
    while (w.watch.classified < len(films) or w.runner.running) and time.monotonic() - t0 < 120:
        pump(app, 0.1)
    pump(app, 0.5)
    path = args.out / "watch.png"
    size = save_small_png(w.grab().toImage(), path)
    sys.stdout.write(f"{path}: {size / 1000:.0f} KB; {w.watch.label.text()}; status: "
                     f"{w.statusBar().currentMessage()}\n")
    w.watch.stop(quietly=True)
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
