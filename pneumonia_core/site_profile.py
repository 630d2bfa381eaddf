"""Site calibration: refit the model's probability scale and threshold on a site's own films.

A chest X-ray model keeps its ranking at a new site far better than its calibration: the
logits still order the films, but the probability they map to and the threshold that gives
the intended sensitivity move. A *site profile* refits both on labelled films of the site:

- calibration ``P = sigmoid(scale * logit + offset)`` on the model's raw logit; two candidates
  (temperature only: ``offset = 0``; logistic: scale and offset), chosen by stratified
  cross-validated log loss on the site's films;
- the threshold: the highest specificity whose sensitivity on the site's films meets the
  target, halfway between the lowest positive score it must keep and the next lower score
  (the model's own rule, see ``metadata.json['threshold']['rule']``).

The profile is a JSON file bound to one model by the model file's SHA-256, and to itself by
its own SHA-256 over its canonical text: :func:`load_profile` refuses any edited byte, a
profile of another model, and an unknown schema version. Qt-free and TensorFlow-free.

Schema version 1 (``SCHEMA_VERSION``)::

    {"schema_version": 1, "kind": "pneumonia-xray site profile",
     "model": {"sha256", "name", "version"}, "created": ISO 8601 UTC, "tool_version",
     "calibration": {"method": "temperature"|"logistic", "scale", "offset", "selected_by",
                     "candidates": {method: {"scale", "offset", "cv_log_loss"}}},
     "threshold": {"value", "rule", "target_sensitivity", "sensitivity", "specificity"},
     "films": {"n", "n_positive", "n_negative", "source", "excluded": [{"path", "reason"}]},
     "report": {"before": METRICS, "after": METRICS, "after_cv": METRICS},
     "sha256": SHA-256 of the canonical text of everything above}
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core import calibration, metrics
from pneumonia_core.atomic_files import atomic_write_bytes
from pneumonia_core.decision import OperatingPoint, at_or_above, calibrated
from pneumonia_core.profile_bounds import MIN_PER_CLASS
from pneumonia_core.site_profile_file import (  # noqa: F401 - re-exported
    PROFILE_FILE,
    SiteProfileError,
    default_bundle_profile,
)

SCHEMA_VERSION = 1
KIND = "pneumonia-xray site profile"
CV_FOLDS = 5
CV_SEED = 0
ECE_BINS = 10
THRESHOLD_RULE = calibration.THRESHOLD_RULE.replace("validation", "site's")


class SiteCalibrationError(SiteProfileError):
    """The site's films cannot support a calibration (guard rails); nothing is written."""


def _threshold(labels: Sequence[int], probs: Sequence[float], target_sensitivity: float) -> float:
    """The model's own threshold rule (:func:`pneumonia_core.calibration.choose_threshold`)."""
    if not np.any(np.asarray(labels) == 1):
        raise SiteCalibrationError("no PNEUMONIA films: cannot choose a threshold")
    return float(calibration.choose_threshold(labels, probs, target_sensitivity)["value"])


def stratified_folds(labels: Sequence[int], k: int = CV_FOLDS, seed: int = CV_SEED) -> np.ndarray:
    """Fold index per film: each class shuffled (seeded, :func:`metrics.seeded_uint64`; the
    bundle has no ``numpy.random``) and dealt round-robin."""
    y = np.asarray(labels)
    folds = np.zeros(y.size, dtype=np.int64)
    for cls in (0, 1):
        members = np.flatnonzero(y == cls)
        idx = members[np.argsort(metrics.seeded_uint64(seed * 2 + cls, members.size),
                                 kind="stable")]
        folds[idx] = np.arange(idx.size) % k
    return folds


# -- metrics -----------------------------------------------------------------------------------
def evaluate(labels: Sequence[int], probs: Sequence[float], threshold: float) -> dict[str, Any]:
    """One column of the before/after table: :func:`pneumonia_core.metrics.classification_summary`
    (sensitivity and specificity with exact 95% intervals, ROC AUC with a bootstrap interval,
    ECE with 10 bins, Brier, counts) plus the log loss."""
    y = np.asarray(labels).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    out = metrics.classification_summary(y, p, threshold, ece_bins=(ECE_BINS,))
    out["log_loss"] = metrics.log_loss(y, p)
    return out


