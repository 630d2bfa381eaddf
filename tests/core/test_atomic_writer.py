"""pneumonia_core.atomic_files.atomic_writer: the one atomic file writer (batch CSV, exports,
converter outputs) respects the user's file and leaves nothing behind."""

from __future__ import annotations

import os
import stat

import pytest

from pneumonia_core.atomic_files import atomic_write_bytes, atomic_writer, remove_stale_temps


def test_mode_kept_link_followed_nothing_left_on_failure(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError), atomic_writer(link, "wb", encoding=None) as fh:
        fh.write(b"partial")
        raise RuntimeError("disk went away")
    assert real.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.bin", "real.bin"]


def test_stale_temporaries_of_dead_writers_only_are_removed(tmp_path):
    target = tmp_path / "out.csv"
    dead = tmp_path / f".out.csv.{2**22 + 777}.abc.tmp"
    mine = tmp_path / f".out.csv.{os.getpid()}.def.tmp"
    other = tmp_path / ".other.csv.1.x.tmp"
    for p in (dead, mine, other):
        p.write_text("x")
    assert remove_stale_temps(target) == [dead]
    assert mine.exists() and other.exists() and not dead.exists()
