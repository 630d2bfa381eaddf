"""The training-scale benchmark's parts that need no training: the generated larger set, the
ratios, the table and the refusal to write films into the repository. No speed is asserted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import training_scale as T
from tests.conftest import ROOT, make_kermany_tree


def test_scaled_set_is_augmented_seeded_and_reused(tmp_path: Path) -> None:
    data = make_kermany_tree(tmp_path / "data", n_per_class=3, splits=("train",))
    films = T.make_scaled_set(data / "train", tmp_path / "work", 10)
    assert len(films) == 10 and {lab for _, lab in films} == {0, 1}
    arrays = [np.asarray(Image.open(p)) for p, _ in films]
    assert all(a.shape == (T.SIZE, T.SIZE) for a in arrays)
    # film k and film k + 6 come from the same source (6 sources) but differ: augmented
    assert films[0][1] == films[6][1] and not np.array_equal(arrays[0], arrays[6])
    mtimes = [p.stat().st_mtime_ns for p, _ in films]
    again = T.make_scaled_set(data / "train", tmp_path / "work", 10)
    assert again == films and [p.stat().st_mtime_ns for p, _ in again] == mtimes


def test_ratios_and_table() -> None:
    cases = [{"mode": m, "devices": 1, "films": n, "films_per_s": fps, "peak_rss_mb": mb}
             for m, n, fps, mb in (("arrays", 1000, 100.0, 900.0), ("tfrecord", 1000, 90.0, 950.0),
                                   ("arrays", 20000, 80.0, 3000.0),
                                   ("tfrecord", 20000, 88.0, 1000.0))]
    results = {"cases": cases, "steps": 20, "batch": 32, "image_size": 224,
               "machine": {"cpu": "test", "cores": 2}}
    T.add_ratios(results)
    tf20 = cases[3]
    assert tf20["peak_vs_smallest"] == pytest.approx(1000 / 950)
    assert tf20["films_per_s_vs_arrays"] == pytest.approx(1.1)
    assert cases[2]["peak_vs_smallest"] == pytest.approx(3000 / 900)
    table = T.markdown(results)
    assert "| tfrecord | 1 | 20000 | 88.0 | 1.10x | 1000 | 1.05x |" in table


def test_refuses_to_write_films_into_the_repository() -> None:
    with pytest.raises(SystemExit):
        T.main(["--work", str(ROOT / "scale-data"), "--sizes", "1000"])
    assert not (ROOT / "scale-data").exists()
