"""A site's own out-of-scope guard, fitted by ``calibrate`` on the site's labelled films and
sealed into its site profile (issue 21).

The model's guard knows one hospital's films (and acquisition variants of them). A site
whose equipment makes films outside those ranges has them refused as "not a chest X-ray";
its labelled films ARE chest films, so ``calibrate`` measures them and widens, for this site
only, each limit the guard applies just as far as the site's films need (their own range plus
:data:`MARGIN` of it): image-statistics ranges, layout limits and the feature distance. The
model's limits are never narrowed. What the site guard adds is bound into the profile's
SHA-256 with the calibration, and applied wherever the profile is (the window, ``classify``):
:meth:`pneumonia_core.site_profile.SiteProfile.operating_point` carries it in the operating
point's ``scope``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pneumonia_core import scope
from pneumonia_core.decision import OperatingPoint

log = logging.getLogger(__name__)

#: Each site limit is the site films' extreme value plus this fraction of their range (the
#: distances: times 1 + MARGIN).
MARGIN = 0.1
RULE = (f"site films' min..max widened by {MARGIN:g} x their range (distances: max x "
        f"{1 + MARGIN:g}), joined with the model's limits (never narrower)")


@dataclass
class FilmEvidence:
    """What the guard looks at for one film, and the model guard's verdict on it."""

    path: str
    gray: np.ndarray | None  # the model input (None: unreadable, or refused by its tags)
    embedding: np.ndarray | None
    default_verdict: scope.ScopeVerdict | None
    error: str = ""


def gather(paths: Sequence[str], bundle: Any) -> list[FilmEvidence]:
    """The model input, pooled features and default-guard verdict of each film (the app's
    decode and checks). Films the DICOM/colour checks or the intended use refuse are kept out
    of the site guard (``gray`` None): a site profile widens what the image looks like, never
    what the file says it is."""
    from pneumonia_core.imageio import ImageLoadError, decode_bytes, read_file_bytes, to_model_input
    from pneumonia_core.intended_use import outside_intended_use

    out = []
    meta_scope = bundle.metadata.scope
    for p in paths:
        try:
            decoded = decode_bytes(read_file_bytes(p), draft_size=bundle.input_size)
            gray = to_model_input(decoded.pixels, bundle.input_size)
        except ImageLoadError as exc:
            out.append(FilmEvidence(p, None, None, None, str(exc)))
            continue
        verdict = scope.check_decoded(decoded)
        outside = outside_intended_use(decoded.dicom) if verdict.in_scope else None
        if not verdict.in_scope or outside:
            out.append(FilmEvidence(p, None, None, verdict, outside or verdict.reason))
            continue
        emb = bundle.predict(gray).embedding
        verdict = scope.check_pixels(gray, meta_scope)
        if verdict.in_scope:
            verdict = scope.check_embedding(emb, meta_scope)
        out.append(FilmEvidence(p, gray, emb, verdict))
    return out