# -- the fit -----------------------------------------------------------------------------------
@dataclass
class SiteFit:
    """Everything :func:`fit_site` found; ``profile_body`` turns it into a profile."""

    method: str
    scale: float
    offset: float
    threshold: float
    target_sensitivity: float
    candidates: dict[str, dict[str, float]]
    before: dict[str, Any]
    after: dict[str, Any]
    after_cv: dict[str, Any]
    probs_before: np.ndarray
    probs_after: np.ndarray
    labels: np.ndarray
    warnings: list[str] = field(default_factory=list)


def _with_ci(k: int, n: int) -> dict[str, float]:
    lo, hi = metrics.clopper_pearson(k, n)
    return {"value": k / n if n else float("nan"), "ci_low": lo, "ci_high": hi}


def check_films(labels: Sequence[int], label_names: Sequence[str] = ("NORMAL", "PNEUMONIA"),
                min_per_class: int = MIN_PER_CLASS) -> None:
    """Guard rails on the counts: both classes, at least ``min_per_class`` films of each."""
    y = np.asarray(labels)
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_pos == 0 or n_neg == 0:
        have, lack = (label_names[1], label_names[0]) if n_pos else (label_names[0], label_names[1])
        raise SiteCalibrationError(
            f"only one class: {max(n_pos, n_neg)} {have} film(s) and no {lack} film: a "
            f"calibration needs labelled films of both classes (at least {min_per_class} each)")
    short = [f"{n} {name}" for n, name in ((n_neg, label_names[0]), (n_pos, label_names[1]))
             if n < min_per_class]
    if short:
        raise SiteCalibrationError(
            f"too few films: {' and '.join(short)} (at least {min_per_class} of each class are "
            "needed for a calibration that is more than noise)")


