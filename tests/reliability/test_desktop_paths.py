"""The whole corpus through the real batch command (``python -m desktop classify``), and a
non-UTF-8 file name through the app: one row per file, the rest of the batch unharmed.

Non-UTF-8 names reach Python with lone surrogates (PEP 383): writing them to a UTF-8 CSV or
binding them in SQLite raises UnicodeEncodeError, which took down the whole batch CSV and the
app's whole batch (0 rows). ``pneumonia_core.files.display_path`` gives the text to write.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pneumonia_core.files import display_path
from tests.conftest import ROOT, synthetic_xray
from tests.reliability.corpus import ERROR, OUT_OF_SCOPE, Case

pytestmark = pytest.mark.timeout(300)



def test_display_path_is_writable_text_and_keeps_utf8_names() -> None:
    raw = os.fsdecode(b"/share/latin1-\xe9t\xe9-\xff.png")
    shown = display_path(raw)
    assert shown == "/share/latin1-\\xe9t\\xe9-\\xff.png"
    shown.encode("utf-8")  # does not raise
    assert display_path("/share/ünïcödé/é.png") == "/share/ünïcödé/é.png"
    assert display_path(Path("/a/b.png")) == "/a/b.png"


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PNEUMONIA_XRAY_MODEL_DIR"}
    env.update(PYTHONPATH=str(ROOT), PNEUMONIA_XRAY_HOME=str(tmp / "home"),
               QT_QPA_PLATFORM="offscreen")
    return env


def test_batch_command_gives_one_row_per_corpus_case(corpus, tmp_path: Path) -> None:
    root, folder, cases = corpus
    explicit = [os.fspath(root / c.relpath) for c in cases if c.explicit]
    cases = [c for c in cases if c.after_listing is None]  # the CLI lists before it reads
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "desktop", "classify", str(folder), *explicit, "--csv", str(out)],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 3, f"exit {proc.returncode}: {proc.stderr[-1500:]}"
    with open(out, newline="", encoding="utf-8") as fh:
        rows = {r["path"].lstrip("'"): r for r in csv.DictReader(fh)}

    def case_of(path: str) -> Case | None:
        for c in cases:
            full = display_path((root if c.explicit else folder) / c.relpath)
            if full == path or full.startswith(path + os.sep):
                return c
        return None

    seen: dict[str, int] = {}
    for path, row in rows.items():
        case = case_of(path)
        if case is None:
            continue  # the changed-after-listing files, listed before they changed
        seen[case.name] = seen.get(case.name, 0) + 1
        if case.expect == ERROR:
            assert row["status"] == "error" and case.matches(row["message"]), (case.name, row)
        elif case.expect == OUT_OF_SCOPE:
            assert row["status"] == "out_of_scope", (case.name, row)
        else:
            assert row["status"] != "error", (case.name, row)
    assert sorted(seen) == sorted(c.name for c in cases)
    assert set(seen.values()) == {1}


def test_app_keeps_the_batch_when_a_name_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_xray(i)).save(folder / f"x{i}.png")
    Image.fromarray(synthetic_xray(7)).save(folder / os.fsdecode(b"latin1-\xe9.png"))
    (folder / "broken.png").write_bytes(b"\x89PNG broken")  # flagged (error): goes to the store
    report = tmp_path / "app.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.netguard_child", "app", str(report), str(folder)],
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-1500:]
    result = json.loads(report.read_text())["result"]
    assert result["finished"] == [False]
    assert result["rows"] == 4, f"the app showed {result['rows']} of 4 rows"
