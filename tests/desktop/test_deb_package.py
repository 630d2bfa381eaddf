"""The Debian package (packaging/linux/build_deb.sh) as IT uses it, on this machine, as root:
lint it, install it (its post-install self-test runs), run ``pneumonia-xray`` from the PATH
with no network, upgrade to a rebuilt higher version keeping IT's edited machine settings and
a reader's review data, remove, purge, and check that nothing the package did not own was
touched. Built from the bundle the bundle tests build (tests/desktop/conftest.py).

Runs where it can (root, dpkg, lintian, desktop-file-validate: scripts/setup.sh installs the
last two) and leaves the package uninstalled whatever happens.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.desktop.bundle_helpers import offline_prefix
from tests.desktop.test_batch import write_xrays

PKG = "pneumonia-xray"
ETC = Path("/etc/pneumonia-xray")
#: Where the package puts files, and so where "nothing else was touched" is checked.
WATCHED = (Path("/etc"), Path("/opt"), Path("/usr/bin"), Path("/usr/share/applications"),
           Path("/usr/share/icons/hicolor"), Path("/usr/share/man/man1"),
           Path("/usr/share/doc"), Path("/usr/share/lintian/overrides"))
#: Caches that Debian's own triggers rebuild when any package adds a desktop entry or an icon.
TRIGGER_CACHES = ("mimeinfo.cache", "icon-theme.cache", "ld.so.cache")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("dpkg") is None,
                       reason="a Debian package needs dpkg (Linux)"),
    pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() != 0,
                       reason="installs a package: needs root (CI runs as root)"),
]


def run(*cmd: str | Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=full_env,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def installed_version() -> str:
    done = run("dpkg-query", "-W", "-f=${Status} ${Version}", PKG)
    return done.stdout.split()[-1] if "install ok installed" in done.stdout else ""


def snapshot() -> dict[str, tuple[int, int]]:
    """Every file and link under the watched folders: (size, mtime_ns), trigger caches aside."""
    out: dict[str, tuple[int, int]] = {}
    for top in WATCHED:
        for dirpath, dirs, files in os.walk(top):
            for name in [*files, *dirs]:
                p = os.path.join(dirpath, name)
                if name in TRIGGER_CACHES or (name in dirs and not os.path.islink(p)):
                    continue
                st = os.lstat(p)
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def from_path(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``pneumonia-xray`` found on the PATH, with no network and an empty environment."""
    return subprocess.run([*offline_prefix(), "env", "-i", "PATH=/usr/bin:/bin",
                           f"PNEUMONIA_XRAY_HOME={home}", PKG, *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def debs(build: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Version N and a rebuilt N+1 of the package, from the same bundle."""
    out = tmp_path_factory.mktemp("debs")
    base = run(sys.executable, "-c", "import pneumonia_core; print(pneumonia_core.__version__)")
    version = base.stdout.strip()
    made = {}
    for key, v in (("old", version), ("new", f"{version}+rebuild1")):
        done = run(ROOT / "packaging" / "linux" / "build_deb.sh", "-b", build["folder"],
                   "-o", out, "-v", v, env={"DEB_COMPRESS": "gzip", "DEB_COMPRESS_LEVEL": "1",
                                            "PYTHON": sys.executable})
        assert done.returncode == 0, done.stderr[-4000:]
        made[key] = Path(done.stdout.strip().splitlines()[-1])
        made[key + "_version"] = v  # type: ignore[assignment]
    return made


def test_checksums_and_release_manifest(debs: dict[str, Path]) -> None:
    from pneumonia_core import pinned_model

    deb = debs["old"]
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    assert deb.with_name(deb.name + ".sha256").read_text() == f"{digest}  {deb.name}\n"
    assert subprocess.run(["sha256sum", "-c", deb.name + ".sha256"], cwd=deb.parent,
                          capture_output=True).returncode == 0
    manifest = json.loads(deb.with_name(deb.name + ".manifest.json").read_text())
    assert manifest["package"]["sha256"] == digest
    assert manifest["package"]["version"] == debs["old_version"]
    # the model folder digest is the one pinned into the app (and printed by --self-test)
    assert manifest["model"]["folder_digest"] == pinned_model.FOLDER_DIGEST
    assert manifest["model"]["files"] == pinned_model.FILES


def test_lintian_and_desktop_entry(debs: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("lintian") is None or shutil.which("desktop-file-validate") is None:
        pytest.fail("lintian and desktop-file-validate are missing: run scripts/setup.sh")
    lint = run("lintian", "--fail-on", "error,warning", debs["old"])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert not [t for t in lint.stdout.splitlines() if t[:2] in ("E:", "W:")], lint.stdout
    run("dpkg-deb", "-x", debs["old"], tmp_path)
    entry = tmp_path / "usr/share/applications/pneumonia-xray.desktop"
    valid = run("desktop-file-validate", entry)
    assert valid.returncode == 0 and not valid.stdout.strip(), valid.stdout + valid.stderr
    text = entry.read_text()
    assert "MimeType=application/dicom;" in text and "Exec=pneumonia-xray %F" in text
    assert (tmp_path / "usr/share/icons/hicolor/scalable/apps/pneumonia-xray.svg").is_file()
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(debs["old"])],
                               capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(conffiles)) as tar:
        listed = tar.extractfile("./conffiles").read().decode()  # type: ignore[union-attr]
    assert listed.split() == ["/etc/pneumonia-xray/config.json"]
    with gzip.open(tmp_path / "usr/share/man/man1/pneumonia-xray.1.gz", "rt") as man:
        assert "--self-test" in man.read().replace("\\-", "-")


def test_install_use_upgrade_remove_purge(debs: dict[str, Path], tmp_path: Path) -> None:
    if installed_version():
        pytest.fail(f"{PKG} {installed_version()} is already installed on this machine; this "
                    "test installs and purges it, so it does not run over someone's install")
    it_file = ETC / "it-notes.txt"  # a file IT put in the folder: not the package's
    etc_existed = ETC.exists()
    before = snapshot()
    home = tmp_path / "reader"  # a reader's data, written by the installed program
    try:
        # -- install: the post-install self-test runs and passes --------------------------
        done = run("dpkg", "-i", debs["old"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SELF-TEST OK" in done.stdout, done.stdout
        assert installed_version() == debs["old_version"]
        assert Path("/opt/pneumonia-xray/pneumonia-xray").is_file()
        assert shutil.which(PKG, path="/usr/bin") == f"/usr/bin/{PKG}"
        test = from_path("--self-test", home=home)
        assert test.returncode == 0 and test.stdout.startswith("SELF-TEST OK"), test.stderr
        assert f"machine settings from {ETC / 'config.json'}" in test.stdout
        films = write_xrays(tmp_path / "films", [1, 2])
        csv_out = tmp_path / "out.csv"
        done = from_path("classify", str(films[0].parent), "--csv", str(csv_out), home=home)
        assert done.returncode in (0, 3) and csv_out.read_text().count("\n") == 3, done.stderr
        db = home / "data" / "review.sqlite3"
        with sqlite3.connect(db) as con:
            events = con.execute("SELECT count(*) FROM audit").fetchone()[0]
        assert events >= 1
        data_before = db.read_bytes()
        # -- IT edits the machine settings and adds a file of its own -------------------------
        config = json.loads((ETC / "config.json").read_text())
        config["threshold_locked"] = True
        (ETC / "config.json").write_text(json.dumps(config, indent=2))
        it_file.write_text("IT's own notes, not the package's\n")
        # -- upgrade to the rebuilt, higher version --------------------------------------------
        done = run("dpkg", "-i", debs["new"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert installed_version() == debs["new_version"]
        assert json.loads((ETC / "config.json").read_text())["threshold_locked"] is True
        assert it_file.exists() and db.read_bytes() == data_before
        test = from_path("--self-test", home=home)
        assert test.returncode == 0 and "threshold LOCKED" in test.stdout, test.stdout + test.stderr
        verify = from_path("verify", home=home)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        refused = from_path("classify", str(films[0].parent), "--csv", str(csv_out),
                            "--threshold", "0.5", home=home)
        assert refused.returncode == 2 and "--threshold refused" in refused.stderr
        # -- remove: the program goes, IT's settings and the reader's data stay -------------------
        done = run("dpkg", "-r", PKG)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not Path("/opt/pneumonia-xray").exists() and not Path(f"/usr/bin/{PKG}").exists()
        assert (ETC / "config.json").exists() and db.read_bytes() == data_before
        # -- purge: the package's own configuration goes, nothing else -----------------------------
        done = run("dpkg", "-P", PKG)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not (ETC / "config.json").exists()
        assert it_file.exists(), "purge removed a file the package did not install"
        assert db.read_bytes() == data_before and csv_out.exists()
        it_file.unlink()
        if not etc_existed and ETC.exists() and not any(ETC.iterdir()):
            ETC.rmdir()
        after = snapshot()
        assert after == before, {
            "added": sorted(set(after) - set(before))[:20],
            "removed": sorted(set(before) - set(after))[:20],
            "changed": sorted(k for k in set(after) & set(before) if after[k] != before[k])[:20],
        }
    finally:
        if installed_version() or run("dpkg-query", "-W", PKG).returncode == 0:
            run("dpkg", "-P", PKG)
        it_file.unlink(missing_ok=True)
        if not etc_existed and ETC.is_dir() and not any(ETC.iterdir()):
            ETC.rmdir()
    assert not installed_version()


def test_a_failing_self_test_fails_the_install_loudly(debs: dict[str, Path]) -> None:
    """IT's settings file is broken before the install: the post-install self-test fails, dpkg
    says so and leaves the package unconfigured; fixed, ``dpkg --configure`` completes it."""
    if installed_version() or ETC.exists():
        pytest.fail(f"{PKG} or {ETC} is already on this machine; not running over it")
    try:
        ETC.mkdir()
        (ETC / "config.json").write_text('{"threshold_locked": "yes"}')
        done = run("dpkg", "--force-confold", "-i", debs["old"])
        assert done.returncode != 0
        assert "THE POST-INSTALL SELF-TEST FAILED" in done.stderr
        assert "threshold_locked must be true or false" in done.stderr
        status = run("dpkg-query", "-W", "-f=${Status}", PKG).stdout
        assert "half-configured" in status and not installed_version()
        (ETC / "config.json").write_text('{"threshold_locked": true}')
        done = run("dpkg", "--configure", PKG)
        assert done.returncode == 0 and "SELF-TEST OK" in done.stdout, done.stderr
        assert installed_version() == debs["old_version"]
    finally:
        run("dpkg", "-P", PKG)
        if ETC.is_dir():
            shutil.rmtree(ETC)
    assert not installed_version() and not ETC.exists()
