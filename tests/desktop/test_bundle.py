"""The PyInstaller bundle, built from the checkout with ``build.spec``, runs offline with an
empty environment: ``--self-test``, ``classify`` (CSV identical to the development pipeline),
a tampered model refused, the window starting, and the folder within the size budget.

One build (about a minute, tests/desktop/conftest.py) serves every test in this module and the
Debian package tests (test_deb_package.py).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop import cli
from tests.desktop.bundle_helpers import (
    SIZE_LIMIT,
    folder_bytes,
    offline_prefix,
    run_bundle,
)
from tests.desktop.test_batch import colour_photo, jpeg_ls_dicom, tampered_copy, write_xrays

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform.startswith("win"), reason="runs the bundle through env -i"),
]


def test_bundle_is_built_from_the_checkout_sources(build: dict[str, Path]) -> None:
    text = (build["work"] / "build" / "PYZ-00.toc").read_text()
    _, entries = ast.literal_eval(text)
    ours = {name: Path(path) for name, path, _ in entries
            if name.split(".")[0] in ("desktop", "pneumonia_core")}
    assert "desktop.cli" in ours and "desktop.qt.app" in ours and "pneumonia_core.pipeline" in ours
    for name, path in ours.items():
        assert path.is_relative_to(build["src"]), f"{name} came from {path}, not the checkout"


def test_bundle_size_and_contents(build: dict[str, Path]) -> None:
    folder = build["folder"]
    size = folder_bytes(folder)
    sys.stdout.write(f"\nbundle folder: {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB)\n")
    assert size <= SIZE_LIMIT, f"bundle is {size / 1e6:.1f} MB, over {SIZE_LIMIT / 1e6:.0f} MB"
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    joined = "\n".join(names).lower()
    for banned in ("tensorflow", "keras", "matplotlib", "scipy/", "requests/", "urllib3",
                   "qt6network", "qt6qml", "qt6quick", "qt6pdf", "qt6svg", "qt/translations",
                   "qgtk3", "qwayland", "libqtvirtualkeyboard", "litertwebgpu"):
        assert banned not in joined, f"{banned} should not be in the bundle"
    # the optional `sr` extra (classify --sr-dir, 27 MB) is installed by `dev`, never bundled
    assert "highdicom" not in joined and "jpeg_ls" not in joined
    for needed in ("qt/plugins/platforms/", "pylibjpeg_libjpeg", "pylibjpeg_openjpeg"):
        assert needed in joined, f"{needed} missing from the bundle"
    bundled = next(p for p in folder.rglob("model.tflite") if "resources" in p.parts)
    assert hashlib.sha256(bundled.read_bytes()).digest() == hashlib.sha256(
        (build["src"] / "resources" / "model" / "model.tflite").read_bytes()).digest()


def test_self_test_offline_in_empty_environment(build: dict[str, Path]) -> None:
    t0 = time.perf_counter()
    done = run_bundle(build["exe"], "--self-test")
    wall = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("SELF-TEST OK: "), done.stdout
    assert "DICOM JPEG 2000 ok" in lines[0]
    assert "as pinned" in lines[0]  # the bundled folder is the one pinned in the build
    assert done.stderr == "", done.stderr  # nothing else, not even LiteRT's INFO banner
    sys.stdout.write(f"\n{lines[0]}\nwall time, process start to exit: {wall:.2f} s\n")
    assert wall < 10, "a generous bound; the target on an idle machine is 1 s"
    version = run_bundle(build["exe"], "--version")
    assert version.returncode == 0 and "model:" in version.stdout
    assert "verified model folder" in version.stdout


def test_classify_offline_matches_development_pipeline(build: dict[str, Path]) -> None:
    inputs = build["top"] / "inputs"
    write_xrays(inputs, [1, 2, 3])
    colour_photo(inputs / "photo.jpg")
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    jpeg_ls_dicom(inputs / "film.dcm")
    out = build["top"] / "bundle.csv"
    done = run_bundle(build["exe"], "classify", str(inputs), "--csv", str(out))
    assert done.returncode == cli.EXIT_INCOMPLETE, done.stderr
    assert "classified 6 file(s)" in done.stderr
    reference = build["top"] / "dev.csv"
    assert cli.main(["classify", str(inputs), "--csv", str(reference)],
                      stderr=io.StringIO()) == cli.EXIT_INCOMPLETE
    assert out.read_text() == reference.read_text()
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    status = {Path(r["path"]).name: r["status"] for r in rows}
    assert status["broken.jpg"] == "error" and status["photo.jpg"] == "out_of_scope"
    film = next(r for r in rows if r["path"].endswith("film.dcm"))
    assert film["status"] != "error" and "DICOM" not in film["message"], film  # codec bundled
    assert [status[f"xray_0{i}.png"] for i in (1, 2, 3)] == ["ok"] * 3


def test_tampered_model_is_refused(build: dict[str, Path]) -> None:
    bad = tampered_copy(build["src"] / "resources" / "model", build["top"] / "bad_model")
    done = run_bundle(build["exe"], "--self-test", env={"PNEUMONIA_XRAY_MODEL_DIR": str(bad)})
    assert done.returncode == 1 and done.stdout == ""
    assert "SELF-TEST FAILED" in done.stderr and "integrity check" in done.stderr
    done = run_bundle(build["exe"], "classify", str(build["src"] / "resources"), "--csv",
                      str(build["top"] / "x.csv"), env={"PNEUMONIA_XRAY_MODEL_DIR": str(bad)})
    assert done.returncode == 1 and not (build["top"] / "x.csv").exists()


def test_window_starts_offscreen(build: dict[str, Path]) -> None:
    """No args: the app window (offscreen platform) starts, loads the model, stays up."""
    home = build["top"] / "home"
    images = write_xrays(build["top"] / "gui_in", [5])
    env = {"QT_QPA_PLATFORM": "offscreen", "PNEUMONIA_XRAY_HOME": str(home)}
    extra = [f"{k}={v}" for k, v in env.items()]
    proc = subprocess.Popen([*offline_prefix(), "env", "-i", *extra, str(build["exe"]),
                             str(images[0])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = home / "log" / "pneumonia-xray.log"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and "loaded model" in log.read_text(errors="replace"):
                break
            time.sleep(0.2)
        time.sleep(1.0)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert alive, f"the app exited early ({proc.returncode}): {err[-3000:]}"
    assert "loaded model" in log.read_text(errors="replace")
    assert "Traceback" not in err and "could not load the Qt platform plugin" not in err.lower()


def test_edited_bundled_model_folder_is_refused_as_tampered(build: dict[str, Path]) -> None:
    """Editing metadata.json inside the installed bundle (issue 16) is refused, not obeyed.
    Runs last: the bundled file is restored afterwards."""
    meta = next(p for p in build["folder"].rglob("metadata.json") if "resources" in p.parts)
    original = meta.read_bytes()
    data = json.loads(original)
    data["threshold"]["value"] = 0.99
    try:
        meta.write_text(json.dumps(data))
        done = run_bundle(build["exe"], "--self-test")
        assert done.returncode == 1 and done.stdout == ""
        assert "model folder was altered: changed: metadata.json" in done.stderr, done.stderr
    finally:
        meta.write_bytes(original)
    assert run_bundle(build["exe"], "--self-test").returncode == 0


def test_signed_site_profiles_work_in_the_bundle(build: dict[str, Path]) -> None:
    """PyNaCl is bundled: the bundle makes a key, signs a profile, and a machine that
    trusts the key accepts the signed profile and refuses it once the signature is gone
    (issue 23)."""
    from tests.reliability.test_trust_profiles import genuine_text

    top = build["top"] / "signing"
    machine = top / "machine"
    (machine / "trusted_keys").mkdir(parents=True)
    profile = top / "site_profile.json"
    profile.write_text(genuine_text())
    done = run_bundle(build["exe"], "profile", "keygen", "--out", str(top / "it"))
    assert done.returncode == 0, done.stderr
    done = run_bundle(build["exe"], "profile", "sign", "--key", str(top / "it.key"), str(profile))
    assert done.returncode == 0, done.stderr
    shutil.copy(top / "it.pub", machine / "trusted_keys" / "it.pub")
    env = {"PNEUMONIA_XRAY_MACHINE_CONFIG_DIR": str(machine), "PNEUMONIA_XRAY_HOME": str(top / "h"),
           "PNEUMONIA_XRAY_SITE_PROFILE": str(profile)}
    done = run_bundle(build["exe"], "--self-test", env=env)
    assert done.returncode == 0 and "signed by trusted key" in done.stdout, done.stderr
    (top / "site_profile.json.sig").unlink()
    done = run_bundle(build["exe"], "--self-test", env=env)
    assert done.returncode == 1 and "is not signed" in done.stderr



def test_calibrate_in_the_bundle_fits_the_development_profile(build: dict[str, Path],
                                                              profile: Path) -> None:
    """``calibrate`` runs NumPy's LAPACK (the logistic fit's ``linalg.solve``, the site guard's
    SVD), whose GNU Fortran runtime the bundle takes from the host (build.spec): on the same
    films the bundle fits the same calibration, threshold and site guard as the development
    pipeline (the ``profile`` fixture)."""
    from tests.desktop.test_site_calibrate import TARGET

    out = build["top"] / "bundle_profile.json"
    done = run_bundle(build["exe"], "calibrate", str(profile.parent / "films"), "--out", str(out),
                      "--target-sensitivity", TARGET,
                      env={"PNEUMONIA_XRAY_HOME": str(build["top"] / "calibrate_home")})
    assert done.returncode == 0, done.stderr
    ours, theirs = json.loads(out.read_text()), json.loads(profile.read_text())
    for key in ("calibration", "threshold", "guard"):
        assert ours.get(key) == theirs.get(key), key
    assert ours["calibration"] and ours["threshold"]
