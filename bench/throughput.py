"""End-to-end folder throughput on full-resolution JPEGs.

Variants, all over the same files:

- ``app_1t``: the app's code path, :func:`pneumonia_core.pipeline.classify_file` per file
  (read once, SHA-256, draft decode, resize, scope checks, LiteRT with the shipped model, calibrated decision).
- ``app_2t`` (workers = usable cores): the same per file through the app's parallel engine,
  :func:`pneumonia_core.pipeline.classify_many` (one model clone per thread, input order).
- ``naive``: the seed's way: full decode (no JPEG draft), resize, Keras ``model.predict`` per image.
- ``decode_only_1t`` / ``decode_only_2t``: read + ``decode_bytes(draft_size=S)`` +
  ``to_model_input``, the same decoder settings as the app: the limit decoding sets.
- ``*_exact_*``: the baseline for issue 21's preparation change, the same variant with the
  preparation used before it (:func:`exact_preparation`: full decode, bicubic resize of the
  whole film, grey-as-RGB JPEG q75 round trip), in the same run.
- ``classify_command`` / ``classify_command_exact``: the whole ``pneumonia-xray classify
  FOLDER --csv OUT`` command, process start to exit (fresh processes, interleaved).
"""

from __future__ import annotations

import io
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.timing import Throughput, median_pass

if TYPE_CHECKING:  # numpy is imported where used: see cli_main
    import numpy as np

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


