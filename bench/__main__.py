"""``python -m bench``: every benchmark in one run, ratios first.

    python -m bench [--quick] [--run-dir RUN_DIR] [--out bench/results.json] [--docs]

Writes the JSON (``--out``) and a markdown table beside it (``.md``); ``--docs`` (alias
``--readme``) also replaces the generated block in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import machine, report

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
BENCH_BEGIN = "<!-- bench:results -->"
BENCH_END = "<!-- /bench:results -->"
#: The page whose generated block ``--docs`` replaces.
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"


@dataclass
class Settings:
    """Workload sizes; :meth:`quick` keeps the whole run under a minute."""

    tflite_runs: int = 300
    compiled_runs: int = 100
    predict_runs: int = 50
    throughput_files: int = 320
    throughput_repeats: int = 3
    naive_files: int = 64
    startup_repeats: int = 5
    memory_files: int = 5000
    memory_gui: bool = True
    accuracy_limit: int | None = None
    #: representative images for an int8 conversion of the shipped network (as the converter)
    calibration_images: int = 300
    sections: tuple[str, ...] = ("inference", "throughput", "startup", "memory", "sizes",
                                 "quantization", "accuracy", "projection")

    @classmethod
    def quick(cls) -> Settings:
        return cls(tflite_runs=50, compiled_runs=20, predict_runs=10, throughput_files=48,
                   throughput_repeats=1, naive_files=8, startup_repeats=1, memory_files=200,
                   memory_gui=False, accuracy_limit=64, calibration_images=32)


def _step(name: str, t0: float) -> None:
    sys.stderr.write(f"[bench {time.perf_counter() - t0:6.1f} s] {name}\n")
    sys.stderr.flush()


def run_all(settings: Settings, model_dir: Path, run_dir: Path | None,
            bundle_dir: Path, work: Path) -> dict[str, Any]:
    """Run the selected benchmarks; a failing benchmark records its error, the rest go on."""
    from pneumonia_core.metadata import ModelMetadata

    t0 = time.perf_counter()
    meta = ModelMetadata.load(model_dir)
    tflite_path = model_dir / meta.file
    size = meta.input.size
    res: dict[str, Any] = {"machine": machine.describe(ROOT)}
    res["settings"] = {**asdict(settings), "model": f"{meta.name} {meta.version} "
                       f"({meta.quantization}, sha256 {meta.sha256[:12]})",
                       "quantization": meta.quantization,
                       "model_dir": str(model_dir), "run_dir": str(run_dir) if run_dir else None}
    errors: dict[str, str] = {}
    want = set(settings.sections)

    from bench import corpus

    float_model = None
    float_kind = ""
    if want & {"inference", "throughput", "quantization", "projection"}:
        _step("loading the float Keras baseline (TensorFlow)", t0)
        from bench.keras_models import load_float_model

        try:
            fm = load_float_model(run_dir, tflite_path, size)
            float_model = fm.model
            float_kind = fm.kind if fm.same_network else ""
            res["settings"]["float_model"] = (
                f"{fm.source} ({fm.kernel_weights} kernel weights; shipped .tflite "
                f"{fm.tflite_kernel_weights}{'' if fm.same_network else ': NOT the same network'})")
            if fm.note:
                res["settings"]["float_model_note"] = fm.note
        except Exception as exc:  # noqa: BLE001  (record and go on)
            errors["float_model"] = f"{type(exc).__name__}: {exc}"
            res["settings"]["float_model"] = f"unavailable ({exc})"

    sources, desc = corpus.full_resolution_sources(work / "fullres_src")
    res["settings"]["full_resolution_corpus"] = desc

    def guarded(name: str, fn: Any) -> None:
        if name not in want:
            return
        _step(name, t0)
        try:
            res[name] = fn()
        except Exception as exc:  # noqa: BLE001  (one failing benchmark must not end the run)
            log.exception("benchmark %s failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
            res[name] = {}

    def inference() -> dict[str, Any]:
        from bench.inference import bench_keras, bench_tflite

        inputs = corpus.model_inputs(sources[:16], size)
        out = bench_tflite(tflite_path, inputs, settings.tflite_runs)
        if float_model is not None:
            out.update(bench_keras(float_model, size, inputs, settings.predict_runs,
                                   settings.compiled_runs))
        return out

    def throughput() -> dict[str, Any]:
        from bench.throughput import bench_throughput

        paths = corpus.repeated_folder(sources, settings.throughput_files, work / "fullres")
        workers = max(2, min(2, machine.usable_cores()))
        out = bench_throughput(paths, model_dir, float_model, settings.naive_files, workers,
                               settings.throughput_repeats, whole_command=True)
        out["corpus"] = f"{len(paths)} files cycling through {desc}"
        from bench.profiling import profile_pipeline

        _step("throughput: profiling the app pipeline (cProfile, CPU clock)", t0)
        out["profile"] = profile_pipeline(paths[: max(16, len(paths) // 4)], model_dir)
        if (ROOT / "desktop" / "qt" / "app.py").is_file():
            from bench.memory import run_probe

            _step("throughput: the real window (offscreen)", t0)
            g = run_probe(paths[0].parent, work / "gui_tp", gui=True, model_dir=model_dir)
            if g.get("ok"):
                out["gui_window"] = {
                    "images": g["files"], "seconds": g["seconds"],
                    "images_per_s": g["images_per_s"],
                    "cpu_ms_per_image": round(1e3 * g["process_cpu_seconds"] / max(1, g["files"]), 3),
                    "note": "process CPU includes start-up; wall time from open_paths to finished",
                }
            else:
                out["gui_window"] = g
        return out

    def startup() -> dict[str, Any]:
        from bench.startup import bench_startup

        return bench_startup(sources[0], settings.startup_repeats,
                             bundle_dir / "pneumonia-xray", model_dir)

    def memory() -> dict[str, Any]:
        from bench.memory import bench_memory

        return bench_memory(work, settings.memory_files, settings.memory_gui, model_dir)

    def sizes() -> dict[str, Any]:
        from bench.sizes import bench_sizes

        return bench_sizes(model_dir, run_dir, bundle_dir)

    from bench.quantization import OTHER_MODEL_DIR

    other_dir = work / OTHER_MODEL_DIR

    def quantization() -> dict[str, Any]:
        from bench.quantization import bench_quantization, other_quantization

        if float_kind not in ("run-dir", "training.model"):
            return {"shipped": meta.quantization, "other": other_quantization(meta.quantization),
                    "status": "not measured: no float Keras model of the shipped network "
                    "that the converter can export"}
        return bench_quantization(model_dir, float_model, run_dir, sources,
                                  corpus.model_inputs(sources[:16], size), settings.tflite_runs,
                                  settings.calibration_images, other_dir)

    def accuracy() -> dict[str, Any]:
        from bench.accuracy import bench_accuracy

        return bench_accuracy(run_dir, model_dir, settings.accuracy_limit,
                              other_dir if other_dir.is_dir() else None)

    guarded("inference", inference)
    guarded("throughput", throughput)
    guarded("startup", startup)
    guarded("memory", memory)
    guarded("sizes", sizes)
    guarded("quantization", quantization)
    guarded("accuracy", accuracy)

    def projection() -> dict[str, Any]:
        if float_kind in ("run-dir", "training.model"):
            return {"status": "not needed: the shipped model is the training default architecture"}
        try:
            import training.model  # noqa: F401
        except ImportError:
            return {"status": "training module not available"}
        from bench.inference import bench_keras, bench_tflite
        from bench.projection import build_projection_model_dir
        from bench.throughput import bench_throughput

        pdir, pmodel = build_projection_model_dir(model_dir, sources[:16], work / "projection",
                                                  meta.quantization)
        inputs = corpus.model_inputs(sources[:16], size)
        out: dict[str, Any] = {"status": "ok", "model": "training default architecture, random "
                               f"weights, {meta.quantization} by converter.tflite_export.convert"}
        inf = bench_tflite(pdir / "model.tflite", inputs, settings.tflite_runs)
        inf.update(bench_keras(pmodel, size, inputs, settings.predict_runs, settings.compiled_runs))
        out["inference"] = inf
        paths = corpus.repeated_folder(sources, settings.throughput_files, work / "fullres")
        out["throughput"] = bench_throughput(paths, pdir, None, 0, 2, settings.throughput_repeats)
        return out

    guarded("projection", projection)
    res["machine"]["load_average_end"] = machine.load_average()
    res["errors"] = errors
    res["ratios"] = [r.to_dict() for r in report.ratio_rows(res)]
    res["goals"] = [r.to_dict() for r in report.goal_rows(res)]
    res["seconds"] = round(time.perf_counter() - t0, 1)
    _step("done", t0)
    return res


def _json_safe(obj: Any) -> Any:
    """``obj`` ready for results.json: no NaN or infinity, no absolute path of this machine."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, str):
        return machine.portable_text(obj)
    return obj


