"""The guard's pixel check does its shared work once (issue 21, throughput): the exposed
field's histogram is counted once for the statistics and the layout (from the whole image's,
less the cropped bands'), the symmetry product is summed in integers, and a model's
feature-distance arrays are converted once. Each gives the same numbers, to the bit, as the
step-by-step way (``guard_view``, then each statistic counting for itself), so the verdicts
cannot change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pneumonia_core import scope, scope_augment
from pneumonia_core.imageio import load_decoded
from tests.conftest import MODEL_DIR, synthetic_xray


def _guard() -> dict:
    return json.loads((MODEL_DIR / "metadata.json").read_text())["scope"]


def _pixel_rules(guard: dict) -> list[dict]:
    """The shipped ``scope['pixels']`` and its older forms: plain border search, none."""
    shipped = guard["pixels"]
    assert shipped.get("field") == scope.FIELD_RULE_ANY_LEVEL
    smoothed = dict(shipped, field=scope.FIELD_RULE_SMOOTHED)
    plain = dict(shipped, field=scope.FIELD_RULE)
    whole = {k: v for k, v in shipped.items() if k not in ("field", "layout_basis")}
    return [shipped, smoothed, plain, whole]


def _bordered(film: np.ndarray) -> list[np.ndarray]:
    """``film`` with collimator bands: black top, white right, both, and a noisy black left."""
    out = []
    for top, right, left in ((30, 0, 0), (0, 25, 0), (20, 40, 0), (0, 0, 35)):
        b = film.copy()
        b[:top] = 0
        if right:
            b[:, -right:] = 255
        if left:
            noise = np.random.default_rng(left).integers(0, 12, (b.shape[0], left))
            b[:, :left] = noise.astype(np.uint8)
        out.append(b)
    return out


def _images(data_root: Path, full_res_images: list[Path]) -> list[np.ndarray]:
    files = sorted((data_root / "train").glob("*/*.jpeg"))[:24] + list(full_res_images)
    films = [load_decoded(p, 224)[0] for p in files] + [synthetic_xray(s, (224, 224)) for s in range(4)]
    rng = np.random.default_rng(2)
    odd = [rng.integers(0, 256, (31, 17)).astype(np.uint8),  # odd width: a middle column
           rng.integers(0, 256, (224, 224)).astype(np.uint8),  # noise
           np.full((224, 224), 7, np.uint8),  # uniform
           rng.normal(120.0, 40.0, (64, 61))]  # float input, rounded and clipped first
    variants = scope_augment.acquisition_variants(films[:8], 2, seed=3)
    return films + variants + _bordered(films[0]) + _bordered(films[-1]) + odd


def test_the_field_and_its_histogram_are_guard_views_pixels_and_their_count(
        data_root: Path, full_res_images: list[Path]) -> None:
    rules = _pixel_rules(_guard())
    cropped = 0
    for gray in _images(data_root, full_res_images):
        for stats in rules:
            view, hist = scope.guard_view_and_histogram(gray, stats)
            expected = scope._as_uint8(scope.guard_view(gray, stats))
            assert view.dtype == np.uint8 and view.shape == expected.shape
            np.testing.assert_array_equal(view, expected)
            np.testing.assert_array_equal(
                hist, np.bincount(expected.ravel(), minlength=256).astype(np.float64))
            cropped += view.shape != np.shape(gray)
    assert cropped >= 8  # the bands were cropped: the histogram was found by subtraction


def test_statistics_and_layout_from_the_shared_histogram_equal_the_step_by_step_ones(
        data_root: Path, full_res_images: list[Path]) -> None:
    """check_pixels' verdict is a function of these numbers: equal to the bit, equal verdicts."""
    guard = _guard()
    for gray in _images(data_root, full_res_images):
        for stats in _pixel_rules(guard):
            view, hist = scope.guard_view_and_histogram(gray, stats)
            plain_view = scope.guard_view(gray, stats)
            with np.errstate(invalid="ignore"):
                shared = scope.pixel_features(view, hist=hist)
                alone = scope.pixel_features(plain_view)
            assert list(shared) == list(alone)
            for name, value in shared.items():
                assert value == alone[name] or (np.isnan(value) and np.isnan(alone[name])), name
            np.testing.assert_array_equal(scope.layout_of(view, stats, hist),
                                          scope.layout_of(plain_view, stats))
            np.testing.assert_array_equal(scope.equalized(view, hist), scope.equalized(view))