def fit_site(logits: Sequence[float], labels: Sequence[int], model_point: OperatingPoint,
             target_sensitivity: float,
             label_names: Sequence[str] = ("NORMAL", "PNEUMONIA"),
             min_per_class: int = MIN_PER_CLASS, folds: int = CV_FOLDS) -> SiteFit:
    """Fit calibration and threshold on a site's films (raw logits, labels 1 = positive).

    ``model_point`` is the model's own operating point: the "before" column. Raises :class:`SiteCalibrationError` when a guard rail fails.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if not 0.0 < target_sensitivity < 1.0:
        raise SiteCalibrationError(f"target sensitivity must lie in (0, 1); received "
                                   f"{target_sensitivity}")
    check_films(y, label_names, min_per_class)
    auc = metrics.roc_auc(y, z)
    if auc < 0.5:
        raise SiteCalibrationError(
            f"the {label_names[1]} films score LOWER than the {label_names[0]} films (ROC AUC "
            f"{auc:.3f} < 0.5): are the {label_names[0]}/{label_names[1]} folders or labels "
            "swapped?")
    warnings: list[str] = []
    if auc < 0.7:
        warnings.append(f"the model separates this site's films poorly (ROC AUC {auc:.3f}); "
                        "a recalibration cannot fix its ranking")
    fold = stratified_folds(y, folds)
    candidates: dict[str, dict[str, float]] = {}
    cv_probs: dict[str, np.ndarray] = {}
    cv_pred_thr = np.zeros(y.size)
    for method in calibration.METHODS:
        pp = np.zeros(y.size)
        for k in range(folds):
            tr = fold != k
            a, b = calibration.fit_calibration(y[tr], z[tr], method)
            pp[~tr] = calibrated(z[~tr], a, b)
        a, b = calibration.fit_calibration(y, z, method)
        candidates[method] = {"scale": a, "offset": b, "cv_log_loss": metrics.log_loss(y, pp)}
        cv_probs[method] = pp
    method = min(candidates, key=lambda m: candidates[m]["cv_log_loss"])
    scale, offset = candidates[method]["scale"], candidates[method]["offset"]
    if not (math.isfinite(scale) and scale > 0 and math.isfinite(offset)):
        raise SiteCalibrationError(f"the calibration did not converge (scale {scale}, offset "
                                   f"{offset}); the classes may be perfectly separated")
    probs_after = calibrated(z, scale, offset)
    threshold = _threshold(y, probs_after, target_sensitivity)
    # Cross-validated "after": calibration and threshold fitted without the fold, applied to it.
    for k in range(folds):
        tr = fold != k
        a, b = calibration.fit_calibration(y[tr], z[tr], method)
        cv_pred_thr[~tr] = _threshold(y[tr], calibrated(z[tr], a, b), target_sensitivity)
    # Each film is decided against its own fold's threshold: counts and exact intervals from
    # those decisions; AUC, ECE and Brier from the pooled held-out probabilities.
    pp = cv_probs[method]
    after_cv = evaluate(y, pp, 0.5)
    decided = at_or_above(pp, cv_pred_thr)
    tp = int(np.sum(decided & (y == 1)))
    tn = int(np.sum(~decided & (y == 0)))
    n_pos, n_neg = int(np.sum(y == 1)), int(np.sum(y == 0))
    after_cv.update({
        "tp": tp, "fn": n_pos - tp, "tn": tn, "fp": n_neg - tn, "threshold": None,
        "sensitivity": _with_ci(tp, n_pos), "specificity": _with_ci(tn, n_neg),
        "folds": folds, "seed": CV_SEED,
    })
    sens_cv = after_cv["sensitivity"]
    upper = sens_cv["ci_high"]
    if upper < target_sensitivity:
        raise SiteCalibrationError(
            f"these films cannot show a sensitivity of {target_sensitivity:g}: cross-validated "
            f"sensitivity {sens_cv['value']:.3f}, 95% interval up to {upper:.3f} (below "
            f"the target); lower the target or add {label_names[1]} films")
    lower = sens_cv["ci_low"]
    if lower < target_sensitivity:
        warnings.append(
            f"with {n_pos} {label_names[1]} films the cross-validated sensitivity "
            f"{sens_cv['value']:.3f} has a 95% interval from {lower:.3f}: the films "
            f"cannot prove the target {target_sensitivity:g} with 95% confidence")
    probs_before = model_point.probabilities(z)
    return SiteFit(
        method=method, scale=scale, offset=offset, threshold=threshold,
        target_sensitivity=float(target_sensitivity), candidates=candidates,
        before=evaluate(y, probs_before, model_point.threshold),
        after=evaluate(y, probs_after, threshold), after_cv=after_cv,
        probs_before=probs_before, probs_after=probs_after, labels=y, warnings=warnings,
    )


# -- the report ---------------------------------------------------------------------------------
def format_table(report: dict[str, Any]) -> str:
    """The before/after table as fixed-width text (``calibrate``, the window)."""
    cols = [("model default", report["before"]), ("site profile", report["after"]),
            ("site, cross-val.", report["after_cv"])]

    def ci(m: dict[str, Any], key: str) -> str:
        v = m[key]
        return f"{v['value']:.3f} [{v['ci_low']:.3f}-{v['ci_high']:.3f}]"

    def num(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [("", [c for c, _ in cols]),
             ("threshold", [f"{m['threshold']:.4f}" if m.get("threshold") is not None
                            else "per fold" for _, m in cols]),
             ("sensitivity [95% CI]", [ci(m, "sensitivity") for _, m in cols]),
             ("specificity [95% CI]", [ci(m, "specificity") for _, m in cols]),
             ("ROC AUC [95% CI]", [ci(m, "roc_auc") for _, m in cols]),
             ("ECE (10 bins)", [num(m["ece_10"]) for _, m in cols]),
             ("Brier", [num(m["brier"]) for _, m in cols]),
             ("TP / FN", [f"{m['tp']} / {m['fn']}" for _, m in cols]),
             ("TN / FP", [f"{m['tn']} / {m['fp']}" for _, m in cols])]
    width = [max(len(r[0]) for r in lines)] + [
        max(len(r[1][i]) for r in lines) for i in range(len(cols))]
    return "\n".join("  ".join([name.ljust(width[0])]
                               + [c.rjust(width[i + 1]) for i, c in enumerate(cells)])
                     for name, cells in lines)


# -- the profile -------------------------------------------------------------------------------
def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def profile_body(fit: SiteFit, model_sha256: str, model_name: str, model_version: str,
                 tool_version: str, source: str, excluded: list[dict[str, str]]) -> dict[str, Any]:
    """The profile's fields, without its own ``sha256`` (see :func:`seal`)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "model": {"sha256": model_sha256, "name": model_name, "version": model_version},
        "created": utc_now(),
        "tool_version": tool_version,
        "calibration": {
            "method": fit.method, "scale": fit.scale, "offset": fit.offset,
            "selected_by": f"{CV_FOLDS}-fold stratified cross-validated log loss (seed {CV_SEED})",
            "candidates": fit.candidates,
        },
        "threshold": {
            "value": fit.threshold, "rule": THRESHOLD_RULE,
            "target_sensitivity": fit.target_sensitivity,
            "sensitivity": fit.after["sensitivity"]["value"],
            "specificity": fit.after["specificity"]["value"],
        },
        "films": {
            "n": fit.after["n"], "n_positive": fit.after["n_positive"],
            "n_negative": fit.after["n_negative"], "source": source, "excluded": excluded,
        },
        "report": {"before": fit.before, "after": fit.after, "after_cv": fit.after_cv},
    }


