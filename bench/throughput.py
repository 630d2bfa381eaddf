"""End-to-end folder throughput on full-resolution JPEGs.

Variants, all over the same files:

- ``app_1t``: the app's code path, :func:`pneumonia_core.pipeline.classify_file` per file
  (read once, SHA-256, draft decode, resize, scope checks, LiteRT with the shipped model, calibrated decision).
- ``app_2t`` (workers = usable cores): the same per file through the app's parallel engine,
  :func:`pneumonia_core.pipeline.classify_many` (one model clone per thread, input order).
- ``naive``: the seed's way: full decode (no JPEG draft), resize, Keras ``model.predict`` per image.
- ``decode_only_1t`` / ``decode_only_2t``: read + ``decode_bytes(draft_size=S)`` +
  ``to_model_input``, the same decoder settings as the app: the limit decoding sets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import Throughput, median_pass

log = logging.getLogger(__name__)


def _pool_map(fn_factory: Callable[[], Callable[[Path], Any]], paths: list[Path],
              workers: int) -> list[Any]:
    """Map over ``paths`` on ``workers`` threads, each thread with its own ``fn_factory()``."""
    local = threading.local()

    def work(p: Path) -> Any:
        fn = getattr(local, "fn", None)
        if fn is None:
            fn = local.fn = fn_factory()
        return fn(p)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, paths))


def decode_only(paths: list[Path], size: int, workers: int = 1) -> int:
    from pneumonia_core.imageio import decode_bytes, read_file_bytes, to_model_input

    def one(p: Path) -> np.ndarray:
        return to_model_input(decode_bytes(read_file_bytes(p), draft_size=size).pixels, size)

    if workers <= 1:
        out = [one(p) for p in paths]
    else:
        out = _pool_map(lambda: one, paths, workers)
    return len(out)


def app_sequential(paths: list[Path], bundle: Any) -> int:
    from pneumonia_core.pipeline import STATUS_ERROR, classify_file

    results = [classify_file(p, bundle) for p in paths]
    errors = [r for r in results if r.status == STATUS_ERROR]
    if errors:
        raise RuntimeError(f"app pipeline failed on {len(errors)} files: {errors[0].message}")
    return len(results)


def threaded_runner(bundle: Any, workers: int) -> tuple[Callable[[list[Path]], int], str]:
    """The app's parallel engine, :func:`pneumonia_core.pipeline.classify_many` (one bundle
    clone per thread, results in input order), as the window and the batch command run it."""
    from pneumonia_core.pipeline import STATUS_ERROR, classify_many

    def run_app(paths: list[Path]) -> int:
        results = list(classify_many(paths, bundle, workers=workers))
        if any(r.status == STATUS_ERROR for r in results):
            raise RuntimeError("pneumonia_core.pipeline.classify_many reported errors")
        return len(results)

    return run_app, f"pneumonia_core.pipeline.classify_many ({workers} workers)"


def naive(paths: list[Path], keras_model: Any, size: int) -> int:
    """Full decode (no draft) + resize + ``model.predict`` per image."""
    from pneumonia_core.imageio import decode_bytes, read_file_bytes, to_model_input

    for p in paths:
        gray = to_model_input(decode_bytes(read_file_bytes(p), draft_size=None).pixels, size)
        keras_model.predict(gray.astype(np.float32)[None, :, :, None], verbose=0)
    return len(paths)


def bench_throughput(paths: list[Path], model_dir: Path, keras_model: Any | None,
                     naive_count: int, workers: int, repeats: int) -> dict[str, Any]:
    """Images per second of every variant (median pass of ``repeats``)."""
    from pneumonia_core.model import ModelBundle

    bundle = ModelBundle.load(model_dir, num_threads=1)
    size = bundle.input_size
    for p in paths:  # warm the page cache and the decoder for every variant alike
        Path(p).read_bytes()
    app_sequential(paths[: min(8, len(paths))], bundle)

    out: dict[str, Any] = {"files": len(paths), "workers": workers}
    res: dict[str, Throughput] = {}
    res["decode_only_1t"] = median_pass(lambda: decode_only(paths, size, 1), repeats)
    res["app_1t"] = median_pass(lambda: app_sequential(paths, bundle), repeats)
    if workers > 1:
        res[f"decode_only_{workers}t"] = median_pass(
            lambda: decode_only(paths, size, workers), repeats)
        run_threaded, how = threaded_runner(bundle, workers)
        res[f"app_{workers}t"] = median_pass(lambda: run_threaded(paths), repeats)
        out["threaded_runner"] = how
    if keras_model is not None and naive_count > 0:
        subset = paths[:naive_count]
        naive(subset[:2], keras_model, size)  # warm-up (traces predict)
        res["naive_keras"] = median_pass(lambda: naive(subset, keras_model, size), 1)
    out.update({k: v.to_dict() for k, v in res.items()})
    return out
