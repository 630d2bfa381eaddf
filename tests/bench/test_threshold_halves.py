"""bench.threshold_halves: the release rule fitted on one half of the films, read on the other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import threshold_halves as th
from pneumonia_core.calibration import choose_threshold


def test_halves_are_stratified_disjoint_and_cover_every_film() -> None:
    y = np.array([1] * 11 + [0] * 6)
    halves = th.split_halves(y, splits=20, seed=3)
    assert len(halves) == 20
    for fit, read in halves:
        assert set(fit).isdisjoint(read) and set(fit) | set(read) == set(range(y.size))
        assert (y[fit] == 1).sum() == 5 and (y[fit] == 0).sum() == 3
    assert len({tuple(sorted(f)) for f, _ in halves}) > 1  # not the same split twice


def test_separable_films_read_perfectly_on_the_other_half() -> None:
    y = np.array([1] * 40 + [0] * 40)
    p = np.r_[np.linspace(0.6, 0.99, 40), np.linspace(0.01, 0.4, 40)]
    r = th.holdout(y, p, th.split_halves(y, 50))
    assert r["sensitivity_mean"] == 1.0 and r["specificity_mean"] == 1.0
    assert r["sensitivity_under_line"] == 0.0 and 0.4 < r["threshold_median"] < 0.6


def test_the_other_half_shows_what_the_fitted_half_hides() -> None:
    """Overlapping classes: on the films it was fitted on the rule always meets its target; on
    the other half it misses it in a share of the splits (what in-sample figures cannot show)."""
    rng = np.random.default_rng(0)
    y = np.array([1] * 200 + [0] * 120)
    z = np.where(y == 1, rng.normal(1.5, 1.0, y.size), rng.normal(-1.5, 1.0, y.size))
    p = 1 / (1 + np.exp(-z))
    in_sample = choose_threshold(y, p, 0.985, widen=True)["sensitivity"]
    r = th.holdout(y, p, th.split_halves(y, 300), target=0.985)
    assert in_sample >= 0.985
    assert r["sensitivity_mean"] < in_sample and r["sensitivity_under_line"] > 0.05
    assert r["sensitivity_p5"] < r["sensitivity_mean"] and 0.0 < r["specificity_mean"] < 1.0


def _suite(films: list[tuple[str, str, int, float | None]]) -> dict:
    return {"films": [{"family": fam, "model": m, "file": f"{i % 6}.png", "label": lab,
                       "probability": prob}
                      for i, (m, fam, lab, prob) in enumerate(films)]}


def test_models_share_their_films_and_a_refused_one_is_left_out_for_all(tmp_path: Path) -> None:
    rows = []
    for m, shift in (("old", 0.0), ("new", 0.05)):
        for i in range(6):
            prob = None if (m == "new" and i == 2) else 0.1 + 0.15 * i + shift
            rows.append((m, "plain", int(i >= 3), prob))
    doc = _suite(rows)
    doc["films"].append({"family": "combined", "model": "old", "file": "x.png", "label": 1,
                         "probability": 0.9})
    models = th.models_from_suite(doc, "plain")
    assert set(models) == {"old", "new"}
    files_old, y_old, p_old = models["old"]
    files_new, _, p_new = models["new"]
    assert files_old == files_new == ["0.png", "1.png", "3.png", "4.png", "5.png"]
    assert list(y_old) == [0, 0, 1, 1, 1] and np.allclose(p_new - p_old, 0.05)
    with pytest.raises(ValueError, match="no films"):
        th.models_from_suite(doc, "noise")
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "halves.json"
    assert th.main([str(path), "--splits", "10", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert set(written) == {"old", "new"} and written["old"]["splits"] == 10
