"""Round 3 of the guard for other sites' films (issue 21): the feature-pattern check on the
network's features of films and acquisition variants, the pixel checks it lets drop (display
and processing ranges), noise-robust collimator borders, the metadata check of the new keys,
and the site guard widening the new limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pneumonia_core import scope, site_guard
from pneumonia_core.imageio import load_decoded
from pneumonia_core.metadata import MetadataError, ModelMetadata
from pneumonia_core.metadata_checks import check_scope
from tests.conftest import MODEL_DIR, synthetic_xray


def _embeddings(n: int, per_film: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Films' features on a 5-dimensional pattern in 40 dimensions, variants nearby."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(5, 40))
    films = rng.normal(size=(n, 5)) @ basis + 0.05 * rng.normal(size=(n, 40))
    variants = np.repeat(films, per_film, axis=0) + 0.3 * rng.normal(size=(n * per_film, 40))
    return films, variants


def test_the_feature_pattern_check_reads_held_out_variants_and_refuses_another_pattern() -> None:
    films, variants = _embeddings(400, 2)
    pattern = scope.fit_embedding_pattern(films, variants, per_film=2, k=8)
    stats = {"embedding_pattern": pattern}
    new_films, new_variants = _embeddings(200, 2, seed=0)  # same pattern, new draws
    refused = [not scope.check_embedding(e, stats).in_scope
               for e in np.concatenate([new_films, new_variants])]
    assert sum(refused) <= 0.01 * len(refused)
    # features off the films' pattern (as large as theirs): refused, reported as the network's
    other = np.random.default_rng(5).normal(size=40) * films.std()
    verdict = scope.check_embedding(other, stats)
    assert not verdict.in_scope and "feature pattern" in verdict.reason
    assert scope.reason_check(verdict.reason) == "embedding"


def test_the_variants_must_belong_to_the_films() -> None:
    films, variants = _embeddings(100, 2)
    with pytest.raises(ValueError, match="variants per film"):
        scope.fit_embedding_pattern(films, variants[:-1], per_film=2)


@pytest.fixture(scope="module")
def fitted() -> dict:
    films = [synthetic_xray(i, size=(224, 224)) for i in range(60)]
    rng = np.random.default_rng(0)
    proj = rng.normal(size=(224 * 224, 24)) / 224.0

    def embed(grays: list[np.ndarray]) -> np.ndarray:  # a stand-in network: fixed projection
        return np.stack([np.asarray(g, np.float64).ravel() @ proj for g in grays])

    return scope.fit_scope_stats(embed(films), images=films, variants=2, embed=embed)


def test_a_guard_fitted_with_the_models_features_of_variants_has_the_pattern_check(
        fitted: dict) -> None:
    px = fitted["pixels"]
    assert "embedding_pattern" in fitted and fitted["embedding_pattern"]["max_residual"] > 0
    assert px["field"] == scope.FIELD_RULE_ANY_LEVEL
    assert not set(scope.DISPLAY_AND_PROCESSING) & set(px["low"])
    assert {"symmetry", "entropy", "edge"} <= set(px["low"])
    assert set(scope.LOWER_ONLY) & set(px["low"]) and not set(scope.LOWER_ONLY) & set(px["high"])
    assert {"symmetry", "entropy"} <= set(px["high"])
    assert "acquisition-variant" in fitted["distance_rule"]
    # without the model's features of the variants: round 2's fit, display ranges kept
    films = [synthetic_xray(i, size=(224, 224)) for i in range(60)]
    older = scope.fit_scope_stats(np.random.default_rng(1).normal(size=(60, 24)), images=films,
                                  variants=1)
    assert "embedding_pattern" not in older and "p50" in older["pixels"]["low"]
    assert "edge" in older["pixels"]["high"]  # without the pattern check: both limits
    assert older["pixels"]["field"] == scope.FIELD_RULE


def _meta(scope_stats: dict) -> ModelMetadata:
    raw = json.loads((MODEL_DIR / "metadata.json").read_text(encoding="utf-8"))
    raw["scope"] = scope_stats
    return ModelMetadata.from_dict(raw)


def test_the_metadata_check_lets_display_ranges_go_only_with_the_pattern_check(
        fitted: dict) -> None:
    width = len(fitted["embedding_mean"])
    good = copy.deepcopy(fitted)
    check_scope(_meta(good))  # complete: accepted
    without = copy.deepcopy(fitted)
    del without["embedding_pattern"]
    with pytest.raises(MetadataError, match=r"low/high\[p50\]"):
        check_scope(_meta(without))
    broken = copy.deepcopy(fitted)
    broken["embedding_pattern"]["components"][0] = [0.0] * (width - 1)
    with pytest.raises(MetadataError, match="embedding_pattern.components"):
        check_scope(_meta(broken))
    broken = copy.deepcopy(fitted)
    broken["embedding_pattern"]["max_residual"] = float("nan")
    with pytest.raises(MetadataError, match="embedding_pattern.max_residual"):
        check_scope(_meta(broken))


def test_edge_density_is_limited_from_below_only_with_the_pattern_check(fitted: dict) -> None:
    """Edge enhancement on sensor noise raises a film's relative edge density above every
    training film's: with the pattern check that is no reason to refuse it, while a film too
    smooth (a grey photograph) still is, and noise beyond any film by the sanity rule."""
    film = synthetic_xray(7, size=(224, 224)).astype(np.float32)
    rng = np.random.default_rng(3)
    ranges = {"low": dict(fitted["pixels"]["low"]), "high": dict(fitted["pixels"]["high"])}
    guard = {"min_std": 8.0, "pixels": ranges}  # the ranges alone (no layout)
    top = ranges["low"]["edge"]
    for sigma in (6, 10, 14, 18, 22):
        noisy = np.clip(film + rng.normal(0, sigma, film.shape), 0, 255).astype(np.uint8)
        edge = scope.pixel_features(noisy)["edge"]
        verdict = scope.check_pixels(noisy, guard)
        assert "edge density (relative)" not in verdict.reason, (sigma, edge, verdict.reason)
        top = max(top, edge)
    assert top > 0.45  # well above the films' and variants' own range
    older = copy.deepcopy(guard)
    older["pixels"]["high"]["edge"] = 0.3  # a guard with an upper limit still applies it
    verdict = scope.check_pixels(noisy, older)
    assert not verdict.in_scope and "edge density (relative)" in verdict.reason
    assert "to 0.3)" in verdict.reason
    smooth = np.asarray(Image.fromarray(film.astype(np.uint8)).filter(ImageFilter.GaussianBlur(6)))
    tight = copy.deepcopy(guard)
    tight["pixels"]["low"]["edge"] = scope.pixel_features(smooth)["edge"] + 0.01
    verdict = scope.check_pixels(smooth, tight)
    assert not verdict.in_scope and "or more)" in verdict.reason
    noise = rng.integers(0, 256, (224, 224)).astype(np.uint8)
    verdict = scope.check_pixels(noise, guard)
    assert not verdict.in_scope and verdict.reason.startswith("Pixel noise")


def test_the_metadata_check_lets_the_edge_upper_limit_go_only_with_the_pattern_check(
        fitted: dict) -> None:
    check_scope(_meta(fitted))  # lower limit only, with the pattern check: accepted
    without = copy.deepcopy(fitted)
    del without["embedding_pattern"]
    for name in scope.DISPLAY_AND_PROCESSING:  # round 2's ranges, so only edge is missing
        without["pixels"]["low"][name], without["pixels"]["high"][name] = 0.0, 1e6
    with pytest.raises(MetadataError, match=r"low/high\[edge\]"):
        check_scope(_meta(without))
    no_low = copy.deepcopy(fitted)
    del no_low["pixels"]["low"]["edge"]  # the lower limit is what catches grey photographs
    with pytest.raises(MetadataError, match=r"low/high\[edge\]"):
        check_scope(_meta(no_low))
    broken = copy.deepcopy(fitted)
    broken["pixels"]["low"]["edge"] = float("nan")
    with pytest.raises(MetadataError, match=r"low/high\[edge\]"):
        check_scope(_meta(broken))


def test_the_site_guard_gives_no_upper_edge_limit_where_the_model_has_none(fitted: dict) -> None:
    films = [synthetic_xray(100 + i, size=(224, 224)) for i in range(4)]
    ranges = site_guard._pixel_ranges(films, fitted["pixels"])
    assert "edge" in ranges["pixels_low"] and "edge" not in ranges["pixels_high"]
    assert set(ranges["pixels_high"]) == set(fitted["pixels"]["high"])
    merged = site_guard.merged_scope(fitted, ranges)
    assert "edge" not in merged["pixels"]["high"]


def test_a_noisy_collimator_band_is_cropped_on_the_smoothed_image() -> None:
    film = synthetic_xray(4, size=(224, 224))
    rng = np.random.default_rng(2)
    bordered = film.astype(np.float32)
    bordered[:, :40] = 235
    bordered += rng.normal(0, 25, bordered.shape)  # sensor noise, amplified by processing
    bordered = np.clip(bordered, 0, 255).astype(np.uint8)
    assert scope.exposed_field(bordered).shape[1] > 200  # round 2's search: band kept
    cut = film.shape[1] - scope.exposed_field(bordered, smoothed=True).shape[1]
    assert 40 <= cut <= 46, cut
    # a film without bands keeps nearly all of it with the smoothed search too
    assert scope.exposed_field(film, smoothed=True).shape[1] >= film.shape[1] - 12


def test_a_collimator_band_left_mid_grey_is_cropped_by_the_any_level_search(
        data_root: Path) -> None:
    """A white band that a display curve, a lowered white point or burned-in text leaves
    mid-grey, with sensor noise: round 4's search (bands at the image's black or white only)
    keeps it, the any-level search crops it; real films without bands lose at most a few
    more lines to it."""
    film = synthetic_xray(5, size=(224, 224)).astype(np.float32)
    rng = np.random.default_rng(3)
    for level in (100.0, 160.0):
        bordered = film.copy()
        bordered[:, :36] = level
        bordered[:30] = level
        bordered[4:12, 8:20] = 250  # a burned-in marker on the band
        bordered = np.clip(bordered + rng.normal(0, 12, bordered.shape), 0, 255).astype(np.uint8)
        assert scope.exposed_field(bordered, smoothed=True).shape == bordered.shape, level
        field = scope.exposed_field(bordered, smoothed=True, any_level=True)
        assert 36 <= bordered.shape[1] - field.shape[1] <= 42, (level, field.shape)
        assert 30 <= bordered.shape[0] - field.shape[0] <= 36, (level, field.shape)
    files = sorted((data_root / "train").glob("*/*.jpeg"))[::40]
    assert len(files) >= 20
    for path in files:
        gray = load_decoded(path, 224)[0]
        before = np.array(scope._field_margins(gray, True)[0])
        after = np.array(scope._field_margins(gray, True, True)[0])
        assert (after >= before).all() and (after - before).max() <= 8, (path.name, before, after)


def test_the_guard_crops_as_its_recorded_field_rule_says_and_refuses_an_unknown_rule(
        fitted: dict) -> None:
    film = synthetic_xray(6, size=(224, 224)).astype(np.float32)
    film[:, 180:] = 140  # a mid-grey band on the right
    film = np.clip(film, 0, 255).astype(np.uint8)
    widths = {rule: scope.guard_view(film, {"field": rule}).shape[1] for rule in scope.FIELD_RULES}
    assert widths[scope.FIELD_RULE_ANY_LEVEL] <= 180 < widths[scope.FIELD_RULE_SMOOTHED]
    assert scope.guard_view(film, {}).shape[1] == 224  # older metadata: the whole image
    unknown = copy.deepcopy(fitted)
    unknown["pixels"]["field"] = "collimation borders cropped some other way"
    with pytest.raises(MetadataError, match=r"pixels\.field"):
        check_scope(_meta(unknown))


def test_the_site_guard_widens_the_pattern_limits_and_never_narrows_them(fitted: dict) -> None:
    base = copy.deepcopy(fitted)
    wide = {"pattern_max_distance": 1e6, "pattern_max_residual": 1e6}
    merged = site_guard.merged_scope(base, wide)
    assert merged["embedding_pattern"]["max_distance"] == 1e6
    assert merged["embedding_pattern"]["max_residual"] == 1e6
    assert base["embedding_pattern"]["max_distance"] < 1e6  # the model's own: unchanged
    narrow = {"pattern_max_distance": 1e-6, "pattern_max_residual": 1e-6}
    merged = site_guard.merged_scope(base, narrow)
    assert merged["embedding_pattern"]["max_distance"] == base["embedding_pattern"]["max_distance"]

