"""The out-of-scope guard (pneumonia_core.scope) and its non-chest corpus, without a model.

Image statistics are fitted on a fixed sample of TRAINING images from ``data_root`` and
checked on other patients' images (disjoint by patient) and on the full-resolution val films.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.chest_like import chest_like_xray
from converter.ood_corpus import CATEGORIES, build_corpus
from pneumonia_core import scope
from pneumonia_core.imageio import DecodedImage, load_decoded
from tests.conftest import SHARED_DATA
from training.data import patient_id


def _train_files(root: Path) -> list[Path]:
    return sorted((root / "train").glob("*/*.jpeg")) + sorted((root / "train").glob("*/*.png"))


def _fold(path: Path) -> int:
    """0..99 from the patient id: folds are disjoint by patient."""
    return zlib.crc32(patient_id(path.name).encode()) % 100


@pytest.fixture(scope="session")
def fit_and_holdout(data_root: Path) -> tuple[list[Path], list[Path]]:
    """(up to 1,000 fitting images, up to 100 held-out images of other patients), fixed."""
    files = _train_files(data_root)
    fit = [p for p in files if _fold(p) >= 10]
    held = [p for p in files if _fold(p) < 10]
    rng = np.random.default_rng(0)
    fit = [fit[i] for i in sorted(rng.permutation(len(fit))[:1000])]
    held = [held[i] for i in sorted(rng.permutation(len(held))[:100])]
    return fit, held


@pytest.fixture(scope="session")
def pixel_scope(fit_and_holdout: tuple[list[Path], list[Path]]) -> dict:
    fit, _ = fit_and_holdout
    stats = scope.fit_scope_stats(None, images=[load_decoded(p, 224)[0] for p in fit])
    return json.loads(json.dumps(stats))  # what metadata.json round-trips


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    return build_corpus(tmp_path_factory.mktemp("ood"), seed=0)


def _verdict(path: str | Path, stats: dict) -> scope.ScopeVerdict:
    gray, decoded = load_decoded(path, 224)
    v = scope.check_decoded(decoded)
    return v if not v.in_scope else scope.check_pixels(gray, stats)


@pytest.mark.slow
def test_corpus_is_large_deterministic_and_covers_every_category(corpus: list, tmp_path: Path) -> None:
    assert len(corpus) >= 100
    counts = Counter(item.category for item in corpus)
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 8, counts
    again = build_corpus(tmp_path, seed=0)

    def digest(items: list) -> list[str]:
        return [hashlib.sha256(Path(i.path).read_bytes()).hexdigest() for i in items
                if not i.path.endswith(".dcm")]  # generated DICOM UIDs carry no randomness either

    assert [i.category for i in again] == [i.category for i in corpus]
    assert digest(again) == digest(corpus)
    assert json.loads((tmp_path / "manifest.json").read_text())["items"][0]["category"]


@pytest.mark.slow
def test_guard_catches_every_corpus_category(corpus: list, pixel_scope: dict) -> None:
    caught: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for item in corpus:
        total[item.category] += 1
        caught[item.category] += not _verdict(item.path, pixel_scope).in_scope
    # Issue 21 trade-off: the ranges and layout limits fitted with acquisition variants (so
    # that chest films from other equipment are read) let some untagged MR/CT slices (their
    # DICOM files are caught by the tags) and grey photographs (40 of 46 caught with the
    # pixel and layout checks alone) through. Every other category stays at 90% or more, the
    # whole corpus at 94% or more with these checks alone, fitted on 1,000 films (169 of 179);
    # the shipped guard, feature distance included, must catch 95% (test_scope_eval.py).
    floor = {"slice_untagged": 0.75, "photo_grey": 0.85}
    for cat in CATEGORIES:
        assert caught[cat] / total[cat] >= floor.get(cat, 0.9), (cat, caught[cat], total[cat])
    assert sum(caught.values()) / sum(total.values()) >= 0.94


def test_guard_passes_real_xrays(fit_and_holdout: tuple[list[Path], list[Path]],
                                 full_res_images: list[Path], pixel_scope: dict) -> None:
    _, held = fit_and_holdout
    films = list(held) + list(full_res_images)
    assert len(films) >= 16
    rejected = [(p.name, v.reason) for p in films if not (v := _verdict(p, pixel_scope)).in_scope]
    assert len(rejected) <= 0.01 * len(films), rejected
    assert not [r for r in rejected if r[0] in {p.name for p in full_res_images}], rejected


def test_reasons_name_the_evidence(pixel_scope: dict) -> None:
    blank = np.full((224, 224), 128, np.uint8)
    assert "uniform" in scope.check_pixels(blank, {}).reason
    noise = np.random.default_rng(1).integers(0, 256, (224, 224), dtype=np.uint8)
    v = scope.check_pixels(noise, {})
    assert not v.in_scope and "noise" in v.reason and v.check == "pixels"
    page = np.full((224, 224), 255, np.uint8)
    page[::9, 20:200] = 0
    v = scope.check_pixels(page, pixel_scope)
    assert not v.in_scope and ("training X-rays" in v.reason or "black or white" in v.reason)
    assert scope.reason_check("Layout unlike a frontal chest X-ray (x)") == "layout"
    assert scope.reason_check("Unlike the training X-rays (feature distance 3 > 2)") == "embedding"


@pytest.mark.parametrize("tags, words", [
    ({"Modality": "CT"}, "modality CT"),
    ({"Modality": "DX", "BodyPartExamined": "HAND"}, "body part HAND"),
    ({"Modality": "OT", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"}, "MR image"),
])
def test_dicom_tags_reject_non_chest_radiographs(tags: dict, words: str) -> None:
    d = DecodedImage(np.zeros((64, 64), np.uint8), "DICOM", (64, 64), dicom=tags)
    v = scope.check_decoded(d)
    assert not v.in_scope and words in v.reason and v.check == "dicom"


def test_chest_dicom_and_grey_image_pass_the_decoded_checks() -> None:
    for tags in ({"Modality": "DX", "BodyPartExamined": "CHEST", "ViewPosition": "PA"},
                 {"Modality": "CR", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.1"}, {}):
        fmt = "DICOM" if tags else "JPEG"
        assert scope.check_decoded(DecodedImage(np.zeros((64, 64), np.uint8), fmt, (64, 64), dicom=tags)).in_scope
    colour = DecodedImage(np.zeros((64, 64), np.uint8), "JPEG", (64, 64), True, 40.0)
    assert scope.check_decoded(colour).check == "colour"


def test_old_fit_call_and_old_metadata_still_work(fit_and_holdout: tuple[list[Path], list[Path]]) -> None:
    emb = np.random.default_rng(0).normal(1.0, 0.3, (200, 32))
    stats = scope.fit_scope_stats(emb)  # the converter's original call
    assert {"embedding_mean", "embedding_std", "min_std", "max_distance", "distance_rule"} <= set(stats)
    assert "pixels" not in stats
    assert scope.check_embedding(emb[0], stats).in_scope
    assert not scope.check_embedding(emb[0] + 5.0, stats).in_scope
    film = load_decoded(fit_and_holdout[1][0], 224)[0]
    assert scope.check_pixels(film, {"min_std": 8.0}).in_scope  # no fitted statistics
    with pytest.raises(ValueError):
        scope.fit_scope_stats(None)
    with pytest.raises(ValueError):
        scope.fit_pixel_stats([film] * 10)


def test_dead_feature_units_do_not_dominate_the_distance() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(1.0, 0.3, (300, 64))
    emb[:, :8] = 0.0  # units that never fire on training X-rays
    stats = scope.fit_scope_stats(emb)
    probe = rng.normal(1.0, 0.3, 64)
    probe[:8] = 0.01  # a faint activation is no reason to reject a film
    assert scope.check_embedding(probe, stats).in_scope


def test_fit_accepts_converter_float_batches(pixel_scope: dict,
                                            fit_and_holdout: tuple[list[Path], list[Path]]) -> None:
    fit, _ = fit_and_holdout
    batch = np.stack([load_decoded(p, 224)[0] for p in fit[:60]]).astype(np.float32)[..., None]
    stats = scope.fit_pixel_stats(batch)
    assert stats["n_images"] == 60 and len(stats["layout_components"]) == 15  # k <= N / 4
    size = len(json.dumps(pixel_scope["pixels"]))
    assert size < 100_000, size  # metadata.json stays small


def test_chest_like_synthetic_films_pass_a_guard_fitted_on_real_xrays(pixel_scope: dict) -> None:
    if not (SHARED_DATA / "train").is_dir():
        pytest.skip(f"needs statistics fitted on real X-rays ({SHARED_DATA} absent)")
    for seed in range(12):
        for size in ((256, 224), (300, 260), (1000, 800)):
            film = Image.fromarray(chest_like_xray(seed, size, pneumonia=seed % 2 == 1))
            gray = np.asarray(film.resize((224, 224), Image.Resampling.BILINEAR))
            v = scope.check_pixels(gray, pixel_scope)
            assert v.in_scope, (seed, size, v.reason)


def test_the_borders_median_is_numpys_median_to_the_bit() -> None:
    """The guard's own median (issue 22: ``np.median`` imports ``numpy.ma``) gives exactly
    ``np.median``'s number: odd and even counts, grey levels and arbitrary floats, NaN."""
    rng = np.random.default_rng(7)
    for trial in range(600):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 40)))
        values = (rng.integers(0, 256, shape).astype(np.float32) if trial % 2
                  else rng.standard_normal(shape).astype(np.float32))
        assert scope._median(values) == float(np.median(values))
        grey = rng.integers(0, 256, shape).astype(np.uint8)  # the smoothed search's lines
        assert scope._median(grey) == float(np.median(grey)) == scope._median(grey.astype(np.float32))
    with_nan = np.array([[1.0, np.nan, 3.0]], np.float32)
    assert np.isnan(scope._median(with_nan))
