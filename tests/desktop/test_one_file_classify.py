"""The one-file ``classify`` (issue 22, start-up): what it loads and computes only once, and
that a fresh process writes the same CSV as the command run in-process."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import cli
from pneumonia_core import integrity
from pneumonia_core.model import ModelBundle
from tests.conftest import MODEL_DIR, ROOT
from tests.desktop.test_batch import write_xrays

pytestmark = pytest.mark.usefixtures("home")


def _fresh_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def test_fresh_process_writes_the_same_csv_as_the_command_in_process(tmp_path: Path) -> None:
    film = write_xrays(tmp_path / "in", [5])[0]
    fresh, here = tmp_path / "fresh.csv", tmp_path / "here.csv"
    done = subprocess.run([sys.executable, "-m", "desktop", "classify", str(film), "--csv",
                           str(fresh)], cwd=ROOT, env=_fresh_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == cli.EXIT_OK, done.stderr
    assert cli.main(["classify", str(film), "--csv", str(here)], stderr=io.StringIO()) == 0
    assert fresh.read_text() == here.read_text()
    assert ",ok," in fresh.read_text()


def test_a_jpeg_without_a_site_profile_loads_neither_profile_code_nor_pydicom(
        tmp_path: Path) -> None:
    """Deferred imports: the site profile's fitting and verification code (and its signature
    check) load only when a profile is there, pydicom only for a DICOM file; the guard does
    not pull in ``numpy.ma`` (``np.median`` did); nor does a one-file run load the thread pool
    and its queue (one worker; the audit thread waits on an event), the watch folder's code,
    ``logging.handlers`` (the log file rotates by itself), ``tempfile`` (the CSV's temporary
    file and the runtime's banner capture need neither), or Pillow's plugins of other formats
    (and TIFF's, for a JPEG without EXIF) (issue 22, start-up)."""
    film = tmp_path / "film.jpeg"
    from PIL import Image

    Image.open(write_xrays(tmp_path / "in", [6])[0]).save(film, quality=90)
    code = ("import sys; from desktop import cli; "
            f"code = cli.main(['classify', {str(film)!r}, '--csv', {str(tmp_path / 'o.csv')!r}]); "
            "print(code, *(m for m in ('pneumonia_core.site_profile', 'desktop.profile_authority', "
            "'pydicom', 'PySide6', 'numpy.ma', 'concurrent.futures', 'queue', 'desktop.watch', "
            "'logging.handlers', 'tempfile', 'PIL.PngImagePlugin', 'PIL.TiffImagePlugin', "
            "'PIL.BmpImagePlugin', 'PIL.GifImagePlugin') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_fresh_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["0"], done.stdout + done.stderr


def test_loading_the_model_reads_and_hashes_the_model_file_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder's digest is computed from the model file's bytes, and those very bytes are
    run (nothing to swap in between): the model file is hashed once, the rest of the folder
    once, the metadata a second time as it is parsed (it was three times, then twice)."""
    hashed = {"bytes": 0}
    real = hashlib.sha256

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self._h = real(data)
            hashed["bytes"] += len(data)

        def update(self, data: bytes) -> None:
            hashed["bytes"] += len(data)
            self._h.update(data)

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    monkeypatch.setattr(integrity.hashlib, "sha256", Counting)
    import pneumonia_core.metadata as metadata

    monkeypatch.setattr(metadata.hashlib, "sha256", Counting)
    bundle = ModelBundle.load(MODEL_DIR)
    assert bundle.verified
    folder = sum(p.stat().st_size for p in MODEL_DIR.rglob("*") if p.is_file())
    meta = (MODEL_DIR / "metadata.json").stat().st_size
    listing = 4096  # the digest over the files' names and digests
    assert folder <= hashed["bytes"] <= folder + meta + listing, (hashed, folder, meta)
    assert bundle._bytes is bundle.verification.contents[bundle.metadata.file]
    assert bundle._bytes == (MODEL_DIR / bundle.metadata.file).read_bytes()


@pytest.mark.parametrize("given", [None, "3"])
def test_the_entry_point_runs_openblas_on_one_thread_unless_told_otherwise(
        given: str | None) -> None:
    """``desktop.__main__`` sets ``OPENBLAS_NUM_THREADS=1`` before numpy loads (no thread per
    core at import); a value the user set is kept."""
    env = {k: v for k, v in _fresh_env().items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = ("import os, sys; import desktop.__main__; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [given or "1", "False"], done.stdout + done.stderr


def test_the_program_leaves_its_data_file_closed_and_checkpointed(tmp_path: Path) -> None:
    """As the program ends, the garbage is collected and the rest frozen (no teardown walk of
    every object): the audit trail's connections are still all closed by then, so no WAL or
    shared-memory file is left beside the data file, and the run's event is in it."""
    film = write_xrays(tmp_path / "in", [7])[0]
    home = tmp_path / "apphome"
    env = dict(_fresh_env(), PNEUMONIA_XRAY_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "desktop", "classify", str(film), "--csv",
                           str(tmp_path / "o.csv")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == cli.EXIT_OK, done.stderr
    data = sorted(p.name for p in (home / "data").iterdir())
    assert data == ["review.sqlite3"], data
    from desktop.audit import verify_file

    check = verify_file(home / "data" / "review.sqlite3")
    assert check.ok, check.summary()


def test_only_the_program_itself_ends_the_process(tmp_path: Path) -> None:
    """``main(argv)`` called from code (tests, another program) returns and leaves the process
    as it is; ``main()`` as the program ends the process itself, with the command's status."""
    import gc

    from desktop.__main__ import main

    before = gc.get_freeze_count()
    assert main(["--version"]) == 0
    assert gc.get_freeze_count() == before
    missing = ["classify", str(tmp_path / "missing.jpeg"), "--csv", str(tmp_path / "o.csv")]
    code = (f"import sys; sys.argv = ['pneumonia-xray', *{missing!r}]; "
            "from desktop.__main__ import main; main(); print('RETURNED')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_fresh_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == cli.EXIT_INCOMPLETE, done.stdout + done.stderr
    assert "RETURNED" not in done.stdout and "missing.jpeg" in (tmp_path / "o.csv").read_text()
    code = code.replace(f"*{missing!r}", "'--version'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_fresh_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "RETURNED" not in done.stdout, done.stdout + done.stderr
    assert done.stdout.startswith("pneumonia-xray ")


def test_a_fresh_process_leaves_everything_written_when_it_ends_without_teardown(
        tmp_path: Path) -> None:
    """The command's process ends with ``os._exit`` (no interpreter teardown, issue 22): the
    CSV on standard output, the summary, the log file and the audit trail are all complete."""
    import sqlite3

    from desktop import paths

    film = write_xrays(tmp_path / "in", [7])[0]
    done = subprocess.run([sys.executable, "-m", "desktop", "classify", str(film), "--csv", "-"],
                          cwd=ROOT, env=_fresh_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == cli.EXIT_OK, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("path,status") and len(lines) == 2 and ",ok," in lines[1]
    assert "classified 1 file(s)" in done.stderr and done.stderr.endswith("\n")
    log_text = paths.log_path().read_text()
    assert "operating point: model default" in log_text and log_text.endswith("\n")
    with sqlite3.connect(paths.review_db_path()) as db:
        actions = [r[0] for r in db.execute("SELECT action FROM audit")]
    assert actions.count("run:classify") == 1


def test_every_dataclass_of_the_app_has_its_own_docstring() -> None:
    """Python 3.11 writes a missing dataclass docstring from ``inspect.signature`` when the
    class is made, about 0.3 ms of every start per class (issue 22): each has its own."""
    import dataclasses
    import importlib
    import pkgutil

    import desktop
    import pneumonia_core

    missing = []
    for package in (desktop, pneumonia_core):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            missing += [f"{info.name}.{name}" for name, obj in vars(module).items()
                        if isinstance(obj, type) and dataclasses.is_dataclass(obj)
                        and obj.__module__ == info.name
                        and (obj.__doc__ or "").startswith(f"{obj.__name__}(")]
    assert not missing, missing
