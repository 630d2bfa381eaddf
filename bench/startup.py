"""Start-up time: from process start to a ready window and to the first classified image.

Every measurement spawns a fresh process and takes the median wall time of several starts,
measured by the parent from just before the spawn. Baseline: a bare ``python -c pass``.
The user's folders are redirected to a temporary HOME so the app's stores stay untouched.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_EXE = ROOT / "dist" / "pneumonia-xray" / "pneumonia-xray"


#: The model folder the probes' app processes load (set by :func:`bench_startup`).
MODEL_DIR_ENV = "PNEUMONIA_XRAY_MODEL_DIR"


def _env(home: Path, model_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if model_dir is not None:
        env[MODEL_DIR_ENV] = str(model_dir)
    env.update({
        "PNEUMONIA_XRAY_HOME": str(home / "app"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    })
    return env


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _time_once(cmd: list[str], env: dict[str, str], until: str | None,
               timeout: float) -> tuple[float, int, str, float]:
    """(seconds from spawn to exit, or to a stdout line starting with ``until``; exit code;
    detail; CPU seconds the child used in all, which on a busy machine bounds what an idle
    one would need)."""
    c0 = _children_cpu()
    elapsed, code, detail = _time_once_wall(cmd, env, until, timeout)
    return elapsed, code, detail, _children_cpu() - c0


def _time_once_wall(cmd: list[str], env: dict[str, str], until: str | None,
                    timeout: float) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if until is None:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return float("nan"), -9, "timed out"
        return time.perf_counter() - t0, proc.returncode, (err or out)[-400:]
    assert proc.stdout is not None
    line = ""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        line = proc.stdout.readline()
        if not line or line.startswith(until):
            break
    elapsed = time.perf_counter() - t0
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if not line.startswith(until):
        return float("nan"), proc.returncode or -1, (err or "")[-400:]
    return elapsed, proc.returncode, line.strip()


def time_command(cmd: list[str], repeats: int, until: str | None = None,
                 timeout: float = 60.0, model_dir: Path | None = None) -> dict[str, Any]:
    """Median of ``repeats`` cold-process runs (one untimed warm-up for the file cache)."""
    home = Path(tempfile.mkdtemp(prefix="bench_home_"))
    try:
        env = _env(home, model_dir)
        _time_once(cmd, env, until, timeout)
        runs = [_time_once(cmd, env, until, timeout) for _ in range(max(1, repeats))]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return _summary(cmd, runs, until)


def time_interleaved(cmds: dict[str, list[str]], repeats: int, timeout: float = 60.0,
                     model_dir: Path | None = None,
                     extra_env: dict[str, dict[str, str]] | None = None
                     ) -> dict[str, dict[str, Any]]:
    """Like :func:`time_command` for several commands whose ratios are reported: one untimed
    warm-up each, then ``repeats`` rounds that run every command once in turn, so a change of
    the machine's load (other processes) falls on all of them alike. ``extra_env``: more
    environment variables for some of the commands (by key)."""
    home = Path(tempfile.mkdtemp(prefix="bench_home_"))
    runs: dict[str, list[tuple[float, int, str, float]]] = {k: [] for k in cmds}
    try:
        base = _env(home, model_dir)
        envs = {key: {**base, **(extra_env or {}).get(key, {})} for key in cmds}
        for key, cmd in cmds.items():
            _time_once(cmd, envs[key], None, timeout)
        for _ in range(max(1, repeats)):
            for key, cmd in cmds.items():
                runs[key].append(_time_once(cmd, envs[key], None, timeout))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {key: _summary(cmds[key], runs[key], None) for key in cmds}


def _summary(cmd: list[str], runs: list[tuple[float, int, str, float]],
             until: str | None) -> dict[str, Any]:
    good = [r for r in runs if r[0] == r[0] and (until is not None or r[1] in (0, 3))]
    if not good:
        return {"command": " ".join(cmd), "ok": False, "detail": runs[-1][2]}
    return {"command": " ".join(cmd), "ok": True,
            "median_s": round(statistics.median(r[0] for r in good), 4),
            "min_s": round(min(r[0] for r in good), 4),
            "cpu_s": round(statistics.median(r[3] for r in good), 4),
            "runs": len(good), "detail": runs[-1][2][:200]}


def time_window_result(cmd: list[str], repeats: int, timeout: float = 60.0,
                       model_dir: Path | None = None) -> dict[str, Any]:
    """Seconds from spawning the app with one image on its command line to the app's log line
    saying the batch finished (``desktop.qt.batch_runner``): the window is up and shows a result.
    Works for the frozen bundle too, since it needs no code in the process. The app is then
    terminated. Median of ``repeats`` (after one untimed warm-up). The intended-use notice is
    marked as confirmed in the temporary settings (a returning user): a first start waits for
    the reader to confirm it before classifying anything, which no timer should count."""
    times: list[float] = []
    detail = ""
    for i in range(max(1, repeats) + 1):
        home = Path(tempfile.mkdtemp(prefix="bench_home_"))
        log_file = home / "app" / "log" / "pneumonia-xray.log"
        settings = home / "app" / "config" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text('{"first_start_acknowledged": true}\n', encoding="utf-8")
        try:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(home, model_dir),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elapsed = float("nan")
            while time.perf_counter() - t0 < timeout and proc.poll() is None:
                try:
                    if "batch finished" in log_file.read_text(errors="replace"):
                        elapsed = time.perf_counter() - t0
                        break
                except OSError:
                    pass
                time.sleep(0.005)
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if elapsed != elapsed:
                detail = f"no 'batch finished' line in {log_file} (exit {proc.returncode})"
            elif i > 0:
                times.append(elapsed)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if not times:
        return {"command": " ".join(cmd), "ok": False, "detail": detail}
    return {"command": " ".join(cmd), "ok": True, "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4), "runs": len(times),
            "detail": "until the app logs 'batch finished' for the one image"}


def import_breakdown(cmd: list[str], top: int = 10, timeout: float = 60.0,
                     model_dir: Path | None = None) -> dict[str, float]:
    """Cumulative import time (ms) of the slowest top-level imports of ``cmd`` (a Python
    command), from ``-X importtime``: what start-up spends before any app code runs."""
    home = Path(tempfile.mkdtemp(prefix="bench_home_"))
    try:
        proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=ROOT, env=_env(home, model_dir),
                              capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    cumulative: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            cum_us = int(parts[1])
        except ValueError:
            continue
        name = parts[2].rstrip()
        if not name.startswith("  "):  # top level: imported by the program, not a package
            cumulative[name.strip()] = cumulative.get(name.strip(), 0) + cum_us / 1e3
    return dict(sorted(cumulative.items(), key=lambda kv: -kv[1])[:top])


def _has_module(name: str) -> bool:
    return (ROOT / Path(*name.split("."))).with_suffix(".py").is_file()


#: The baseline of the one-file ``classify``: importing the runtime and Qt, nothing of the app.
IMPORT_PAIR = "import ai_edge_litert, PySide6.QtWidgets"
#: Goal: the one-file ``classify`` within this many times :data:`IMPORT_PAIR` (same run).
CLI_VS_IMPORT_PAIR = 1.2
#: What no ``classify`` can start without: the array library, the decoder and the runtime's
#: interpreter (``import ai_edge_litert`` alone loads none of it). Timed in the same run so
#: the report shows how much of the ratio is the app's own.
IMPORT_FLOOR = "import numpy, PIL.Image, ai_edge_litert.interpreter"
#: The floor of a one-file ``classify`` (argv: the model file, the image): the same imports,
#: then what no classification can skip: the model loaded into LiteRT's interpreter, the image
#: decoded and resized, one inference. No checks, no guard, no CSV, no audit, no log.
MODEL_FLOOR = """import sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter
runner = Interpreter(model_path=sys.argv[1])
runner.allocate_tensors()
inp, out = runner.get_input_details()[0], runner.get_output_details()[0]
size = int(inp["shape"][1])
img = Image.open(sys.argv[2]).convert("L").resize((size, size), Image.Resampling.BICUBIC)
runner.set_tensor(inp["index"], np.asarray(img, np.float32)[None, :, :, None])
runner.invoke()
runner.get_tensor(out["index"])
"""
#: The floors run in the environment the app sets for itself before numpy loads
#: (``desktop/__main__.py``: OpenBLAS on one thread), so they are floors of the same process.
FLOOR_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def compile_project() -> None:
    """Byte-compile the app's packages first: the installed package and the bundle run from
    bytecode, and the timed processes (``PYTHONDONTWRITEBYTECODE``) would otherwise compile
    every changed module from source on every start."""
    import compileall

    for pkg in ("desktop", "pneumonia_core"):
        compileall.compile_dir(ROOT / pkg, quiet=1)


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """``a``'s median over ``b``'s (None when either failed)."""
    if not (a.get("ok") and b.get("ok")):
        return None
    return round(a["median_s"] / b["median_s"], 3)


def bench_startup(image: Path, repeats: int, bundle_exe: Path = BUNDLE_EXE,
                  model_dir: Path | None = None) -> dict[str, Any]:
    """Start-up times; ``model_dir`` (default: the app's own) is passed to the installed
    package's processes, while the bundle always runs the model it was built with. The
    one-file ``classify`` is also given as a ratio to :data:`IMPORT_PAIR`, timed in this run."""
    py = sys.executable
    out: dict[str, Any] = {}
    csv = Path(tempfile.mkdtemp(prefix="bench_csv_")) / "one.csv"
    compile_project()
    out["python_bare"] = time_command([py, "-c", "pass"], repeats)
    from pneumonia_core.metadata import ModelMetadata
    from pneumonia_core.model import default_model_dir

    folder = model_dir or default_model_dir()
    timed = {"import_pair": [py, "-c", IMPORT_PAIR], "import_floor": [py, "-c", IMPORT_FLOOR],
             "model_floor": [py, "-c", MODEL_FLOOR,
                             str(folder / ModelMetadata.load(folder).file), str(image)]}
    if _has_module("desktop.cli"):
        timed["first_result_cli"] = [py, "-m", "desktop", "classify", str(image),
                                     "--csv", str(csv)]
    # the ratios' terms in turn, in the same rounds (the machine's load falls on all alike)
    out.update(time_interleaved(timed, repeats, model_dir=model_dir,
                                extra_env={"import_floor": FLOOR_ENV, "model_floor": FLOOR_ENV}))
    if _has_module("desktop.qt.app"):
        out["window_ready"] = time_command([py, "-m", "bench.startup_probe"], repeats,
                                           until="READY", model_dir=model_dir)
        out["window_imports_ms"] = import_breakdown([py, "-m", "bench.startup_probe"],
                                                    model_dir=model_dir)
        out["window_first_result"] = time_window_result([py, "-m", "desktop", str(image)],
                                                        repeats, model_dir=model_dir)
    else:
        out["window_ready"] = {"ok": False, "detail": "desktop/qt/app.py has not landed"}
    if _has_module("desktop.cli"):
        out["self_test_cli"] = time_command([py, "-m", "desktop", "--self-test"], repeats,
                                            model_dir=model_dir)
        pair, cli = out["import_pair"], out["first_result_cli"]
        if pair.get("ok") and cli.get("ok"):
            ratio = cli["median_s"] / pair["median_s"]
            cpu_ratio = cli["cpu_s"] / pair["cpu_s"] if pair.get("cpu_s") else None
            floor_ratio = _ratio(out["import_floor"], pair)
            model_floor_ratio = _ratio(out["model_floor"], pair)
            out["cli_vs_import_pair"] = {
                "ratio": round(ratio, 3), "goal": CLI_VS_IMPORT_PAIR,
                "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 3),
                "floor_ratio": floor_ratio, "model_floor_ratio": model_floor_ratio,
                "vs_model_floor": _ratio(cli, out["model_floor"])}
            log.info("one-file classify %.3f s = %.2fx the bare `%s` (%.3f s; CPU ratio %s); "
                     "goal <= %.1fx; `%s` alone: %sx; the floor (those imports, the model "
                     "loaded, the image decoded, one inference): %sx, classify %sx the floor",
                     cli["median_s"], ratio, IMPORT_PAIR, pair["median_s"],
                     "n/a" if cpu_ratio is None else f"{cpu_ratio:.2f}x", CLI_VS_IMPORT_PAIR,
                     IMPORT_FLOOR, floor_ratio, model_floor_ratio,
                     out["cli_vs_import_pair"]["vs_model_floor"])
    if bundle_exe.is_file():
        out["bundle_self_test"] = time_command([str(bundle_exe), "--self-test"], repeats)
        out["bundle_first_result"] = time_command(
            [str(bundle_exe), "classify", str(image), "--csv", str(csv)], repeats)
        out["bundle_window_first_result"] = time_window_result([str(bundle_exe), str(image)],
                                                               repeats)
    else:
        out["bundle"] = f"no built bundle at {machine.shown_path(bundle_exe)}"
    shutil.rmtree(csv.parent, ignore_errors=True)
    return out
