"""``python -m bench.training_scale``: training input at 1k, 5k and 20k films, one run, ratios.

    python -m bench.training_scale [--data ../shared/data/chest_xray] [--work DIR]
                                   [--sizes 1000,5000,20000] [--steps 20] [--repeats 2]
                                   [--out FILE]

Makes a larger set from ``train/`` by augmentation (seeded small rotations, shifts, crops,
brightness and contrast, written as 224 px JPEGs under ``--work``, OUTSIDE the repository,
default ``../runs/scale-data``; never commit it), then trains, each case in its own process:

- ``arrays``: the in-memory path as it was before streaming (every film decoded into one
  array, ``model.fit(x[order])``): the baseline;
- ``memory``, ``stream``, ``tfrecord``: :mod:`training.stream` input modes on one device;
- ``tfrecord x2``: the same on two logical CPU devices (MirroredStrategy).

Each case measures films/s over ``--steps`` training batches (after 5 warm-up batches; the
fastest of ``--repeats`` interleaved runs, as the machine may be shared) and the process's peak
resident memory (``ru_maxrss``), decoding into the ``.npy`` or TFRecord cache
beforehand so that no case pays for the one-time decode. Ratios: peak memory of every size
against the same mode at the smallest size, and films/s against ``arrays`` at the same size.
The network is the default xraynet at 224 px with width 8, so the input pipeline weighs more
than with the shipped width-48 network (where the network's compute hides it further).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench.training_scale")

ROOT = Path(__file__).resolve().parent.parent
CASES = (("arrays", 1), ("memory", 1), ("stream", 1), ("tfrecord", 1), ("tfrecord", 2))
WARMUP_STEPS = 5
BATCH = 32
SIZE = 224


def _augmented(src: Path, k: int) -> Any:
    """Film ``src`` moved by a draw seeded with ``k`` (PIL only: no TensorFlow here)."""
    from PIL import Image, ImageEnhance

    rng = np.random.default_rng(k)
    im = Image.open(src).convert("L").resize((SIZE, SIZE))
    im = im.rotate(float(rng.uniform(-8, 8)), resample=Image.BILINEAR, fillcolor=0,
                   translate=(int(rng.integers(-10, 11)), int(rng.integers(-10, 11))))
    crop = int(rng.integers(0, 20))
    im = im.crop((crop, crop, SIZE - crop, SIZE - crop)).resize((SIZE, SIZE), Image.BICUBIC)
    im = ImageEnhance.Brightness(im).enhance(float(rng.uniform(0.85, 1.15)))
    return ImageEnhance.Contrast(im).enhance(float(rng.uniform(0.85, 1.15)))


def make_scaled_set(train_dir: Path, work: Path, n: int) -> list[tuple[Path, int]]:
    """``n`` augmented films from ``train_dir/{NORMAL,PNEUMONIA}`` under ``work/films`` (made
    once, reused), with labels; film k is drawn from source ``k % len(sources)``."""
    from training.data import LABELS

    sources = sorted((p, i) for i, label in enumerate(LABELS)
                     for p in (train_dir / label).iterdir() if p.suffix.lower() == ".jpeg")
    if not sources:
        raise FileNotFoundError(f"no films under {train_dir}/{{NORMAL,PNEUMONIA}}")
    out = []
    t0 = time.perf_counter()
    for k in range(n):
        src, label = sources[k % len(sources)]
        dst = work / "films" / LABELS[label] / f"{k:06d}.jpeg"
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".tmp")
            _augmented(src, k).save(tmp, format="JPEG", quality=90)
            os.replace(tmp, dst)
        out.append((dst, label))
        if (k + 1) % 2000 == 0 or k + 1 == n:
            log.info("scaled set: %d/%d films (%.0f s)", k + 1, n, time.perf_counter() - t0)
    return out


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One case, in this process: returns films/s and peak memory."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if spec["devices"] > 1:
        from training.distribute import configure_cpu_devices

        configure_cpu_devices(spec["devices"])
    import keras

    from training import stream as S
    from training.config import TrainConfig
    from training.data import load_arrays
    from training.distribute import make_strategy, synchronize_batchnorm
    from training.model import build_model, compile_model
    from training.train import seed_everything

    paths = [Path(p) for p in spec["paths"]]
    labels = np.asarray(spec["labels"], dtype=np.float32)
    del spec["paths"], spec["labels"]
    cfg = TrainConfig(image_size=SIZE, width=8, batch_size=BATCH, seed=1)
    seed_everything(cfg.seed)
    strategy = make_strategy("mirrored" if spec["devices"] > 1 else "one")
    with strategy.scope():
        model = build_model(cfg)
        compile_model(model, cfg)
        if spec["devices"] > 1:
            synchronize_batchnorm(model)
    steps = WARMUP_STEPS + spec["steps"]
    order = np.random.default_rng([cfg.seed, 0]).permutation(len(paths))
    cache = Path(spec["cache"])
    mode = spec["mode"]
    if mode == "arrays":
        x = load_arrays(paths, SIZE, cache)[..., None]
        feed: dict[str, Any] = {"x": x[order], "y": labels[order], "batch_size": BATCH,
                                "steps_per_epoch": steps}
    elif mode == "tfrecord":
        shards = S.tfrecord_cache(paths, SIZE, cache)
        feed = {"x": S.tfrecord_dataset(shards, labels, SIZE, BATCH, cfg.seed, 0).take(steps)}
    else:
        array = load_arrays(paths, SIZE, cache) if mode == "memory" else None
        films = S.Films(paths, SIZE, array)
        feed = {"x": S.epoch_dataset(films, labels, order, BATCH).take(steps)}
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            times.append(time.perf_counter())

    model.fit(**feed, epochs=1, shuffle=False, verbose=0, callbacks=[Clock()])
    measured = times[-1] - times[WARMUP_STEPS - 1]
    del spec["cache"]  # a path of the measuring machine: not in published results
    return {**spec, "films": len(paths), "films_per_s": spec["steps"] * BATCH / measured,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(data: Path, work: Path, sizes: list[int], steps: int, repeats: int = 1,
        cases: tuple[tuple[str, int], ...] = CASES) -> dict[str, Any]:
    from bench import machine

    films = make_scaled_set(data / "train", work, max(sizes))
    cache = work / "cache"
    results: dict[str, Any] = {"machine": machine.describe(ROOT), "steps": steps, "batch": BATCH,
                               "image_size": SIZE, "repeats": repeats, "cases": []}
    for n in sizes:
        spec_base = {"paths": [str(p) for p, _ in films[:n]],
                     "labels": [lab for _, lab in films[:n]], "cache": str(cache), "steps": steps}
        # the one-time decode into the caches, not timed (a child, so no case inherits it)
        for mode in ("arrays", "tfrecord"):
            _spawn({**spec_base, "mode": mode, "devices": 1, "steps": 1}, f"cache {mode} {n}",
                   quiet=True)
        best: dict[tuple[str, int], dict[str, Any]] = {}
        for r in range(repeats):  # interleaved, so a busy minute of the machine hits every case
            for mode, devices in cases:
                res = _spawn({**spec_base, "mode": mode, "devices": devices},
                             f"{mode} x{devices} {n} #{r + 1}")
                prev = best.get((mode, devices))
                runs = (prev["films_per_s_runs"] if prev else []) + [res["films_per_s"]]
                if prev is None or res["films_per_s"] > prev["films_per_s"]:
                    best[(mode, devices)] = res
                best[(mode, devices)]["films_per_s_runs"] = runs
        results["cases"].extend(best[c] for c in cases)
    add_ratios(results)
    return results


def _spawn(spec: dict[str, Any], what: str, quiet: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    spec_file = Path(spec["cache"]) / f"spec-{os.getpid()}.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "bench.training_scale", "--child", str(spec_file)],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    spec_file.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if quiet:
        log.info("%s done (%.0f s)", what, time.perf_counter() - t0)
    else:
        log.info("%-18s %7.1f films/s  peak %6.0f MB  (%.0f s)", what, res["films_per_s"],
                 res["peak_rss_mb"], time.perf_counter() - t0)
    return res


def add_ratios(results: dict[str, Any]) -> None:
    cases = results["cases"]
    smallest = min(c["films"] for c in cases)
    for c in cases:
        first = next(b for b in cases if (b["mode"], b["devices"]) == (c["mode"], c["devices"])
                     and b["films"] == smallest)
        base = next(b for b in cases if b["mode"] == "arrays" and b["films"] == c["films"])
        c["peak_vs_smallest"] = c["peak_rss_mb"] / first["peak_rss_mb"]
        c["films_per_s_vs_arrays"] = c["films_per_s"] / base["films_per_s"]


def markdown(results: dict[str, Any]) -> str:
    lines = ["| input | devices | films | films/s | vs arrays | peak MB | vs smallest set |",
             "|---|---|---|---|---|---|---|"]
    for c in results["cases"]:
        lines.append(f"| {c['mode']} | {c['devices']} | {c['films']} | {c['films_per_s']:.1f} | "
                     f"{c['films_per_s_vs_arrays']:.2f}x | {c['peak_rss_mb']:.0f} | "
                     f"{c['peak_vs_smallest']:.2f}x |")
    m = results["machine"]
    lines.append("")
    lines.append(f"{results['steps']} batches of {results['batch']} at {results['image_size']} px "
                 f"per case after {WARMUP_STEPS} warm-up batches, fastest of "
                 f"{results.get('repeats', 1)} interleaved runs; machine: "
                 f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.training_scale", description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "chest_xray"))
    p.add_argument("--work", default=str(ROOT.parent / "runs" / "scale-data"),
                   help="where the generated films and caches go (outside the repository)")
    p.add_argument("--sizes", default="1000,5000,20000")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2,
                   help="runs of every case, interleaved; the fastest counts (shared machines)")
    p.add_argument("--cases", default=",".join(f"{m}:{d}" for m, d in CASES),
                   help="MODE:DEVICES,... (arrays must be one of them: the ratios' baseline)")
    p.add_argument("--out", help="JSON results (a .md table is written beside it)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.child).read_text())
        sys.stdout.write(json.dumps(_child(spec)) + "\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    sizes = [int(s) for s in args.sizes.split(",")]
    if min(sizes) < (WARMUP_STEPS + args.steps) * BATCH:
        p.error(f"the smallest set needs at least {(WARMUP_STEPS + args.steps) * BATCH} films "
                f"for {args.steps} measured batches of {BATCH}")
    work = Path(args.work).resolve()
    if ROOT in (work, *work.parents):
        p.error(f"--work {work} is inside the repository; the generated films must stay outside")
    cases = tuple((c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(","))
    if ("arrays", 1) not in cases:
        p.error("--cases must include arrays:1, the baseline of the ratios")
    results = run(Path(args.data), work, sizes, args.steps, args.repeats, cases)
    table = markdown(results)
    sys.stdout.write(table)
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(results, indent=2) + "\n")
        out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
