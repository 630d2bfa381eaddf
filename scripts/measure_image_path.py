"""Measure the image path (docs/image-path.md): P of the shipped model on the 16 official
full-resolution val films for each candidate preparation and for each of the 14 encodings
of the same pixels, and the throughput of ``classify_file`` before and after.

    PYTHONPATH=$PWD .venv/bin/python scripts/measure_image_path.py [--model resources/model]
        [--data ../shared/data/chest_xray] [--files 320] [--workers 2] [--json OUT.json]

"Before" is the path this project used until the image-path change, rebuilt here: JPEGs
decoded with libjpeg draft reduction (DCT scaling 1/2..1/8, never below 224), other formats
in full, then a bilinear resize. "After" is :func:`pneumonia_core.imageio.to_model_input`.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pneumonia_core.imageio import DecodedImage, decode_bytes, to_model_input  # noqa: E402

log = logging.getLogger("measure_image_path")


# -- the candidate preparations -------------------------------------------------------------

def legacy_decode(data: bytes, size: int) -> DecodedImage:
    """The decoder before the change: JPEG draft reduction to >= ``size``."""
    if not data.startswith(b"\xff\xd8\xff"):
        return decode_bytes(data)
    im = Image.open(io.BytesIO(data))
    im.draft("L" if im.mode == "L" else im.mode, (size, size))
    im.load()
    im = ImageOps.exif_transpose(im)
    return DecodedImage(np.asarray(im.convert("L"), np.uint8), "JPEG", im.size)


def resize_only(gray: np.ndarray, size: int, method: Image.Resampling) -> np.ndarray:
    if gray.shape == (size, size):
        return gray
    return np.asarray(Image.fromarray(gray, mode="L").resize((size, size), method), np.uint8)


def paths_for(size: int) -> dict[str, Callable[[bytes], np.ndarray]]:
    """Candidate preparation name -> bytes to model input."""
    bil, bic = Image.Resampling.BILINEAR, Image.Resampling.BICUBIC
    return {
        "before: draft + bilinear": lambda b: resize_only(legacy_decode(b, size).pixels, size, bil),
        "full decode + bilinear": lambda b: resize_only(decode_bytes(b).pixels, size, bil),
        "full decode + bicubic": lambda b: resize_only(decode_bytes(b).pixels, size, bic),
        "after: full + bicubic + JPEG q75": lambda b: to_model_input(decode_bytes(b).pixels, size),
    }


BEFORE, AFTER = "before: draft + bilinear", "after: full + bicubic + JPEG q75"


def measure_probabilities(films: list[Path], bundle) -> dict:  # noqa: ANN001 (ModelBundle)
    from tests.film_encodings import ENCODINGS

    size = bundle.input_size
    paths = paths_for(size)
    per_film = []
    for i, film in enumerate(films):
        data = film.read_bytes()
        row = {"film": film.name, "label": film.parent.name,
               "p": {k: bundle.predict(fn(data)).probability for k, fn in paths.items()}}
        pixels = decode_bytes(data).pixels
        row["enc"] = {}
        for enc in ENCODINGS:
            blob = enc.build(pixels)
            row["enc"][enc.name] = {k: bundle.predict(fn(blob)).probability
                                    for k, fn in paths.items()}
        per_film.append(row)
        log.info("film %d/%d %s: %s", i + 1, len(films), film.name,
                 ", ".join(f"{k} {v:.3f}" for k, v in row["p"].items()))
    return {"films": per_film, "paths": list(paths)}


def throughput(films: list[Path], model_dir: Path, count: int, workers: int) -> dict:
    """Images/s of ``classify_file`` over ``count`` files (the films repeated), on ``workers``
    threads with one model clone each; before (legacy decoder patched in) and after, in one run."""
    from bench.corpus import repeated_folder
    from bench.throughput import _pool_map
    from pneumonia_core import pipeline
    from pneumonia_core.model import ModelBundle

    bundle = ModelBundle.load(model_dir, num_threads=1)
    size = bundle.input_size

    def run() -> float:
        def per_thread() -> Callable[[Path], object]:
            own = bundle.clone()
            return lambda p: pipeline.classify_file(p, own)

        t0 = time.perf_counter()
        results = _pool_map(per_thread, files, workers)
        dt = time.perf_counter() - t0
        bad = [r for r in results if r.status == pipeline.STATUS_ERROR]
        if bad:
            raise RuntimeError(f"{len(bad)} errors: {bad[0].message}")
        return len(results) / dt

    new_decode, new_input = pipeline.decode_bytes, pipeline.to_model_input
    out: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = repeated_folder(films, count, Path(tmp))
        for p in files[: len(films)]:
            p.read_bytes()
        for _ in range(3):  # interleaved, so both see the same machine load
            pipeline.decode_bytes = lambda data, draft_size=None: legacy_decode(data, size)
            pipeline.to_model_input = lambda g, s: resize_only(g, s, Image.Resampling.BILINEAR)
            try:
                out["before"].append(run())
            finally:
                pipeline.decode_bytes, pipeline.to_model_input = new_decode, new_input
            out["after"].append(run())
    before, after = float(np.median(out["before"])), float(np.median(out["after"]))
    return {"files": count, "workers": workers, "before_per_s": round(before, 1),
            "after_per_s": round(after, 1), "ratio": round(after / before, 3),
            "passes": {k: [round(v, 1) for v in vs] for k, vs in out.items()}}


def markdown(result: dict, point) -> str:  # noqa: ANN001 (OperatingPoint)
    from tests.film_encodings import ENCODINGS

    threshold = point.threshold
    pos = point.is_positive

    films = result["films"]
    names = result["paths"]
    lines = ["| film | label | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for f in films:
        lines.append(f"| {f['film']} | {f['label']} | "
                     + " | ".join(f"{f['p'][k]:.3f}" for k in names) + " |")
    lines += ["", "| preparation | max abs dP vs after | mean abs dP vs after | decisions unlike after "
              "| correct (of 16) |", "|---|---|---|---|---|"]
    for k in names:
        d = [abs(f["p"][k] - f["p"][AFTER]) for f in films]
        flips = sum(pos(f["p"][k]) != pos(f["p"][AFTER]) for f in films)
        right = sum(point.decide(f["p"][k]) == f["label"] for f in films)
        lines.append(f"| {k} | {max(d):.3f} | {np.mean(d):.3f} | {flips} | {right} |")
    lines += ["", "Per encoding, against the plain JPEG film through the same path "
              f"(threshold {threshold:.3f}):", "",
              "| encoding | before: max abs dP | before: decisions changed | after: max abs dP "
              "| after: decisions changed |", "|---|---|---|---|---|"]
    for enc in ENCODINGS:
        cells = []
        for k in (BEFORE, AFTER):
            d = [abs(f["enc"][enc.name][k] - f["p"][k]) for f in films]
            flips = sum(pos(f["enc"][enc.name][k]) != pos(f["p"][k]) for f in films)
            cells += [f"{max(d):.3f}", str(flips)]
        lines.append(f"| {enc.name} | " + " | ".join(cells) + " |")
    t = result.get("throughput")
    if t:
        lines += ["", f"Throughput of classify_file, {t['files']} files on {t['workers']} threads "
                  f"(median of interleaved passes): before {t['before_per_s']}/s, after "
                  f"{t['after_per_s']}/s, ratio {t['ratio']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "model")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "chest_xray")
    p.add_argument("--files", type=int, default=320, help="files for the throughput (0: skip)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pneumonia_core.model import ModelBundle

    films = sorted((args.data / "val").glob("*/*.jpeg"))
    if not films:
        log.error("no full-resolution films in %s", args.data / "val")
        return 1
    bundle = ModelBundle.load(args.model)
    result = measure_probabilities(films, bundle)
    if args.files:
        result["throughput"] = throughput(films, args.model, args.files, args.workers)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(markdown(result, bundle.operating_point) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
