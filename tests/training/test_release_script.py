"""scripts/train_release.sh drives pneumonia-train and pneumonia-convert: which members it
trains (PRESET or PRESET@SEED), which finished members it reuses, and what it converts. The
two commands are stand-ins here that record their arguments (the real ones are tested in
test_training_run.py and tests/converter)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "{log}"
out=""
while [[ $# -gt 0 ]]; do [[ "$1" == --out ]] && out="$2"; shift; done
[[ -n "$out" ]] && mkdir -p "$out" && touch "$out/report.json"
exit 0
"""


def _release(tmp_path: Path, members: str, **env_extra: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for name in ("pneumonia-train", "pneumonia-convert"):
        exe = bin_dir / name
        exe.write_text(FAKE.format(log=log))
        exe.chmod(0o755)
    env = {**os.environ, "PY": str(bin_dir), "MEMBERS": members, "EXTERNAL": "EXT",
           **env_extra}
    subprocess.run(["bash", str(ROOT / "scripts" / "train_release.sh"), "DATA",
                    str(tmp_path / "runs"), str(tmp_path / "model")],
                   check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    calls = log.read_text().splitlines()
    log.unlink()
    return calls


@pytest.mark.skipif(os.name == "nt", reason="bash script")
def test_members_with_seeds_ensemble_and_resume(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    calls = _release(tmp_path, "wide_ls wide_ls@7")
    assert calls[0] == (f"pneumonia-train --data DATA --out {runs}/wide_ls --config wide_ls")
    assert calls[1] == (f"pneumonia-train --data DATA --out {runs}/wide_ls_seed7 "
                        "--config wide_ls --init-seed 7")
    assert calls[2] == (f"pneumonia-train ensemble --out {runs}/ensemble {runs}/wide_ls "
                        f"{runs}/wide_ls_seed7")
    assert calls[3].startswith(f"pneumonia-convert {runs}/ensemble --out {tmp_path}/model")
    assert "--external EXT --fit-on-external" in calls[3] and len(calls) == 4
    assert "--quantization" not in calls[3]  # the converter's default is the shipped precision
    assert (runs / "release_time.json").is_file()
    # a second release over the same folder reuses every finished member and the ensemble
    assert _release(tmp_path, "wide_ls wide_ls@7") == [calls[3]]
    # one member: no ensemble, the member itself is converted
    one = _release(tmp_path, "default@3", QUANTIZATION="int8", VERSION="9.9.9")
    assert one[0].endswith("--config default --init-seed 3")
    assert one[1].startswith(f"pneumonia-convert {runs}/default_seed3 ")
    assert one[1].endswith("--model-version 9.9.9 --quantization int8")
    assert "--model-version" not in calls[3]


@pytest.mark.skipif(os.name == "nt", reason="bash script")
def test_member_overrides_go_to_that_member_only(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    calls = _release(tmp_path, "wide_ls@2 wide_ls@3:augmentation.site_p=0.75,width=32")
    assert calls[0] == (f"pneumonia-train --data DATA --out {runs}/wide_ls_seed2 "
                        "--config wide_ls --init-seed 2")
    assert calls[1] == (f"pneumonia-train --data DATA --out "
                        f"{runs}/wide_ls_seed3_augmentation.site_p-0.75_width-32 --config wide_ls "
                        "--init-seed 3 --set augmentation.site_p=0.75 --set width=32")
    assert calls[2] == (f"pneumonia-train ensemble --out {runs}/ensemble {runs}/wide_ls_seed2 "
                        f"{runs}/wide_ls_seed3_augmentation.site_p-0.75_width-32")
    # without a seed, and reused once finished
    one = _release(tmp_path, "default:augmentation.noise=0.05")
    assert one[0] == (f"pneumonia-train --data DATA --out {runs}/default_augmentation.noise-0.05 "
                      "--config default --set augmentation.noise=0.05")
    assert _release(tmp_path, "default:augmentation.noise=0.05") == [one[1]]