def test_the_symmetry_product_is_the_float64_sum_to_the_bit() -> None:
    rng = np.random.default_rng(4)
    for shape in ((224, 224), (224, 195), (31, 17), (1, 2), (3, 1)):
        g = rng.integers(0, 256, shape).astype(np.uint8)
        a = g.astype(np.float64)
        assert float(scope._mirror_product_sum(g)) == float(np.einsum("ij,ij->", a, a[:, ::-1]))
    crop = rng.integers(0, 256, (224, 224)).astype(np.uint8)[10:200, 7:190]  # a strided view
    a = crop.astype(np.float64)
    assert float(scope._mirror_product_sum(crop)) == float(np.einsum("ij,ij->", a, a[:, ::-1]))
    white = np.full((512, 512), 255, np.uint8)  # the largest sums stay exact
    assert scope._mirror_product_sum(white) == 512 * 512 * 255 * 255


def test_the_feature_distance_arrays_are_converted_once_per_model_and_give_the_direct_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    std = list(rng.random(64) + 0.05)
    std[3] = 0.0  # a dead unit: floored
    guard = {"embedding_mean": list(rng.normal(size=64)), "embedding_std": std}
    e = rng.normal(size=64)
    sd = np.asarray(std)
    sd = np.maximum(sd, max(0.1 * float(np.median(sd)), 1e-6))
    z = (e - np.asarray(guard["embedding_mean"])) / sd
    assert scope.feature_distance(e, guard) == float(np.sqrt(np.mean(z * z)))
    calls: list[int] = []
    real = scope._floored_spread
    monkeypatch.setattr(scope, "_floored_spread", lambda s: calls.append(1) or real(s))
    for _ in range(3):
        scope.feature_distance(e, guard)
    assert calls == []  # converted when first used, not per image
    guard["embedding_std"] = [v * 2 for v in std]  # another model's statistics: converted again
    assert scope.feature_distance(e, guard) < float(np.sqrt(np.mean(z * z)))
    assert calls == [1]
    for i in range(3 * scope._PREPARED_MAX):
        scope.feature_distance(e, {"embedding_mean": [0.0] * 64, "embedding_std": [1.0 + i] * 64})
    assert len(scope._distances) <= scope._PREPARED_MAX


def test_the_smoothed_border_search_reads_the_blurred_lines_in_uint8_as_in_float32(
        data_root: Path, full_res_images: list[Path]) -> None:
    """The blurred image's grey levels are whole numbers: the bands found on them as uint8
    (no float copy) are the bands found on their float32 copy, at any black and white."""
    from PIL import Image, ImageFilter

    deep = 0
    for gray in _images(data_root, full_res_images)[:-1]:  # uint8 images
        blurred = np.asarray(Image.fromarray(gray).filter(ImageFilter.BoxBlur(scope.BORDER_SMOOTH)))
        as_float = blurred.astype(np.float32)
        for darkest, brightest in ((0.0, 255.0), (float(gray.min()), float(gray.max())), (30.0, 200.0)):
            for u, f in zip((blurred, blurred[::-1], blurred.T, blurred.T[::-1]),
                            (as_float, as_float[::-1], as_float.T, as_float.T[::-1]), strict=True):
                for any_level in (False, True):
                    depth = scope._border_depth(u, darkest, brightest, any_level)
                    assert depth == scope._border_depth(f, darkest, brightest, any_level)
                    deep += depth > 0
    assert deep >= 8


def test_the_layout_is_projected_once_for_its_residual_and_distance() -> None:
    guard = _guard()
    prep = scope.prepared_layout(guard["pixels"])
    unscaled = scope.PreparedLayout(prep.side, prep.mean, prep.components, None)
    rng = np.random.default_rng(8)
    for gray in [synthetic_xray(s, (224, 224)) for s in range(3)] + [
            rng.integers(0, 256, (224, 224)).astype(np.uint8)]:
        vector = scope.layout_of(gray, guard["pixels"])
        assert prep.measures(vector) == (prep.residual(vector), prep.coefficient_distance(vector))
        assert unscaled.measures(vector) == (prep.residual(vector), None)