def _json_safe(value: Any) -> Any:
    """NaN/inf become null: the profile is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def canonical_text(body: dict[str, Any]) -> str:
    """The one text form of a profile body (key order kept, 2-space indent, ASCII)."""
    return json.dumps(_json_safe(body), indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def seal(body: dict[str, Any]) -> str:
    """The profile file's text: ``body`` plus ``sha256`` over ``canonical_text(body)``."""
    body = {k: v for k, v in body.items() if k != "sha256"}
    digest = hashlib.sha256(canonical_text(body).encode("ascii")).hexdigest()
    return canonical_text(body | {"sha256": digest})


def write_atomically(path: Path, data: bytes, force: bool = False) -> None:
    """Write ``data`` atomically (:func:`pneumonia_core.atomic_files.atomic_write_bytes`: a
    temporary file beside ``path``, fsync, rename; a new file is readable by every user, as the
    profile must be). An existing ``path`` is kept unless ``force``: :class:`FileExistsError`."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to replace it")
    atomic_write_bytes(path, data, new_mode=0o644)


@dataclass(frozen=True)
class SiteProfile:
    """A verified profile. ``data`` is the parsed file; the accessors name its parts."""

    data: dict[str, Any]
    path: str = ""

    @property
    def sha256(self) -> str:
        return str(self.data["sha256"])

    @property
    def model_sha256(self) -> str:
        return str(self.data["model"]["sha256"])

    @property
    def scale(self) -> float:
        return float(self.data["calibration"]["scale"])

    @property
    def offset(self) -> float:
        return float(self.data["calibration"]["offset"])

    @property
    def threshold(self) -> float:
        return float(self.data["threshold"]["value"])

    @property
    def created(self) -> str:
        return str(self.data["created"])

    @property
    def n_films(self) -> int:
        return int(self.data["films"]["n"])

    @property
    def after(self) -> dict[str, Any]:
        return dict(self.data["report"]["after"])

    @property
    def guard(self) -> dict[str, Any] | None:
        """The site's out-of-scope guard (:mod:`pneumonia_core.site_guard`), if fitted."""
        guard = self.data.get("guard")
        return guard if isinstance(guard, dict) else None

    def operating_point(self, labels: Sequence[str], positive_label: str,
                        origin: str = "", base_scope: dict[str, Any] | None = None
                        ) -> OperatingPoint:
        """The profile as the decision the pipeline, the window and ``classify`` use; with
        the model's guard statistics ``base_scope``, widened by the profile's site guard."""
        from pneumonia_core.site_guard import with_site_guard

        source = f"site profile, {origin}" if origin else "site profile"
        point = OperatingPoint(threshold=self.threshold, scale=self.scale, offset=self.offset,
                               labels=tuple(labels), positive_label=positive_label,
                               source=source, description=self.summary())
        return with_site_guard(point, base_scope, self.guard) if base_scope else point

    def summary(self) -> str:
        """``2026-11-29, 309 films, sensitivity 0.985 / specificity 0.835 on them, threshold
        0.2487 (sha256 ...)``: for the window, the summary and the log."""
        a = self.after
        return (f"{self.created[:10]}, {self.n_films} films, sensitivity "
                f"{a['sensitivity']['value']:.3f} / specificity {a['specificity']['value']:.3f} "
                "on them, "
                f"threshold {self.threshold:.4f} (sha256 {self.sha256[:12]})")


