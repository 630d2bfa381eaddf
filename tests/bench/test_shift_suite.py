"""The acquisition-shift suite (issue 21): every family changes the film, is reproducible
from its seed, and is read back by the app's decoder; the summary counts what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import shift_suite as ss
from pneumonia_core.imageio import decode_bytes, to_model_input
from tests.conftest import synthetic_xray


@pytest.fixture(scope="module")
def film() -> np.ndarray:
    return synthetic_xray(3, size=(320, 280)).astype(np.float32)


@pytest.mark.parametrize("family", ss.SUITE)
def test_each_family_is_seeded_decodable_and_changes_the_film(film: np.ndarray,
                                                              family: str) -> None:
    a = ss.shifted_bytes(film, family, ss.film_seed(0, 7, family))
    b = ss.shifted_bytes(film, family, ss.film_seed(0, 7, family))
    assert a == b  # the same draws for the same film, seed and family
    gray = to_model_input(decode_bytes(a).pixels, 224)
    plain = to_model_input(decode_bytes(ss.encode(film, "png8")).pixels, 224)
    differs = np.abs(gray.astype(int) - plain).mean()
    assert (differs == 0) if family == "plain" else (differs > 0.1), (family, differs)
    other = [ss.shifted_bytes(film, family, ss.film_seed(0, i, family)) for i in range(4)]
    assert family == "plain" or len(set(other)) > 1  # parameters drawn per film


def test_collimation_puts_a_flat_band_on_a_side(film: np.ndarray) -> None:
    for i in range(8):
        out = ss.collimation(film, np.random.default_rng(i))
        edges = [out[:, :3], out[:, -3:], out[:3], out[-3:]]
        assert any(e.std() < 8 and (e.mean() < 45 or e.mean() > 205) for e in edges)


def test_bit_depth_encodings_give_the_same_film(film: np.ndarray) -> None:
    grays = [decode_bytes(ss.encode(film, kind, np.random.default_rng(0))).pixels
             for kind in ss.ENCODINGS]
    for g in grays[1:]:
        assert np.corrcoef(g.ravel(), grays[0].ravel())[0, 1] > 0.99


def test_summary_counts_refusals_and_scores_every_film() -> None:
    rows = [ss.FilmResult("noise", f"f{i}", i % 2, "out_of_scope" if i < 3 else "ok",
                          "pixels" if i < 3 else "", 0.0, 0.9 if i % 2 else 0.1)
            for i in range(20)]
    s = ss.summarise(rows, threshold=0.5)["noise"]
    assert s["films"] == 20 and s["refused"] == 3 and s["refused_by_check"] == {"pixels": 3}
    assert s["roc_auc"]["value"] == 1.0 and s["sensitivity"]["value"] == 1.0
    assert s["specificity"]["value"] == 1.0 and s["ece"]["value"] == pytest.approx(0.1)


def test_halves_keep_each_patient_on_one_side() -> None:
    films = [(f"/x/NORMAL/IM-{p:04d}-000{k}.jpeg", 0) for p in range(10) for k in range(2)]
    films += [(f"/x/PNEUMONIA/person{p}_bacteria_{k}.jpeg", 1) for p in range(12) for k in (1, 2)]
    a, b = ss.halves(films)
    assert sorted(a + b) == sorted(films)
    pa = {Path(f).name.rsplit("-", 1)[0].split("_")[0] for f, _ in a}
    pb = {Path(f).name.rsplit("-", 1)[0].split("_")[0] for f, _ in b}
    assert not pa & pb
    assert abs(sum(y for _, y in a) - sum(y for _, y in b)) <= 2


def test_the_issue_combination_is_its_three_families_in_acquisition_order(
        film: np.ndarray) -> None:
    family = "unsharp_noise_collimation"
    rng = ss.film_seed(0, 5, family)
    expected = ss.unsharp(ss.noise(ss.collimation(film, rng), rng), rng)
    data = ss.shifted_bytes(film, family, ss.film_seed(0, 5, family))
    assert data == ss.encode(expected, "png8")
    # appended after "combined": the families before it keep their draws
    assert ss.SUITE.index("combined") == len(ss.FAMILIES) + 1


def test_several_models_score_the_same_shifted_files(tmp_path: Path) -> None:
    from PIL import Image

    from tests.conftest import MODEL_DIR

    films = []
    for i in range(2):
        folder = tmp_path / ss.LABELS[i]
        folder.mkdir()
        path = folder / f"film{i}.png"
        Image.fromarray(synthetic_xray(10 + i, size=(300, 260), pneumonia=bool(i))).save(path)
        films.append((str(path), i))
    rows = ss.run_suite(films, [str(MODEL_DIR), str(MODEL_DIR)], ["plain", "noise"], workers=1)
    assert len(rows) == 2 * 2 * 2  # films x families x models, film by film
    for a, b in zip(rows[::2], rows[1::2], strict=True):
        assert (a.file, a.family, a.label) == (b.file, b.family, b.label)
        assert a.logit == pytest.approx(b.logit)  # the same model, the same shifted file
        assert a.model == b.model != ""


def test_calibrate_half_passes_the_sites_target_to_calibrate(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``--calibrate-half FAMILY --target-sensitivity S`` runs calibrate with that target on
    one half and stops (nothing measured) when calibrate refuses."""
    from desktop import calibrate

    seen: list[list[str]] = []

    def fake_main(args: list[str], stdout: object = None, stderr: object = None) -> int:
        seen.append(list(args))
        return 4  # the films cannot support a calibration

    monkeypatch.setattr(calibrate, "main", fake_main)
    films = []
    for i in range(4):
        for label in (0, 1):
            p = tmp_path / "in" / f"person{i}_{label}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(synthetic_xray(seed=i * 2 + label)).save(p)
            films.append((str(p), label))
    res = ss.calibrate_half(films, "noise", None, tmp_path / "work", target_sensitivity=0.95)
    assert len(seen) == 1
    args = seen[0]
    assert args[args.index("--target-sensitivity") + 1] == "0.95"
    assert res["calibrate_exit"] == 4 and "summary" not in res
    assert res["target_sensitivity"] == 0.95
    assert res["calibrated_on"] + res["measured_on"] == len(films)


def test_every_kth_keeps_at_most_the_limit_and_the_held_out_half() -> None:
    films = [(f"f{i:03d}", i % 2) for i in range(314)]
    half = ss.every_kth(films, 157)
    assert half == films[::2] and len(half) == 157  # the held-out half the results name
    assert len(ss.every_kth(films, 100)) <= 100 and ss.every_kth(films, 100)[1] == films[4]
    assert ss.every_kth(films, 0) == films and ss.every_kth(films, None) == films
    assert ss.every_kth(films, 500) == films
