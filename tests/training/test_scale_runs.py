"""Training at scale, as separate processes: a run killed mid-epoch (SIGKILL) resumes to the
same weights; two logical CPU devices (MirroredStrategy) and two worker processes on localhost
(MultiWorkerMirroredStrategy via TF_CONFIG) match a one-device run within a stated tolerance."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.training.training_helpers import tiny_config, tiny_train_args

ROOT = Path(__file__).resolve().parents[2]
#: Without random augmentation and dropout a step on R replicas is the one-device step up to the
#: order of float additions (synchronized BatchNorm, gradients all-reduced): after 2 epochs of
#: 3 steps every weight stays within this of the one-device run's, while training moved the
#: weights by at least 100 times as much.
REPLICA_WEIGHT_TOLERANCE = 1e-3
NO_RANDOMNESS_SETS = ["dropout=0.0", "augmentation.shear_degrees=0.0", "augmentation.zoom=0.0",
                      "augmentation.rotation_degrees=0.0", "augmentation.translation=0.0",
                      "augmentation.brightness=0.0", "augmentation.contrast=0.0",
                      "augmentation.gamma=0.0", "augmentation.window=0.0",
                      "augmentation.blur_sharpen=0.0", "augmentation.noise=0.0",
                      "augmentation.resample=0.0", "augmentation.marker_p=0.0"]
NO_RANDOMNESS = [a for kv in NO_RANDOMNESS_SETS for a in ("--set", kv)]
#: No test process may run longer than this (a hung collective must fail, not stall CI).
PROCESS_TIMEOUT_S = 600


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT), **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "training.cli", *args]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_cli(args), cwd=ROOT, env=_env(**env), capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _weights(run: Path, name: str = "last.keras") -> list[np.ndarray]:
    from training.model import load_keras_model

    return load_keras_model(run / name).get_weights()


@pytest.mark.slow
def test_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path: Path,
                                                          small_data_root: Path) -> None:
    """Checkpoint every 2 batches; SIGKILL the process as soon as a mid-epoch checkpoint is on
    disk; --resume finishes the run. Its weights equal those of an uninterrupted run without
    mid-epoch checkpoints, bit for bit."""
    from training.train import train

    cache = tmp_path / "cache"
    straight = train(tiny_config(epochs=2, sets=["batch_size=4"]), small_data_root,
                     tmp_path / "straight", input_mode="stream", checkpoint_steps=0)
    common = ["--set", "batch_size=4", "--input", "stream", "--checkpoint-steps", "2"]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(tiny_train_args(small_data_root, killed, cache, *common,
                                                 epochs=2)),
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state_file = killed / "state.json"
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    state: dict = {}
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if state_file.is_file():
                state = json.loads(state_file.read_text())
                if state.get("step", 0) > 0:
                    break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    state = json.loads(state_file.read_text())
    assert state["step"] > 0 and state["epoch"] < 2, state  # killed within an epoch
    assert (killed / state["checkpoint"]).is_file()
    assert not (killed / "report.json").exists()

    _run(tiny_train_args(small_data_root, killed, cache, *common, "--resume", epochs=2))
    assert json.loads(state_file.read_text())["step"] == 0
    assert not list(killed.glob("partial-*.keras"))  # mid-epoch checkpoints cleaned up
    for a, b in zip(_weights(straight), _weights(killed), strict=True):
        np.testing.assert_array_equal(a, b)
    from training.train import read_history

    h_straight, h_killed = read_history(straight / "history.csv"), read_history(killed / "history.csv")
    assert [r["epoch"] for r in h_killed] == [1, 2]
    for a, b in zip(h_straight, h_killed, strict=True):
        assert a["val_roc_auc"] == b["val_roc_auc"]
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)  # a resumed epoch's mean loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory: pytest.TempPathFactory, small_data_root: Path) -> Path:
    from training.train import train

    return train(tiny_config(epochs=2, sets=NO_RANDOMNESS_SETS), small_data_root,
                 tmp_path_factory.mktemp("replicas") / "one", distribute="one")


def _assert_matches_one_device(run: Path, one: Path) -> None:
    from training.model import build_model
    from training.run import load_run
    from training.train import seed_everything

    a, b = _weights(one), _weights(run)
    cfg = load_run(one).config
    seed_everything(cfg.seed)
    init = build_model(cfg).get_weights()
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    moved = max(float(np.max(np.abs(x - y))) for x, y in zip(a, init, strict=True))
    assert diff <= REPLICA_WEIGHT_TOLERANCE and moved >= 100 * REPLICA_WEIGHT_TOLERANCE, \
        f"largest weight difference {diff:.2e}, largest change by training {moved:.2e}"
    assert json.loads((run / "split.json").read_text()) == json.loads((one / "split.json").read_text())


@pytest.mark.slow
def test_two_logical_cpu_devices_match_one_device(tmp_path: Path, small_data_root: Path,
                                                  one_device_run: Path) -> None:
    out = tmp_path / "mirrored"
    proc = _run(tiny_train_args(small_data_root, out, tmp_path / "cache", *NO_RANDOMNESS,
                                "--distribute", "mirrored", "--cpu-devices", "2", epochs=2))
    assert "distribution: mirrored, 2 replicas" in proc.stderr
    _assert_matches_one_device(out, one_device_run)


@pytest.mark.slow
def test_two_workers_on_localhost_match_one_device(tmp_path: Path, small_data_root: Path,
                                                   one_device_run: Path) -> None:
    """Two processes, MultiWorkerMirroredStrategy over 127.0.0.1 only; the chief (worker 0)
    writes the run folder, worker 1 writes nothing."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "multi"
    procs = []
    for index in (0, 1):
        cfg = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            _cli(tiny_train_args(small_data_root, out, tmp_path / f"cache{index}", *NO_RANDOMNESS,
                                 "--distribute", "multiworker", epochs=2)),
            cwd=ROOT, env=_env(TF_CONFIG=cfg), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True))
    errs = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=PROCESS_TIMEOUT_S)
            errs.append(err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errs]
    assert "distribution: multiworker, 2 replicas" in errs[0]
    assert "worker done" in errs[1] and "worker done" not in errs[0]
    assert (out / "report.json").is_file()
    _assert_matches_one_device(out, one_device_run)