def parse_profile(text: str | bytes, model_sha256: str | None = None,
                  path: str = "") -> SiteProfile:
    """Verify and parse a profile's text; :class:`SiteProfileError` says why it is refused:
    not a profile, altered (its seal), malformed, for another model, or implausible."""
    where = f"site profile {path}" if path else "site profile"
    text, data = _profile_json(text, where)
    _check_seal(data, text, where)
    profile = _checked_profile(data, path, where, model_sha256)
    from pneumonia_core.profile_bounds import problems as implausible

    try:
        found = implausible(data, model_sha256)
    except (KeyError, TypeError, ValueError) as exc:
        raise SiteProfileError(f"{where} lacks a field or has a wrong type: {exc}") from None
    if found:
        raise SiteProfileError(f"{where} is implausible and refused: " + "; ".join(found)
                               + " (docs/model-integrity.md, site profiles)")
    return profile


def _profile_json(text: str | bytes, where: str) -> tuple[str, dict[str, Any]]:
    """(the text, its JSON object) when it is ASCII JSON of a site profile of this schema."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise SiteProfileError(f"{where} is not a profile written by this tool "
                                   "(non-ASCII bytes); it was altered") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteProfileError(f"{where} is not valid JSON ({exc}); it was altered or "
                               "truncated") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SiteProfileError(f"{where} is not a pneumonia-xray site profile")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise SiteProfileError(f"{where} has schema_version {data.get('schema_version')!r}; this "
                               f"app reads {SCHEMA_VERSION}")
    return text, data


def _check_seal(data: dict[str, Any], text: str, where: str) -> None:
    """The profile's own SHA-256 matches its content, and the text is the canonical one."""
    stored = data.get("sha256")
    body = {k: v for k, v in data.items() if k != "sha256"}
    try:
        expected = hashlib.sha256(canonical_text(body).encode("ascii")).hexdigest()
        canonical = seal(body)
    except (TypeError, ValueError) as exc:
        raise SiteProfileError(f"{where} holds values a profile cannot hold: {exc}") from None
    if stored != expected or canonical != text:
        raise SiteProfileError(
            f"{where} failed its integrity check: its content does not match its own SHA-256 "
            "(it was edited after it was written). Refit it with `pneumonia-xray calibrate`.")


def _checked_profile(data: dict[str, Any], path: str, where: str,
                     model_sha256: str | None) -> SiteProfile:
    """The profile, once its fields are there with possible values and it belongs to the
    model with ``model_sha256`` (any model when None)."""
    try:
        profile = SiteProfile(data, path)
        values = (profile.scale, profile.offset, profile.threshold)
        bound = profile.model_sha256
        _ = (profile.created, profile.n_films, profile.after["sensitivity"]["value"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SiteProfileError(f"{where} lacks a field or has a wrong type: {exc}") from None
    if not all(math.isfinite(v) for v in values) or values[0] <= 0 or not 0 < values[2] < 1:
        raise SiteProfileError(f"{where} holds an impossible calibration or threshold {values}")
    if model_sha256 is not None and bound != model_sha256:
        raise SiteProfileError(
            f"{where} belongs to another model (sha256 {bound[:12]}), not to the model in use "
            f"(sha256 {model_sha256[:12]}); a profile is valid only for the model it was fitted "
            "with. Refit it on this model with `pneumonia-xray calibrate`.")
    return profile


def load_profile(path: str | os.PathLike[str], model_sha256: str | None = None) -> SiteProfile:
    """Read and verify a profile file (see :func:`parse_profile`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SiteProfileError(f"cannot read site profile {p}: {exc.strerror or exc}") from None
    return parse_profile(raw, model_sha256, str(p))


def plot_paths(profile: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The reliability diagram and ROC plot beside a profile (``NAME.reliability.png``,
    ``NAME.roc.png``)."""
    p = Path(profile)
    return (p.with_name(p.stem + ".reliability.png"), p.with_name(p.stem + ".roc.png"))
