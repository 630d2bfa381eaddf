"""The out-of-scope guard's cost per film (issue 21): the pixel and layout checks
(:func:`pneumonia_core.scope.check_pixels`) and the feature-distance check, against the whole
classification of the same film (:func:`pneumonia_core.pipeline.classify_bytes`), for one or
two model folders (e.g. the shipped one and a refitted candidate) in one run, so the ratio is
measured on the same machine at the same time.

    python -m bench.guard_cost --data ../shared/data/chest_xray/test_public [--model A] [--model B]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def measure(model_dir: str | None, files: list[Path], repeats: int = 3) -> dict[str, float]:
    """Median milliseconds per film: ``pixels`` (check_pixels), ``embedding``
    (check_embedding), ``classify`` (classify_bytes, decode to decision)."""
    from pneumonia_core import scope
    from pneumonia_core.imageio import load_image
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import classify_bytes

    bundle = ModelBundle.load(model_dir)
    stats = bundle.metadata.scope
    grays = [load_image(p, bundle.input_size) for p in files]
    embs = [bundle.predict(g).embedding for g in grays]
    data = [p.read_bytes() for p in files]

    def per_film(fn) -> float:  # noqa: ANN001
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t0) * 1000 / len(files))
        return float(np.median(runs))

    return {
        "pixels": per_film(lambda: [scope.check_pixels(g, stats) for g in grays]),
        "embedding": per_film(lambda: [scope.check_embedding(e, stats) for e in embs]),
        "classify": per_film(lambda: [classify_bytes(str(p), d, bundle)
                                      for p, d in zip(files, data, strict=True)]),
        "field_crop": float(bool(stats.get("pixels", {}).get("field"))),
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of films (searched recursively)")
    ap.add_argument("--model", action="append", default=None,
                    help="model folder (repeat for two; default: the bundled model)")
    ap.add_argument("--limit", type=int, default=200)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    files = files[:: max(len(files) // args.limit, 1)][: args.limit]
    models = args.model or [None]
    rows = [(m or "bundled model", measure(m, files)) for m in models]
    base = rows[0][1]
    sys.stdout.write(f"{len(files)} films, one thread; ms per film (ratio to the first model)\n"
                     "| model | pixel + layout checks | feature distance | whole classify_bytes | "
                     "guard share |\n|---|---|---|---|---|\n")
    for name, r in rows:
        share = (r["pixels"] + r["embedding"]) / r["classify"]
        sys.stdout.write(f"| {name} | {r['pixels']:.3f} ({r['pixels'] / base['pixels']:.2f}x) | "
                         f"{r['embedding']:.3f} | {r['classify']:.3f} "
                         f"({r['classify'] / base['classify']:.2f}x) | {share:.0%} |\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
