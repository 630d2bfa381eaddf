"""How much the framing of a film moves a trained network's score (issue 21): the film's field
cropped by a fraction on every side and enlarged back (tighter framing, as other equipment,
positioning or collimation gives), against the same film uncropped.

    python -m bench.framing_probe --data ../shared/data/chest_xray/test_public \\
        --run E=../runs/member_e [--run B=...] [--crops 0.04,0.08,0.14] [--json FILE]

Each film is brought to the suite's working size (:func:`bench.shift_suite.load_working`),
cropped, stored as an 8-bit PNG and prepared by the app's own path (``decode_bytes``,
``to_model_input``), then scored by each run's Keras model (guard bypassed, uncalibrated
logits). It prints per crop the ROC AUC and the mean logit change of normal and pneumonia
films: a network that reads framing as evidence moves normal films towards pneumonia when
their field is cropped. Figures on test_public are ours; say so wherever they are reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import member_suite, shift_suite
from pneumonia_core.imageio import decode_bytes, to_model_input
from pneumonia_core.metrics import roc_auc

log = logging.getLogger("bench.framing_probe")

#: Fractions cropped from every side by default (the suite's rotation crops up to about 0.09).
DEFAULT_CROPS = (0.04, 0.08, 0.14)


def cropped(img: np.ndarray, fraction: float) -> np.ndarray:
    """``img`` with ``fraction`` of its height and width cut from each side (0: unchanged)."""
    if not 0 <= fraction < 0.5:
        raise ValueError(f"crop fraction must be in [0, 0.5), received {fraction}")
    h, w = img.shape
    dy, dx = int(round(h * fraction)), int(round(w * fraction))
    return img[dy:h - dy, dx:w - dx]


def prepare(films: Sequence[tuple[str, int]], crops: Sequence[float]) -> np.ndarray:
    """Model inputs (films x (1 + crops), S, S) uint8: each film uncropped, then each crop."""
    rows = []
    for k, (path, _) in enumerate(films, 1):
        img = shift_suite.load_working(Path(path))
        for f in (0.0, *crops):
            data = shift_suite.encode(cropped(img, f), "png8")
            rows.append(to_model_input(decode_bytes(data).pixels, 224))
        if k % 50 == 0 or k == len(films):
            log.info("framing probe: prepared %d/%d films", k, len(films))
    return np.stack(rows).astype(np.uint8)


def summarise(logits: np.ndarray, labels: np.ndarray, crops: Sequence[float]
              ) -> list[dict[str, Any]]:
    """Per crop (0 first): ROC AUC and the mean logit change of each class against crop 0."""
    z = np.asarray(logits, np.float64).reshape(len(labels), 1 + len(crops))
    out = []
    for j, f in enumerate((0.0, *crops)):
        d = z[:, j] - z[:, 0]
        out.append({"crop": f, "roc_auc": roc_auc(labels, z[:, j]),
                    "delta_normal": float(d[labels == 0].mean()),
                    "delta_pneumonia": float(d[labels == 1].mean())})
    return out


def table(results: Mapping[str, list[dict[str, Any]]]) -> str:
    lines = ["| run | crop per side | ROC AUC | logit change, normal | logit change, pneumonia |",
             "|---|---|---|---|---|"]
    for name, rows in results.items():
        lines += [f"| {name} | {r['crop']:.2f} | {r['roc_auc']:.3f} | {r['delta_normal']:+.2f} "
                  f"| {r['delta_pneumonia']:+.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="folders with NORMAL/ and PNEUMONIA/")
    p.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR")
    p.add_argument("--crops", default=",".join(str(c) for c in DEFAULT_CROPS),
                   help="fractions cut from every side, comma-separated")
    p.add_argument("--limit", type=int, default=0, help="every k-th film, as shift_suite")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    runs = member_suite.named_runs(p, args.run)
    try:
        crops = [float(c) for c in args.crops.split(",") if c.strip()]
        for c in crops:
            cropped(np.zeros((8, 8)), c)
    except ValueError as exc:
        p.error(str(exc))
    films = shift_suite.every_kth(shift_suite.list_films(args.data), args.limit)
    labels = np.array([y for _, y in films], int)
    x = prepare(films, crops)
    results = {name: summarise(member_suite.keras_logits(path, x), labels, crops)
               for name, path in runs.items()}
    sys.stdout.write(f"{len(films)} films, guard bypassed, uncalibrated logits\n"
                     + table(results) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"data": [d.name for d in args.data],
                                         "films": len(films), "results": results},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