def update_docs(page: Path, md: str) -> bool:
    """Replace the generated block between the bench markers; False when they are absent."""
    text = page.read_text(encoding="utf-8")
    start, end = text.find(BENCH_BEGIN), text.find(BENCH_END)
    if start < 0 or end < start:
        return False
    new = text[: start + len(BENCH_BEGIN)] + "\n" + md + text[end:]
    page.write_text(new, encoding="utf-8")
    return True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small workloads (< about a minute)")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="training run folder: its model.keras is the float baseline, its "
                   "split.json's val list the accuracy check and its train list the int8 "
                   "calibration images")
    p.add_argument("--model-dir", type=Path, default=ROOT / "resources" / "model",
                   help="shipped model folder (default: %(default)s)")
    p.add_argument("--bundle-dir", type=Path, default=ROOT / "dist" / "pneumonia-xray",
                   help="built PyInstaller bundle folder, if any (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json",
                   help="JSON results; the markdown table goes beside it (default: %(default)s)")
    p.add_argument("--only", nargs="+", choices=Settings().sections, default=None,
                   help="run only these benchmarks")
    p.add_argument("--startup-repeats", type=int, default=None, metavar="N",
                   help="fresh processes per start-up measurement (default: 5; on a busy "
                   "machine more give steadier medians)")
    p.add_argument("--docs", "--readme", dest="docs", action="store_true",
                   help="also write the markdown table into docs/benchmarks.md's generated "
                   "block (--readme: the former name)")
    p.add_argument("--docs-page", type=Path, default=DOCS_PAGE, help=argparse.SUPPRESS)
    p.add_argument("--from-json", type=Path, default=None, metavar="RESULTS.json",
                   help="do not measure: re-render the tables from an earlier results file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="bench: %(levelname)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = Settings.quick() if args.quick else Settings()
    if args.only:
        settings.sections = tuple(args.only)
    if args.startup_repeats:
        settings.startup_repeats = max(1, args.startup_repeats)
    if args.from_json is not None:
        res = json.loads(args.from_json.read_text(encoding="utf-8"))
        res["ratios"] = [r.to_dict() for r in report.ratio_rows(res)]
        res["goals"] = [r.to_dict() for r in report.goal_rows(res)]
    else:
        work = Path(tempfile.mkdtemp(prefix="pneumonia_bench_"))
        try:
            res = run_all(settings, args.model_dir.resolve(),
                          args.run_dir.resolve() if args.run_dir else None,
                          args.bundle_dir.resolve(), work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        res["command"] = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    sys.stdout.write(report.text(res))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_json_safe(res), indent=2) + "\n", encoding="utf-8")
    md = report.markdown(res)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    sys.stdout.write(f"wrote {args.out} and {args.out.with_suffix('.md')}\n")
    if args.docs:
        if update_docs(args.docs_page, md):
            sys.stdout.write(f"updated {args.docs_page} (generated block)\n")
        else:
            sys.stdout.write(f"{args.docs_page} has no {BENCH_BEGIN} block; not updated\n")
    for name, err in res["errors"].items():
        sys.stderr.write(f"bench: {name} failed: {err}\n")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
