"""Site calibration core (Qt-free, no model): the fit, the threshold rule, the guard rails,
the sealed profile (tampering, another model) and the plots."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from pneumonia_core import calibration, site_plots
from pneumonia_core import site_profile as sp
from pneumonia_core.decision import OperatingPoint, calibrated

MODEL_SHA = "ab" * 32
OTHER_SHA = "cd" * 32


def shifted_site(n_neg: int = 120, n_pos: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a 'new site': ranking intact, but every film scores about +3 higher, so the
    model's operating point makes far too many false alarms."""
    rng = np.random.default_rng(seed)
    z = np.r_[rng.normal(-1.0, 2.0, n_neg), rng.normal(7.0, 2.5, n_pos)]
    y = np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)]
    return z, y


def fit(z: np.ndarray, y: np.ndarray, target: float = 0.98, **kw) -> sp.SiteFit:
    return sp.fit_site(z, y, OperatingPoint(0.5), target_sensitivity=target, **kw)


def test_fit_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, 20000)
    y = (rng.random(z.size) < calibrated(z, 0.6, -1.5)).astype(int)
    a, b = calibration.fit_logistic(y, z, with_offset=True)
    assert a == pytest.approx(0.6, abs=0.03) and b == pytest.approx(-1.5, abs=0.06)
    t, zero = calibration.fit_logistic(y, z, with_offset=False)
    assert zero == 0.0 and 0 < t < 1


def test_fit_does_not_diverge_on_separable_films() -> None:
    z = np.r_[np.linspace(-5, -1, 60), np.linspace(1, 5, 60)]
    y = np.r_[np.zeros(60, int), np.ones(60, int)]
    a, b = calibration.fit_logistic(y, z)
    assert np.isfinite(a) and np.isfinite(b) and a > 0


def test_threshold_rule_meets_target_with_highest_specificity() -> None:
    z, y = shifted_site()
    p = calibrated(z, 0.8, -2)
    thr = calibration.choose_threshold(y, p, 0.98)["value"]
    sens = np.mean(p[y == 1] >= thr)
    assert sens >= 0.98
    # one step higher (the next positive score) would miss the target
    higher = np.sort(p[y == 1])[np.sum(p[y == 1] < thr)]
    assert np.mean(p[y == 1] > higher) < 0.98


def test_site_fit_prefers_scale_and_offset_and_improves_the_site() -> None:
    z, y = shifted_site()
    f = sp.fit_site(z, y, OperatingPoint(0.35), target_sensitivity=0.98)
    assert f.method == "logistic"
    assert f.candidates["logistic"]["cv_log_loss"] < f.candidates["temperature"]["cv_log_loss"]
    assert f.after["ece_10"] < f.before["ece_10"]
    assert f.after["sensitivity"]["value"] >= 0.98
    assert f.after["specificity"]["value"] > f.before["specificity"]["value"]
    assert f.after_cv["threshold"] is None and f.after_cv["n"] == y.size
    s = f.after["sensitivity"]
    assert s["ci_low"] < s["value"] <= s["ci_high"]


def test_temperature_chosen_when_no_offset_is_needed() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 4, 3000)
    y = (rng.random(z.size) < calibrated(z, 0.5)).astype(int)
    assert fit(z, y).method == "temperature"


# -- guard rails --------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_neg", "n_pos", "needle"), [
    (49, 200, "too few films: 49 NORMAL"),
    (120, 30, "30 PNEUMONIA"),
    (0, 200, "only one class"),
    (120, 0, "only one class"),
])
def test_guard_rail_counts(n_neg: int, n_pos: int, needle: str) -> None:
    z, y = shifted_site(n_neg, n_pos)
    with pytest.raises(sp.SiteCalibrationError, match=needle):
        fit(z, y)


def test_guard_rail_inverted_layout() -> None:
    z, y = shifted_site()
    with pytest.raises(sp.SiteCalibrationError, match="swapped"):
        fit(z, 1 - y)


def test_guard_rail_target_the_films_cannot_show() -> None:
    # 60 PNEUMONIA films: each fold's threshold keeps all its training positives, the lowest
    # film of all is missed when held out, so 59/60 (95% interval up to 0.9996) < 0.9999
    z, y = shifted_site(120, 60, seed=5)
    with pytest.raises(sp.SiteCalibrationError, match="cannot show a sensitivity of 0.9999"):
        fit(z, y, target=0.9999)
    assert fit(z, y, target=0.98).after["sensitivity"]["value"] >= 0.98