def exact_to_model_input(gray: np.ndarray, size: int) -> np.ndarray:
    """The model input as it was made before issue 21's reduction (the baseline): the whole
    film bicubic-resized to ``size x size``, made RGB, JPEG q75 round trip, grey."""
    import numpy as np
    from PIL import Image

    from pneumonia_core.imageio import TRAINING_JPEG_QUALITY

    if gray.shape == (size, size):
        return np.ascontiguousarray(gray)
    small = Image.fromarray(gray, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    small.convert("RGB").save(buf, format="JPEG", quality=TRAINING_JPEG_QUALITY)
    with Image.open(buf, formats=("JPEG",)) as back:
        return np.asarray(back.convert("L"), dtype=np.uint8)


@contextmanager
def exact_preparation() -> Iterator[None]:
    """Within it, the app's pipeline prepares every film the way it did before issue 21:
    decoded in full (no JPEG DCT scaling) and :func:`exact_to_model_input`."""
    from pneumonia_core import imageio, pipeline

    saved = pipeline.decode_bytes, pipeline.to_model_input
    pipeline.decode_bytes = lambda data, draft_size=None: imageio.decode_bytes(data)
    pipeline.to_model_input = exact_to_model_input
    try:
        yield
    finally:
        pipeline.decode_bytes, pipeline.to_model_input = saved


def decode_only(paths: list[Path], size: int, workers: int = 1, exact: bool = False) -> int:
    from pneumonia_core.imageio import decode_bytes, read_file_bytes, to_model_input

    def one(p: Path) -> np.ndarray:
        if exact:
            return exact_to_model_input(decode_bytes(read_file_bytes(p)).pixels, size)
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


def cli_main(argv: list[str]) -> int:
    """``pneumonia-xray`` with ``argv[1:]``; ``argv[0]`` is ``exact`` (the baseline
    preparation, :func:`exact_preparation`) or ``app``. Run by :func:`classify_command`.

    Nothing imports numpy before ``desktop.__main__`` does its own set-up (this module
    imports it only where used): the timed process runs in the environment the app sets for
    itself before numpy loads (OpenBLAS on one thread), as a real ``pneumonia-xray`` does;
    with numpy imported first, OpenBLAS's idle-spinning threads took CPU from the workers."""
    from desktop.__main__ import main

    sys.argv = ["pneumonia-xray", *argv[1:]]
    if argv[0] == "exact":
        with exact_preparation():
            return main()
    return main()


def classify_command(folder: Path, model_dir: Path, exact: bool) -> Throughput:
    """One fresh ``pneumonia-xray classify FOLDER --csv OUT`` process, start to exit: wall
    time and the child's CPU time (all threads)."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        env = dict(os.environ, PNEUMONIA_XRAY_HOME=tmp,
                   PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
        cmd = [sys.executable, "-c", "import sys; from bench.throughput import cli_main; "
               "sys.exit(cli_main(sys.argv[1:]))", "exact" if exact else "app", "classify",
               str(folder), "--csv", str(Path(tmp) / "out.csv"), "--model-dir", str(model_dir)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:  # 3: some films could not be read; 5: unverified model
            raise RuntimeError(f"classify exited {done.returncode}: {done.stderr[-500:]}")
        rows = (Path(tmp) / "out.csv").read_text(encoding="utf-8").count("\n") - 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Throughput(rows, seconds, cpu)


def compile_for_commands() -> None:
    """Byte-compile what the timed processes import from this checkout (the app's packages,
    as :func:`bench.startup.compile_project` does, and this harness): an installed app runs
    from bytecode, and with ``PYTHONDONTWRITEBYTECODE`` set every start would otherwise
    compile them from source again (about 50 ms of each process's CPU on this machine)."""
    import compileall

    from bench.startup import compile_project

    compile_project()
    here = Path(__file__).resolve().parent
    for name in ("__init__.py", "throughput.py", "timing.py"):
        compileall.compile_file(here / name, quiet=1)


def classify_commands(folder: Path, model_dir: Path, repeats: int) -> dict[str, Throughput]:
    """The whole command with the app's preparation and with the baseline's, interleaved
    (so that both see the same load), median pass of ``repeats`` each, both from bytecode
    (:func:`compile_for_commands`)."""
    compile_for_commands()
    runs: dict[str, list[Throughput]] = {"classify_command": [], "classify_command_exact": []}
    for _ in range(max(1, repeats)):
        for key in runs:
            runs[key].append(classify_command(folder, model_dir, exact=key.endswith("exact")))
    return {k: sorted(v, key=lambda t: t.seconds)[(len(v) - 1) // 2] for k, v in runs.items()}


def naive(paths: list[Path], keras_model: Any, size: int) -> int:
    """Full decode (no draft) + resize + ``model.predict`` per image."""
    import numpy as np

    from pneumonia_core.imageio import decode_bytes, read_file_bytes, to_model_input

    for p in paths:
        gray = to_model_input(decode_bytes(read_file_bytes(p), draft_size=None).pixels, size)
        keras_model.predict(gray.astype(np.float32)[None, :, :, None], verbose=0)
    return len(paths)


def bench_throughput(paths: list[Path], model_dir: Path, keras_model: Any | None,
                     naive_count: int, workers: int, repeats: int,
                     whole_command: bool = False) -> dict[str, Any]:
    """Images per second of every variant (median pass of ``repeats``); with
    ``whole_command``, also the whole ``classify`` command over ``paths``' folder (which
    must hold exactly those files)."""
    from pneumonia_core.model import ModelBundle

    bundle = ModelBundle.load(model_dir, num_threads=1)
    size = bundle.input_size
    for p in paths:  # warm the page cache and the decoder for every variant alike
        Path(p).read_bytes()
    app_sequential(paths[: min(8, len(paths))], bundle)

    out: dict[str, Any] = {"files": len(paths), "workers": workers}
    res: dict[str, Throughput] = {}
    res["decode_only_1t"] = median_pass(lambda: decode_only(paths, size, 1), repeats)
    res["decode_only_exact_1t"] = median_pass(lambda: decode_only(paths, size, 1, True), repeats)
    res["app_1t"] = median_pass(lambda: app_sequential(paths, bundle), repeats)
    with exact_preparation():
        res["app_exact_1t"] = median_pass(lambda: app_sequential(paths, bundle), repeats)
    if workers > 1:
        res[f"decode_only_{workers}t"] = median_pass(
            lambda: decode_only(paths, size, workers), repeats)
        run_threaded, how = threaded_runner(bundle, workers)
        res[f"app_{workers}t"] = median_pass(lambda: run_threaded(paths), repeats)
        with exact_preparation():
            res[f"app_exact_{workers}t"] = median_pass(lambda: run_threaded(paths), repeats)
        out["threaded_runner"] = how
    if whole_command and paths:
        folder = Path(paths[0]).parent
        res.update(classify_commands(folder, model_dir, repeats))
        out["classify_command"] = (f"pneumonia-xray classify FOLDER --csv OUT ({len(paths)} "
                                   "files), fresh processes, interleaved with the baseline")
    if keras_model is not None and naive_count > 0:
        subset = paths[:naive_count]
        naive(subset[:2], keras_model, size)  # warm-up (traces predict)
        res["naive_keras"] = median_pass(lambda: naive(subset, keras_model, size), 1)
    out.update({k: v.to_dict() for k, v in res.items()})
    return out
