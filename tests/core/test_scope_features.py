"""The guard's image statistics: the histogram-based :func:`scope.pixel_features` gives the
same values as the direct formulas (float copy, ``np.percentile``, float64 products) on real
X-rays and on edge cases, and a model's layout statistics are converted to arrays once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pneumonia_core import scope
from pneumonia_core.imageio import load_decoded
from tests.conftest import MODEL_DIR, synthetic_xray

TOLERANCE = 1e-9


def _direct_features(gray: np.ndarray) -> dict[str, float]:
    """The statistics written out directly (the guard's original formulas)."""
    g = np.asarray(gray)
    if g.dtype != np.uint8:
        g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
    a = g.astype(np.float64)
    std = float(a.std())
    p = np.percentile(a, [1, 5, 50, 95, 99])
    grad = (float(np.abs(np.diff(a, axis=1)).mean()) + float(np.abs(np.diff(a, axis=0)).mean())) / 2
    blur = np.asarray(Image.fromarray(g).filter(ImageFilter.GaussianBlur(2)), np.float64)
    fine = float(np.abs(a - blur).mean())
    symmetry = (float(np.mean((a - a.mean()) * (a[:, ::-1] - a.mean())) / (std * std))
                if std > 0 else 1.0)
    hist = np.bincount(g.ravel(), minlength=256) / g.size
    nz = hist[hist > 0]
    return {
        "mean": float(a.mean()), "std": std,
        "p01": float(p[0]), "p05": float(p[1]), "p50": float(p[2]), "p95": float(p[3]),
        "p99": float(p[4]),
        "edge": grad / max(std, 1.0), "fine": fine / max(std, 1.0),
        "edge_abs": grad, "fine_abs": fine, "symmetry": symmetry,
        "entropy": float(-(nz * np.log2(nz)).sum()),
        "saturated": float(((g <= 2) | (g >= 253)).mean()),
    }


def _edge_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [
        np.zeros((224, 224), np.uint8),
        np.full((224, 224), 255, np.uint8),
        np.tile(np.array([0, 255], np.uint8), (224, 112)),  # two levels, all saturated
        rng.integers(0, 256, (224, 224)).astype(np.uint8),  # noise
        rng.integers(100, 103, (224, 224)).astype(np.uint8),  # std below 1: cancellation-prone
        rng.integers(0, 256, (31, 17)).astype(np.uint8),  # odd, non-square
        np.array([[7, 9]], np.uint8),
        rng.normal(120.0, 40.0, (224, 224)),  # float input is rounded and clipped first
    ]


def _real_images(data_root: Path, full_res_images: list[Path], n: int = 48) -> list[np.ndarray]:
    files = sorted((data_root / "train").glob("*/*.jpeg")) + sorted((data_root / "train").glob("*/*.png"))
    pick = [files[i] for i in np.random.default_rng(0).permutation(len(files))[:n]]
    return [load_decoded(p, 224)[0] for p in pick + list(full_res_images)]


def test_histogram_features_equal_the_direct_formulas(data_root: Path,
                                                      full_res_images: list[Path]) -> None:
    images = _real_images(data_root, full_res_images) + _edge_cases()
    worst: dict[str, float] = dict.fromkeys(scope.PIXEL_FEATURES, 0.0)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="Mean of empty"):
        pairs = [(scope.pixel_features(g), _direct_features(g)) for g in images]
    for fast, direct in pairs:
        assert list(fast) == list(scope.PIXEL_FEATURES) == list(direct)
        for name in fast:
            a, b = fast[name], direct[name]
            if np.isnan(b):  # the 1x2 image has no vertical differences, either way
                assert np.isnan(a), name
                continue
            worst[name] = max(worst[name], abs(a - b))
    assert max(worst.values()) < TOLERANCE, worst
    # percentiles of uint8 pixels are exact in both
    assert all(worst[p] == 0.0 for p in ("p01", "p05", "p50", "p95", "p99")), worst


def test_percentiles_follow_numpy_linear_interpolation_for_every_size() -> None:
    rng = np.random.default_rng(5)
    for cols in (2, 3, 7, 33, 100, 333):
        g = rng.integers(0, 256, (3, cols)).astype(np.uint8)
        f = scope.pixel_features(g)
        expected = np.percentile(g.astype(np.float64), [1, 5, 50, 95, 99])
        assert [f[k] for k in ("p01", "p05", "p50", "p95", "p99")] == list(expected), cols


