"""The watch folder's rules (desktop.watch): complete files only, never a temporary name, each
file once (also across restarts and a stop between saving and marking), a replaced file again."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from desktop import watch
from desktop.audit import AuditLog
from desktop.jobs import classified, classify_job
from desktop.watch import FileKey, FolderWatcher, WatchState, is_temporary_name, watch_job
from pneumonia_core.model import ModelBundle
from tests.conftest import synthetic_xray


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _film(path, seed: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(synthetic_xray(seed)).save(path)
    return str(path)


@pytest.fixture(scope="module")
def bundle(model_dir) -> ModelBundle:
    return ModelBundle.load(model_dir)


@pytest.mark.parametrize("name,temporary", [
    ("a.dcm.part", True), ("a.jpeg.tmp", True), ("a.png~", True), ("~$a.png", True),
    ("a.crdownload", True), (".a.png.XYZ12", True), ("a.dcm", False), ("IM0001", False),
    ("a.jpeg", False)])
def test_temporary_names(name, temporary):
    assert is_temporary_name(f"/drop/{name}") is temporary


def test_a_file_is_taken_only_once_unchanged_for_the_settle_time(tmp_path):
    folder = tmp_path / "drop"
    clock = Clock()
    with WatchState(tmp_path / "w.sqlite3") as state:
        w = FolderWatcher(folder, state, settle_s=2.0, clock=clock)
        assert w.poll() == [] and w.problem  # no folder yet: said, not raised
        folder.mkdir()
        growing = folder / "sub" / "a.png"
        growing.parent.mkdir()
        growing.write_bytes(b"\x89PNG partial")
        (folder / "b.dcm.part").write_bytes(b"x" * 200)  # a copy in progress: never read
        (folder / "empty.png").write_bytes(b"")
        assert w.poll() == [] and not w.problem
        clock.t += 1.5
        with open(growing, "ab") as fh:
            fh.write(b"more")
        assert w.poll() == []  # changed: the settle time starts again
        clock.t += 1.9
        assert w.poll() == []
        clock.t += 0.2
        (ready,) = w.poll()
        assert ready.fs_path == str(growing) and ready.key.size == growing.stat().st_size
        assert w.poll() == [ready]  # handed out but never claimed (no job ran): again
        assert state.claim([ready.key]) == {ready.key}  # what watch_job does first
        assert state.claim([ready.key]) == set()  # another watch of the folder: not twice
        assert w.poll() == []  # being classified: not handed out twice
        clock.t += 10
        assert w.poll() == []  # the empty file and the temporary name are never taken
        assert w.waiting == 1  # the empty file


def test_done_files_are_remembered_across_restarts_and_a_replaced_file_is_new(tmp_path):
    folder = tmp_path / "drop"
    a = _film(folder / "a.png", 1)
    clock = Clock()
    db = tmp_path / "w.sqlite3"
    with WatchState(db) as state:
        w = FolderWatcher(folder, state, settle_s=0.0, clock=clock)
        (f,) = w.poll()
        state.claim([f.key])
        state.mark_done([(f.key, "ok", True)])
    with WatchState(db) as state:  # a restart
        w = FolderWatcher(folder, state, settle_s=0.0, clock=clock)
        assert w.known_done == 1 and w.poll() == []
        _film(folder / "a.png", 2)  # replaced by another film of the same name
        os.utime(a, ns=(1, 1))
        (again,) = w.poll()
        assert again.fs_path == a and again.key != f.key


def test_watch_job_marks_saved_files_and_releases_those_not_reached(tmp_path, bundle):
    folder = tmp_path / "drop"
    for i in range(3):
        _film(folder / f"f{i}.png", i)
    data, db = tmp_path / "data.sqlite3", tmp_path / "w.sqlite3"
    with WatchState(db) as state:
        files = FolderWatcher(folder, state, settle_s=0.0).poll()
    assert len(files) == 3
    job = watch_job([f.fs_path for f in files], bundle, None, data, files=files, state_file=db)
    next(job)  # Discovered
    (first,) = next(job).items  # the first file is saved (and audited) at once
    job.close()  # a Cancel
    with WatchState(db) as state:
        assert state.states(f.key for f in files) == {files[0].key: "done"}
        w = FolderWatcher(folder, state, settle_s=0.0)
        assert [f.fs_path for f in w.poll()] == [f.fs_path for f in files[1:]]
    assert first.row.path == files[0].fs_path


def test_a_stop_between_saving_and_marking_is_settled_from_the_audit_trail(tmp_path, bundle):
    folder = tmp_path / "drop"
    paths = [_film(folder / f"f{i}.png", i) for i in range(3)]
    data, db = tmp_path / "data.sqlite3", tmp_path / "w.sqlite3"
    with WatchState(db) as state:
        files = FolderWatcher(folder, state, settle_s=0.0).poll()
        state.claim(f.key for f in files)
    # classified and saved (one audit event each), then killed before the 'done' mark:
    saved = list(classified(classify_job(paths[:2], bundle, None, data)))
    assert len(saved) == 2
    with WatchState(db) as state:
        assert state.reconcile(data) == (2, 1)
        w = FolderWatcher(folder, state, settle_s=0.0)
        assert w.known_done == 2
        assert [f.fs_path for f in w.poll()] == paths[2:]
    with AuditLog(data) as audit:
        assert sorted(e.path for e in audit.all() if e.action == "classify") == paths[:2]


def test_claims_before_the_audit_event_of_an_earlier_classification_do_not_count(tmp_path,
                                                                                 bundle):
    """A file classified (by the window) before the watch claimed it is not 'done' for it."""
    folder = tmp_path / "drop"
    (path,) = [_film(folder / "a.png")]
    data, db = tmp_path / "data.sqlite3", tmp_path / "w.sqlite3"
    list(classify_job([path], bundle, None, data))
    with WatchState(db) as state:
        (f,) = FolderWatcher(folder, state, settle_s=0.0).poll()
        state.claim([f.key])
        assert state.reconcile(data) == (0, 1)
        assert state.states([f.key]) == {}


def test_keys_and_constants_are_what_the_docs_say():
    assert watch.SETTLE_S == 2.0 and watch.POLL_S == 1.0
    assert FileKey("a", 1, 2) == FileKey("a", 1, 2)
    assert np.isfinite(watch.SETTLE_S)


@pytest.mark.parametrize("argv,message", [
    (["classify", "--watch", "{drop}", "x.png"], "takes no PATH and no --csv"),
    (["classify", "--watch", "{drop}", "--csv", "{tmp}/o.csv"], "takes no PATH and no --csv"),
    (["classify", "--watch", "{tmp}/missing"], "no such folder"),
    (["classify", "x.png"], "the following arguments are required: --csv"),
    (["classify", "--csv", "{tmp}/o.csv"], "the following arguments are required: PATH"),
])
def test_watch_usage_errors_exit_2_and_say_why(tmp_path, argv, message):
    import io

    from desktop import cli

    (tmp_path / "drop").mkdir()
    err = io.StringIO()
    args = [a.format(drop=tmp_path / "drop", tmp=tmp_path) for a in argv]
    assert cli.main(args, io.StringIO(), err) == cli.EXIT_USAGE
    assert message in err.getvalue()
    assert not (tmp_path / "o.csv").exists()