def _extend(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    width = hi - lo
    return lo - MARGIN * width, hi + MARGIN * width


def fit_site_guard(films: Sequence[FilmEvidence], base_scope: dict[str, Any]) -> dict[str, Any]:
    """The site guard (JSON-ready) from the readable films' evidence, relative to the model's
    ``base_scope``: per-feature ranges, layout and feature-distance limits, and counts."""
    usable = [f for f in films if f.gray is not None]
    if not usable:
        raise ValueError("no readable chest films to fit a site guard on")
    guard: dict[str, Any] = {"rule": RULE, "n_films": len(usable),
                             "default_refused": sum(not f.default_verdict.in_scope
                                                    for f in usable if f.default_verdict)}
    stats = base_scope.get("pixels")
    if stats:
        views = [scope.guard_view(f.gray, stats) for f in usable]
        guard.update(_pixel_ranges(views, stats))
        if "layout_components" in stats:
            guard.update(_layout_limits(views, stats))
    guard.update(_distance_limit(usable, base_scope))
    return guard


def _pixel_ranges(views: list[np.ndarray], stats: dict[str, Any]) -> dict[str, Any]:
    """Each image-statistics feature's range over the films, widened by :data:`MARGIN`."""
    names = [n for n in scope.PIXEL_FEATURES if n in stats.get("low", {})]
    feats = np.array([[scope.pixel_features(v)[n] for n in names] for v in views])
    ranges = [_extend(feats[:, j]) for j in range(len(names))]
    high = stats.get("high", {})  # a feature limited from below only gets no upper limit
    return {"pixels_low": {n: round(r[0], 5) for n, r in zip(names, ranges, strict=True)},
            "pixels_high": {n: round(r[1], 5) for n, r in zip(names, ranges, strict=True)
                            if n in high}}


def _layout_limits(views: list[np.ndarray], stats: dict[str, Any]) -> dict[str, Any]:
    """The largest layout residual (and coefficient distance, where every film has one) over
    the films, widened by :data:`MARGIN`."""
    prep = scope.prepared_layout(stats)
    vecs = [scope.layout_of(v, stats) for v in views]
    out = {"max_layout_residual": round(max(prep.residual(v) for v in vecs) * (1 + MARGIN), 5)}
    coefs = [prep.coefficient_distance(v) for v in vecs]
    if all(c is not None for c in coefs):
        out["max_layout_distance"] = round(max(coefs) * (1 + MARGIN), 5)  # type: ignore[type-var]
    return out


def _distance_limit(usable: Sequence[FilmEvidence], base_scope: dict[str, Any]) -> dict[str, Any]:
    """The largest feature distance over the films, widened by :data:`MARGIN` (nothing when
    the model's guard has no feature-distance check)."""
    embs = [f.embedding for f in usable if f.embedding is not None]
    dists = [scope.feature_distance(e, base_scope) for e in embs]
    out: dict[str, Any] = {}
    if dists and all(d is not None for d in dists):
        out["max_distance"] = round(max(dists) * (1 + MARGIN), 5)  # type: ignore[type-var]
    patterns = [scope.feature_pattern_distances(e, base_scope) for e in embs]
    if patterns and all(p is not None for p in patterns):
        out["pattern_max_distance"] = round(max(p[0] for p in patterns) * (1 + MARGIN), 5)  # type: ignore[index]
        out["pattern_max_residual"] = round(max(p[1] for p in patterns) * (1 + MARGIN), 5)  # type: ignore[index]
    return out


def merged_scope(base: dict[str, Any], guard: dict[str, Any] | None) -> dict[str, Any]:
    """The model's guard statistics widened by a site guard (never narrowed)."""
    if not guard:
        return base
    out = copy.copy(base)
    stats = base.get("pixels")
    if stats:
        pixels = dict(stats)
        low, high = dict(stats.get("low", {})), dict(stats.get("high", {}))
        for n, v in guard.get("pixels_low", {}).items():
            if n in low:
                low[n] = min(float(low[n]), float(v))
        for n, v in guard.get("pixels_high", {}).items():
            if n in high:
                high[n] = max(float(high[n]), float(v))
        pixels["low"], pixels["high"] = low, high
        for key in ("max_layout_residual", "max_layout_distance"):
            if key in guard and key in pixels:
                pixels[key] = max(float(pixels[key]), float(guard[key]))
        out["pixels"] = pixels
    if "max_distance" in guard and out.get("max_distance") is not None:
        out["max_distance"] = max(float(out["max_distance"]), float(guard["max_distance"]))
    if base.get("embedding_pattern") and "pattern_max_distance" in guard:
        pattern = dict(base["embedding_pattern"])
        for key in ("max_distance", "max_residual"):
            pattern[key] = max(float(pattern[key]), float(guard[f"pattern_{key}"]))
        out["embedding_pattern"] = pattern
    return out


def with_site_guard(point: OperatingPoint, base_scope: dict[str, Any],
                    guard: dict[str, Any] | None) -> OperatingPoint:
    """``point`` carrying the merged guard (unchanged when there is no site guard)."""
    if not guard:
        return point
    return replace(point, scope=merged_scope(base_scope, guard))


def refused_after(films: Sequence[FilmEvidence], scope_stats: dict[str, Any]) -> int:
    """How many readable films the guard of ``scope_stats`` still refuses."""
    n = 0
    for f in films:
        if f.gray is None:
            continue
        v = scope.check_pixels(f.gray, scope_stats)
        if v.in_scope:
            v = scope.check_embedding(f.embedding, scope_stats)
        n += not v.in_scope
    return n
