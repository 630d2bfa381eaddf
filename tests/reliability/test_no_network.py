"""The batch command and the app open no network socket during start-up and classification.

Each runs in a child process (tests/reliability/netguard_child.py) that installs a
``sys.addaudithook`` before importing anything and records every socket event (creation,
connect, bind, name lookups, urllib/http). Where available the child also runs under
``strace -f`` (catches sockets opened from C/C++ code: Qt, LiteRT, libraries) and inside
``unshare -n`` (a network namespace with no interfaces: the work must still succeed).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import ROOT, synthetic_xray
from tests.reliability.builders import dicom_bytes

pytestmark = pytest.mark.timeout(300)

INET = re.compile(r"socket\((AF_INET6?|PF_INET6?|AF_PACKET)\b")


@cache
def works(*cmd: str) -> bool:
    try:
        return subprocess.run([*cmd, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wrappers(trace: Path) -> tuple[list[str], dict[str, bool]]:
    prefix: list[str] = []
    used = {"unshare": False, "strace": False}
    if shutil.which("unshare") and works("unshare", "-n"):
        prefix += ["unshare", "-n"]
        used["unshare"] = True
    if shutil.which("strace") and works("strace", "-f", "-qq", "-o", os.devnull):
        prefix += ["strace", "-f", "-qq", "-e", "trace=socket,connect,sendto", "-o", str(trace)]
        used["strace"] = True
    return prefix, used


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_xray(i, pneumonia=i == 1)).save(folder / f"x{i}.png")
    (folder / "film.dcm").write_bytes(dicom_bytes(synthetic_xray(5)))
    (folder / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return folder


def run_child(mode: str, folder: Path, tmp: Path) -> tuple[dict, dict[str, bool], str]:
    report = tmp / f"{mode}.json"
    trace = tmp / f"{mode}.strace"
    prefix, used = wrappers(trace)
    env = {k: v for k, v in os.environ.items() if k != "PNEUMONIA_XRAY_MODEL_DIR"}
    env.update(PNEUMONIA_XRAY_HOME=str(tmp / "home"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    cmd = [*prefix, sys.executable, "-m", "tests.reliability.netguard_child", mode, str(report),
           str(folder), str(tmp / "out.csv")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and report.exists(), (
        f"child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    strace_text = trace.read_text() if used["strace"] else ""
    return json.loads(report.read_text()), used, strace_text


def assert_no_network(report: dict, strace_text: str) -> None:
    events = report["events"]
    network = [e for e in events
               if e["event"] != "socket.__new__" or "AF_UNIX" not in e["family"]]
    assert not network, f"network activity: {network[:5]}"
    inet = [line for line in strace_text.splitlines() if INET.search(line)]
    assert not inet, f"IP sockets seen by strace: {inet[:5]}"
    connects = [line for line in strace_text.splitlines()
                if "connect(" in line and "AF_UNIX" not in line]
    assert not connects, f"connect() calls seen by strace: {connects[:5]}"


def test_batch_command_opens_no_socket(inputs: Path, tmp_path: Path) -> None:
    report, used, strace_text = run_child("batch", inputs, tmp_path)
    assert report["result"]["rc"] == 3  # one broken file -> 'some inputs not classified'
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    assert_no_network(report, strace_text)
    sys.stderr.write(f"no-network batch check layers: audit hook + {used}\n")


def test_self_test_opens_no_socket(inputs: Path, tmp_path: Path) -> None:
    """``--self-test`` builds and decodes a JPEG 2000 DICOM: pydicom is imported there too."""
    report, _, strace_text = run_child("selftest", inputs, tmp_path)
    assert report["result"]["rc"] == 0
    assert_no_network(report, strace_text)


def test_app_start_up_and_classification_open_no_socket(inputs: Path, tmp_path: Path) -> None:
    report, used, strace_text = run_child("app", inputs, tmp_path)
    result = report["result"]
    assert result["model_loaded"] is True
    assert result["finished"] == [False]  # the batch ran to the end, not cancelled
    assert result["rows"] == 5
    assert "ok" in result["statuses"] or "out_of_scope" in result["statuses"]
    assert "error" in result["statuses"]
    assert_no_network(report, strace_text)
    sys.stderr.write(f"no-network app check layers: audit hook + {used}\n")
