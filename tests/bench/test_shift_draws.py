"""The shift suite over several draws (issue 21): the ECE floor is what sampling alone gives,
pooled figures decide each film at its own draw's threshold, and every draw gets new seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import shift_draws as sd
from bench import shift_suite as ss
from pneumonia_core.metrics import expected_calibration_error
from tests.conftest import MODEL_DIR, synthetic_xray


def test_ece_floor_is_sampling_alone_and_shrinks_with_more_films() -> None:
    rng = np.random.default_rng(0)
    small, large = rng.uniform(0, 1, 150), rng.uniform(0, 1, 3000)
    f_small, f_large = sd.ece_floor(small), sd.ece_floor(large)
    assert 0.02 < f_small < 0.09  # 150 perfectly calibrated films still read a few hundredths
    assert f_large < f_small / 2
    # a miscalibrated model scores well above the floor on the same films
    y = (rng.random(large.size) < large ** 3).astype(int)
    assert expected_calibration_error(y, large, 10) > 5 * f_large


def _row(label: int, p: float, status: str = "ok") -> ss.FilmResult:
    return ss.FilmResult("combined", "f", label, status, "", 0.0, p)


def test_pooled_decides_each_film_at_its_own_draws_threshold() -> None:
    rows = [_row(1, 0.4), _row(0, 0.3), _row(1, 0.4, "out_of_scope"), _row(0, 0.3)]
    # draw A's profile threshold 0.35 (positive found, negative cleared); draw B's 0.5/0.2
    res = sd.pooled(rows, [0.35, 0.35, 0.5, 0.2])
    assert res["films"] == 4 and res["refused"]["k"] == 1
    assert (res["sensitivity"]["k"], res["sensitivity"]["n"]) == (1, 2)  # 0.4 < 0.5 missed
    assert (res["specificity"]["k"], res["specificity"]["n"]) == (1, 2)  # 0.3 >= 0.2 flagged
    with pytest.raises(ValueError):
        sd.pooled(rows, [0.5])  # one threshold per row


def test_suite_draws_uses_new_draws_per_seed_and_pools_them(tmp_path: Path) -> None:
    films = []
    for i in range(4):
        folder = tmp_path / ss.LABELS[i % 2]
        folder.mkdir(exist_ok=True)
        path = folder / f"person{i}.png"
        Image.fromarray(synthetic_xray(20 + i, size=(300, 260), pneumonia=bool(i % 2))).save(path)
        films.append((str(path), i % 2))
    res = sd.suite_draws(films, str(MODEL_DIR), ["plain", "noise"], [0, 1], workers=1)
    assert [d["seed"] for d in res["draws"]] == [0, 1]
    assert res["pooled"]["noise"]["films"] == 2 * len(films)
    assert res["pooled"]["plain"]["refused"]["n"] == 2 * len(films)
    per = [d["summary"]["noise"] for d in res["draws"]]
    assert per[0]["ece"]["value"] != per[1]["ece"]["value"]  # the noise was drawn again
    plain = [d["summary"]["plain"]["ece"]["value"] for d in res["draws"]]
    assert plain[0] == pytest.approx(plain[1])  # the plain films are the same in every draw
    text = sd.suite_report(res)
    assert "| noise | " in text and "x 2 draws (seeds 0, 1)" in text


def test_the_summary_file_says_which_films_it_covers(tmp_path: Path) -> None:
    """The card prints which films a draws file covers ("every k-th film of ..." or "all
    of ..."): the command records the folders' names and ``--limit``, never their paths."""
    data = tmp_path / "site_films"
    for i in range(4):
        folder = data / ss.LABELS[i % 2]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_xray(30 + i, size=(280, 250), pneumonia=bool(i % 2))).save(
            folder / f"person{i}.png")
    out = tmp_path / "draws.json"
    assert sd.main(["--data", str(data), "--limit", "2", "--draws", "1", "--families", "plain",
                    "--workers", "1", "--model", str(MODEL_DIR), "--summary", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["data"] == ["site_films"] and res["limit"] == 2 and res["films_per_draw"] == 2
    assert str(tmp_path) not in out.read_text()
