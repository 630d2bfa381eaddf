"""Issue 21: what reducing full-size films before the bicubic resize costs in P.

Compares, with the shipped model and the real pipeline (``classify_bytes``: status and
calibrated P), three preparations of the same files:

- ``exact``: the preparation before issue 21 (whole film decoded and bicubic-resized;
  :func:`bench.throughput.exact_to_model_input`);
- ``a_box``: every format decoded in full, box-reduced by ``reduction_factor``, then bicubic;
- ``b_app``: the app's path (a JPEG reduced in its decoder by DCT scaling, others as ``a_box``);

on: the 16 official val films (JPEG) and the same decoded pixels as PNG, 12-bit and 16-bit
DICOM; test_public films upscaled to 1024 x 1024 (JPEG q90 and PNG); the val films at 1024 px
under the shift suite's families (bench/shift_suite.py: PNG or DICOM); the val films at
1024 px as JPEG. Prints max/mean |dP| and status or decision changes against ``exact``, and
between formats of the same film, for each ``--gaps`` value (REDUCING_GAP).

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_reduction.py --gaps 1 2 --json OUT.json
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dicom_films import dx_dicom_bytes  # noqa: E402
from bench.throughput import exact_to_model_input  # noqa: E402
from pneumonia_core import imageio, pipeline  # noqa: E402
from pneumonia_core.model import ModelBundle  # noqa: E402

log = logging.getLogger("measure_reduction")
DATA = ROOT.parent / "shared" / "data" / "chest_xray"
Outcome = tuple[str, float]


@contextmanager
def preparation(decode: Callable[..., imageio.DecodedImage],
                prepare: Callable[[np.ndarray, int], np.ndarray]) -> Iterator[None]:
    saved = pipeline.decode_bytes, pipeline.to_model_input
    pipeline.decode_bytes, pipeline.to_model_input = decode, prepare
    try:
        yield
    finally:
        pipeline.decode_bytes, pipeline.to_model_input = saved


def _full(data: bytes, draft_size: int | None = None) -> imageio.DecodedImage:
    return imageio.decode_bytes(data)


VARIANTS = {
    "exact": (_full, exact_to_model_input),
    "a_box": (_full, imageio.to_model_input),
    "b_app": (imageio.decode_bytes, imageio.to_model_input),
}


def outcome(data: bytes, bundle: ModelBundle) -> Outcome:
    res = pipeline.classify_bytes("film", data, bundle)
    if res.probability is not None:
        return res.status, res.probability
    decoded = pipeline.decode_bytes(data, draft_size=bundle.input_size)
    gray = pipeline.to_model_input(decoded.pixels, bundle.input_size)
    return res.status, bundle.operating_point.probability(bundle.predict(gray).logit)


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def film_sets(every: int) -> dict[str, list[bytes]]:
    from bench.shift_suite import film_seed, load_working, shifted_bytes

    val = sorted((DATA / "val").glob("*/*.jpeg"))
    sets: dict[str, list[bytes]] = {"val_jpeg": [p.read_bytes() for p in val]}
    pixels = [imageio.decode_bytes(d).pixels for d in sets["val_jpeg"]]
    sets["val_png"] = [_save(Image.fromarray(g), "PNG", compress_level=1) for g in pixels]
    sets["val_dicom12"] = [dx_dicom_bytes(g.astype(np.uint16) * 16, bits_stored=12) for g in pixels]
    sets["val_dicom16"] = [dx_dicom_bytes(g.astype(np.uint16) * 257, bits_stored=16) for g in pixels]
    tp = sorted((DATA / "test_public").glob("*/*.jpeg"))[::every]
    ups = [Image.fromarray(imageio.decode_bytes(p.read_bytes()).pixels).resize(
        (1024, 1024), Image.Resampling.BICUBIC) for p in tp]
    sets["tp1024_jpeg"] = [_save(im, "JPEG", quality=90) for im in ups]
    sets["tp1024_png"] = [_save(im, "PNG", compress_level=1) for im in ups]
    working = [load_working(p) for p in val]
    sets["shift1024"] = [shifted_bytes(w, fam, film_seed(0, p.name, fam))
                         for p, w in zip(val, working, strict=True)
                         for fam in ("plain", "unsharp", "noise", "collimation",
                                     "resolution_bitdepth", "combined")]
    sets["val1024_jpeg"] = [_save(Image.fromarray(np.rint(w).astype(np.uint8)), "JPEG",
                                  quality=90) for w in working]
    return sets


def compare(a: list[Outcome], b: list[Outcome],
            positive: Callable[[float], bool]) -> dict[str, float | int]:
    dp = [abs(x[1] - y[1]) for x, y in zip(a, b, strict=True)]
    return {"n": len(dp), "max_dp": round(max(dp), 4), "mean_dp": round(float(np.mean(dp)), 4),
            "status_changes": sum(x[0] != y[0] for x, y in zip(a, b, strict=True)),
            "decision_changes": sum(positive(x[1]) != positive(y[1])
                                    for x, y in zip(a, b, strict=True))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gaps", type=float, nargs="+", default=[imageio.REDUCING_GAP])
    ap.add_argument("--every", type=int, default=5, help="every Nth test_public film")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not (DATA / "val").is_dir():
        log.error("needs %s", DATA)
        return 2
    bundle = ModelBundle.load()
    thr = bundle.operating_point.is_positive
    sets = film_sets(args.every)
    saved_gap = imageio.REDUCING_GAP
    report: dict[str, dict] = {}
    try:
        for gap in args.gaps:
            imageio.REDUCING_GAP = gap
            got = {}
            for v, (dec, prep) in VARIANTS.items():
                if v == "exact" and report:
                    got[v] = report[next(iter(report))]["_exact"]
                    continue
                with preparation(dec, prep):
                    got[v] = {s: [outcome(d, bundle) for d in items] for s, items in sets.items()}
            rows = {}
            for s in sets:
                for v in ("a_box", "b_app"):
                    rows[f"{s} {v} vs exact"] = compare(got[v][s], got["exact"][s], thr)
            for v in VARIANTS:
                for s in ("val_png", "val_dicom12", "val_dicom16"):
                    rows[f"{v}: val_jpeg vs {s}"] = compare(got[v]["val_jpeg"], got[v][s], thr)
                rows[f"{v}: tp1024_jpeg vs tp1024_png"] = compare(got[v]["tp1024_jpeg"],
                                                                  got[v]["tp1024_png"], thr)
            report[f"gap {gap:g}"] = {"rows": rows, "_exact": got["exact"]}
            for k, r in rows.items():
                log.info("gap %g  %-40s n=%3d max|dP| %.4f mean %.4f status %d decision %d",
                         gap, k, r["n"], r["max_dp"], r["mean_dp"], r["status_changes"],
                         r["decision_changes"])
    finally:
        imageio.REDUCING_GAP = saved_gap
    if args.json:
        args.json.write_text(json.dumps({k: v["rows"] for k, v in report.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