# -- the sealed profile -------------------------------------------------------------------------
def sealed_text() -> str:
    z, y = shifted_site()
    body = sp.profile_body(fit(z, y), MODEL_SHA, "m", "1.0", "0.1.0", "films",
                           [{"path": "NORMAL/x.jpeg", "reason": "error: broken"}])
    return sp.seal(body)


def test_profile_round_trip_and_binding() -> None:
    text = sealed_text()
    prof = sp.parse_profile(text, MODEL_SHA)
    data = json.loads(text)
    assert prof.sha256 == data["sha256"] and prof.model_sha256 == MODEL_SHA
    assert prof.n_films == 320 and 0 < prof.threshold < 1 and prof.scale > 0
    assert data["schema_version"] == sp.SCHEMA_VERSION
    for key in ("created", "tool_version", "calibration", "threshold", "films", "report"):
        assert key in data
    assert "320 films" in prof.summary() and prof.sha256[:12] in prof.summary()
    with pytest.raises(sp.SiteProfileError, match="belongs to another model"):
        sp.parse_profile(text, OTHER_SHA)


def test_editing_any_byte_is_refused() -> None:
    raw = sealed_text().encode("ascii")
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] = changed[i] ^ 0x01 if changed[i] != 0x0A else 0x20
        with pytest.raises(sp.SiteProfileError):
            sp.parse_profile(bytes(changed), MODEL_SHA)
    # re-sealing by hand after an edit is the only way in, and it still must match the model
    data = json.loads(raw)
    data["threshold"]["value"] = 0.9
    with pytest.raises(sp.SiteProfileError, match="integrity check"):
        sp.parse_profile(json.dumps(data, indent=2) + "\n", MODEL_SHA)
    with pytest.raises(sp.SiteProfileError, match="integrity check"):
        sp.parse_profile(raw + b" ", MODEL_SHA)
    with pytest.raises(sp.SiteProfileError, match="not valid JSON"):
        sp.parse_profile(raw[: len(raw) // 2], MODEL_SHA)


def test_write_atomically_keeps_an_existing_profile(tmp_path) -> None:
    target = tmp_path / "p.json"
    sp.write_atomically(target, b"first")
    with pytest.raises(FileExistsError, match="--force"):
        sp.write_atomically(target, b"second")
    assert target.read_bytes() == b"first"
    sp.write_atomically(target, b"second", force=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary left behind


def test_plots_are_pngs_with_content() -> None:
    z, y = shifted_site()
    f = fit(z, y)
    for data in (site_plots.reliability_png(y, f.probs_before, f.probs_after, 0.1, 0.02),
                 site_plots.roc_png(y, z, 0.97, (0.4, 1.0), (0.15, 0.98))):
        img = Image.open(io.BytesIO(data))
        assert img.format == "PNG" and img.size == (site_plots.W, site_plots.H)
        colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
        assert site_plots.AFTER in colours and site_plots.BEFORE in colours


def test_plots_without_freetype_as_in_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """build.spec leaves Pillow's FreeType module out: the plots use the bitmap font."""
    from PIL import ImageFont
    from PIL._util import DeferredError

    monkeypatch.setattr(ImageFont, "core", DeferredError.new(ImportError("no FreeType")))
    site_plots._font.cache_clear()
    try:
        assert not isinstance(site_plots._font(16), ImageFont.FreeTypeFont)
        z, y = shifted_site()
        f = fit(z, y)
        data = site_plots.roc_png(y, z, 0.97, (0.4, 1.0), (0.15, 0.98))
        with Image.open(io.BytesIO(data)) as img:
            grey = np.asarray(img.convert("L"))
        # the title is drawn: dark pixels in the band above the plot area
        assert (grey[10:45, :] < 100).sum() > 200
        assert site_plots.reliability_png(y, f.probs_before, f.probs_after, 0.1, 0.02)
    finally:
        site_plots._font.cache_clear()


def test_the_fit_needs_no_numpy_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle has no numpy.random (build.spec): folds and bootstrap draws must not use it."""
    z, y = shifted_site()

    class Missing:
        def __getattr__(self, name: str) -> None:
            raise ModuleNotFoundError("No module named 'numpy.random'")

    monkeypatch.setattr(np, "random", Missing())
    f = fit(z, y)
    assert f.after_cv["roc_auc"]["ci_low"] < f.after_cv["roc_auc"]["value"]
    assert sorted(np.bincount(sp.stratified_folds(y))) == [64, 64, 64, 64, 64]
