"""The guard under acquisition differences (issue 21): collimator borders are cropped whatever
the site's black level or annotations, a guard fitted with acquisition variants checks no
absolute contrast or detail, the variants can hold a step out (for held-out validation), and
the shipped guard reads real films made to look as if acquired elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench import guard_holdout, shift_suite
from pneumonia_core import scope, scope_augment
from tests.conftest import MODEL_DIR, SHARED_DATA, synthetic_xray


@pytest.fixture(scope="module")
def film() -> np.ndarray:
    return synthetic_xray(4, size=(224, 224))


def _with_border(film: np.ndarray, value: int, rows: int, text: bool = False) -> np.ndarray:
    out = film.copy()
    out[:rows] = value
    if text:
        im = Image.fromarray(out)
        ImageDraw.Draw(im).text((90, 5), "PORTABLE", fill=255 - value)
        out = np.asarray(im)
    return out


@pytest.mark.parametrize("value, text", [(0, False), (250, False), (0, True), (250, True)])
def test_a_collimator_band_is_cropped_with_or_without_burned_in_text(
        film: np.ndarray, value: int, text: bool) -> None:
    bordered = _with_border(film, value, 40, text)
    field = scope.exposed_field(bordered)
    assert 40 <= bordered.shape[0] - field.shape[0] <= 42, field.shape
    assert field.shape[1] >= film.shape[1] - 2


def test_a_band_at_a_lifted_black_level_is_still_a_border(film: np.ndarray) -> None:
    # a site whose black level is 30 % of the range: the border is the image's own black
    lifted = (77 + film.astype(np.float32) * (255 - 77) / 255).astype(np.uint8)
    bordered = _with_border(lifted, 77, 40)
    assert bordered.shape[0] - scope.exposed_field(bordered).shape[0] >= 40
    # the same grey band inside a full-contrast film is not the image's black: kept
    assert scope.exposed_field(_with_border(film, 128, 40)).shape == film.shape


def test_a_film_without_bands_keeps_nearly_all_of_it(film: np.ndarray) -> None:
    # (the generated film's dark air at its sides may lose a few lines, as real films do)
    assert scope.exposed_field(film).shape[0] >= film.shape[0] - 10
    assert scope.exposed_field(film).shape[1] >= film.shape[1] - 10


def test_a_guard_fitted_with_variants_checks_no_absolute_contrast_or_detail() -> None:
    films = [synthetic_xray(i, size=(224, 224)) for i in range(60)]
    plain = scope.fit_pixel_stats(films)
    robust = scope.fit_pixel_stats(films, variants=scope_augment.acquisition_variants(films, 1),
                                   crop_field=True)
    assert set(scope.ACQUISITION_DEPENDENT) <= set(plain["low"])  # older fits: unchanged
    assert not set(scope.ACQUISITION_DEPENDENT) & set(robust["low"])
    assert {"edge", "fine", "p50", "symmetry"} <= set(robust["low"])
    # an edge-enhanced film (much more absolute detail) is not refused for it
    sharp = np.clip(films[0] + 1.5 * (films[0].astype(np.float32) - np.asarray(
        Image.fromarray(films[0]).resize((56, 56)).resize((224, 224)), np.float32)), 0, 255)
    verdict = scope.check_pixels(sharp.astype(np.uint8), {"pixels": robust})
    assert "fine detail " not in verdict.reason and "edge density " not in verdict.reason


def test_variants_can_hold_a_step_out(film: np.ndarray) -> None:
    films = [film]
    assert all(np.array_equal(a, b) for a, b in zip(
        scope_augment.acquisition_variants(films, 3, seed=1),
        scope_augment.acquisition_variants(films, 3, seed=1, without=()), strict=True))
    untouched = scope_augment.acquisition_variants(films, 2, without=list(scope_augment.STEPS))
    assert all(np.array_equal(v, film) for v in untouched)
    with pytest.raises(ValueError, match="unknown steps"):
        scope_augment.acquisition_variants(films, 1, without=("sharpen",))
    # the held-out bench names real steps and real suite families
    assert set(guard_holdout.HOLDOUTS) == set(scope_augment.STEPS)
    assert {f for fams in guard_holdout.HOLDOUTS.values() for f in fams} <= set(shift_suite.SUITE)


def _test_films(n: int) -> list[tuple[str, int]]:
    folder = SHARED_DATA / "test_public"
    if not folder.is_dir():
        pytest.skip("test_public is not here; the shipped guard's figures need real films")
    films = shift_suite.list_films([folder])
    return films[:: len(films) // n][:n]


@pytest.mark.slow
def test_the_shipped_guard_reads_real_films_from_other_equipment() -> None:
    """Real test films under the families the issue measured (edge enhancement, noise,
    collimation, and the three together): the shipped guard reads the single families (the
    issue's target: at most 1 % refused); of the three together it still refuses some (3.8 %
    of 157 films with round 3's guard in docs/acquisition-shift.md, 12.1 % with round 2's)."""
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import STATUS_OUT_OF_SCOPE, classify_bytes

    bundle = ModelBundle.load(MODEL_DIR)
    families = ("unsharp", "noise", "collimation", "unsharp_noise_collimation")
    refused = []
    films = _test_films(24)
    for path, _ in films:
        img = shift_suite.load_working(Path(path))
        for fam in families:
            data = shift_suite.shifted_bytes(img, fam, shift_suite.film_seed(3, Path(path).name,
                                                                             fam))
            res = classify_bytes(Path(path).name, data, bundle)
            if res.status == STATUS_OUT_OF_SCOPE:
                refused.append((fam, Path(path).name, res.message))
    single = [r for r in refused if r[0] != "unsharp_noise_collimation"]
    assert len(single) <= 1, single  # of 72 films under one family
    assert len(refused) - len(single) <= 5, refused  # of 24 under the three together
