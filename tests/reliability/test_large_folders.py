"""Large folders, Qt-free: the folder scan is fast and lazy on 10,000 files, and classifying
many files keeps memory bounded (a Result holds numbers and strings, never pixels).

The window's event-loop stall on a large folder is measured by tests/desktop/qt/test_app_large_folder.py.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pneumonia_core.files import iter_image_files
from pneumonia_core.pipeline import STATUS_ERROR, classify_file
from tests.conftest import synthetic_xray

pytestmark = pytest.mark.timeout(300)

N_FILES = 10_000
PER_FOLDER = 500


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    for d in range(N_FILES // PER_FOLDER):
        sub = root / f"series{d:02d}"
        sub.mkdir()
        for i in range(PER_FOLDER):
            name = f"img{i:04d}.png" if i % 10 else f"notes{i:04d}.txt"  # 10 % not images
            (sub / name).touch()
    return root


def test_scan_of_10000_files_is_fast_and_complete(big_tree: Path) -> None:
    t0 = time.perf_counter()
    paths = list(iter_image_files([big_tree]))
    elapsed = time.perf_counter() - t0
    assert len(paths) == N_FILES * 9 // 10
    assert paths == sorted(paths)  # deterministic order (names sort the same as paths here)
    assert len(set(paths)) == len(paths)
    assert elapsed < 5.0, f"scanning {N_FILES} files took {elapsed:.2f} s"  # ~0.1 s expected


def test_scan_is_lazy_one_listing_per_folder(big_tree: Path, monkeypatch) -> None:
    calls: list[str] = []
    real = os.scandir

    def counting(path):  # noqa: ANN001, ANN202
        calls.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    walk = iter_image_files([big_tree])
    first = next(walk)
    assert first.endswith("img0001.png")
    assert len(calls) == 2, calls  # the root and the first sub-folder, nothing more
    for _ in range(PER_FOLDER * 9 // 10 - 1):
        next(walk)
    assert len(calls) == 2  # the whole first folder came from one listing
    next(walk)
    assert len(calls) == 3


def test_scan_memory_does_not_grow_with_the_number_of_files(big_tree: Path) -> None:
    """Consuming the scan without keeping paths needs memory for one folder listing only.

    Measured in a fresh interpreter: tracemalloc counts every thread's allocations, and threads
    left running by earlier tests in this process would be counted too."""
    import subprocess
    import sys

    code = (
        "import sys, tracemalloc\n"
        "from pneumonia_core.files import iter_image_files\n"
        "warm = iter_image_files([sys.argv[1]]); next(warm); warm.close()  # lazy imports\n"
        "tracemalloc.start()\n"
        "n = sum(1 for _ in iter_image_files([sys.argv[1]]))\n"
        "print(n, tracemalloc.get_traced_memory()[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(big_tree)], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    n, peak = (int(x) for x in out.stdout.split())
    assert n == N_FILES * 9 // 10
    # One listing of 500 entries is ~100 kB; all 9,000 paths would be ~1 MB.
    assert peak < 600_000, f"scan peak {peak / 1e3:.0f} kB"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_classifying_many_files_keeps_memory_bounded(tmp_path: Path, bundle) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    sources = []
    for k in range(8):
        p = tmp_path / f"src{k}.jpeg"
        Image.fromarray(synthetic_xray(k, size=(1000, 800), pneumonia=k % 2 == 1)).save(p)
        sources.append(p)
    n = 120
    for i in range(n):  # hard links: many files, few bytes on disk
        os.link(sources[i % len(sources)], folder / f"f{i:04d}.jpeg")

    paths = list(iter_image_files([folder]))
    for p in paths[:20]:  # warm-up: interpreter, allocator pools, lazy imports
        classify_file(p, bundle)
    rss0 = rss_mb()
    tracemalloc.start()
    try:
        results = [classify_file(p, bundle) for p in paths]
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth = rss_mb() - rss0
    assert len(results) == n and all(r.status != STATUS_ERROR for r in results)
    assert all(r.cam is None for r in results)
    assert not any(isinstance(v, np.ndarray) for r in results for v in vars(r).values())
    per_result = retained / n
    msg = (f"{n} full-size JPEGs: {per_result:.0f} B retained per Result, tracemalloc peak "
           f"{peak / 1e6:.1f} MB, RSS growth {growth:.1f} MB")
    sys.stderr.write(msg + "\n")
    assert per_result < 4096, msg  # numbers and strings only (a 224x224 array alone is 50 kB)
    assert peak < 64e6, msg  # one image in flight at a time
    assert growth < 64, msg  # no leak proportional to the number of files