def _layout_stats(seed: int = 0, k: int = 4, side: int = scope.THUMB) -> dict:
    rng = np.random.default_rng(seed)
    comps, _ = np.linalg.qr(rng.normal(size=(side * side, k)))
    return {"thumb_size": side, "layout_mean": (rng.normal(size=side * side) * 0.01).tolist(),
            "layout_components": comps.T.tolist(), "layout_scale": (rng.random(k) + 0.1).tolist()}


def test_layout_statistics_are_converted_once_and_give_the_direct_values() -> None:
    stats = _layout_stats()
    gray = np.random.default_rng(1).integers(0, 256, (224, 224)).astype(np.uint8)
    first = scope.prepared_layout(stats)
    assert scope.prepared_layout(stats) is first  # cached for the same metadata dict
    side = stats["thumb_size"]
    d = scope.layout_vector(gray, side) - np.asarray(stats["layout_mean"])
    comps = np.asarray(stats["layout_components"]).reshape(-1, side * side)
    residual = float(np.linalg.norm(d - (d @ comps.T) @ comps))
    z = (d @ comps.T) / np.asarray(stats["layout_scale"])
    assert scope.layout_residual(gray, stats) == residual
    assert scope.layout_coefficient_distance(gray, stats) == float(np.sqrt(np.mean(z * z)))
    # a replaced list (another model's statistics in the same dict) is converted again
    other = _layout_stats(seed=2)
    stats["layout_components"] = other["layout_components"]
    again = scope.prepared_layout(stats)
    assert again is not first
    np.testing.assert_array_equal(again.components, np.asarray(other["layout_components"]))
    assert scope.prepared_layout(_layout_stats()) is not again  # an equal but separate dict
    without_scale = {k: v for k, v in stats.items() if k != "layout_scale"}
    assert scope.layout_coefficient_distance(gray, without_scale) is None


def test_layout_cache_stays_bounded() -> None:
    kept = [_layout_stats(seed=i, k=2, side=4) for i in range(3 * scope._PREPARED_MAX)]
    for stats in kept:
        scope.prepared_layout(stats)
    assert len(scope._prepared) <= scope._PREPARED_MAX


def test_check_pixels_reads_the_layout_once_per_image(monkeypatch: pytest.MonkeyPatch) -> None:
    stats = _layout_stats()
    gray = synthetic_xray(4, size=(224, 224))
    calls = []
    real = scope.layout_vector
    monkeypatch.setattr(scope, "layout_vector", lambda g, side=scope.THUMB: calls.append(side) or real(g, side))
    verdict = scope.check_pixels(gray, {"min_std": 1.0, "pixels": {
        **stats, "max_layout_residual": 10.0, "max_layout_distance": 1e9}})
    assert verdict.in_scope and calls == [scope.THUMB]
    limit = scope.layout_residual(gray, stats) / 2
    verdict = scope.check_pixels(gray, {"min_std": 1.0, "pixels": {**stats, "max_layout_residual": limit}})
    assert not verdict.in_scope and verdict.check == "layout" and "residual" in verdict.reason


def test_the_fine_detail_blur_runs_only_for_a_guard_that_keeps_a_fine_range(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped guard keeps no fine-detail range, so its check skips the blur (the costliest
    statistic, about 0.5 ms a film) with the same verdict; older metadata with a fine-detail
    range still gets it checked."""
    guard = json.loads((MODEL_DIR / "metadata.json").read_text())["scope"]
    ranges = guard["pixels"]["low"]
    assert not set(scope.FINE_FEATURES) & set(ranges)
    gray = synthetic_xray(seed=5, size=(224, 224))
    full = scope.pixel_features(gray)
    quick = scope.pixel_features(gray, fine=False)
    assert all(quick[k] == full[k] for k in full if k not in scope.FINE_FEATURES)
    assert all(np.isnan(quick[k]) for k in scope.FINE_FEATURES)
    verdict = scope.check_pixels(gray, guard)

    def no_blur(*args: object, **kwargs: object) -> None:
        raise AssertionError("blurred for a guard without a fine-detail range")

    monkeypatch.setattr(ImageFilter, "GaussianBlur", no_blur)
    assert scope.check_pixels(gray, guard) == verdict
    older = json.loads(json.dumps(guard))
    older["pixels"]["low"]["fine"], older["pixels"]["high"]["fine"] = 0.0, 1e-6
    with pytest.raises(AssertionError, match="without a fine-detail range"):
        scope.check_pixels(gray, older)
    monkeypatch.undo()
    refused = scope.check_pixels(gray, older)
    assert not refused.in_scope and "fine detail" in refused.reason
