"""Plausibility bounds on every number a site profile carries (Qt-free, TensorFlow-free).

The profile's SHA-256 proves only that its text matches its own digest: anyone who can write
the file can edit it and compute a new digest (there is no secret). These bounds are the
second line: whoever wrote the file, a profile whose numbers no real fit on real films can
produce is refused, so a resealed profile cannot silence the model.

Checked by :func:`pneumonia_core.site_profile.parse_profile` on every load (window,
``classify``, ``--self-test``, import) and by ``calibrate`` before it writes:

- calibration: ``MIN_SCALE <= scale <= MAX_SCALE`` (a tiny scale squeezes every film to one
  probability), and the decision boundary on the model's raw logit,
  ``(logit(threshold) - offset) / scale``, within ``MAX_BOUNDARY`` of zero (the model's
  logits of real films lie well inside; a boundary beyond them flags nothing or everything);
- threshold: ``MIN_THRESHOLD <= value <= MAX_THRESHOLD``; target sensitivity at least
  ``MIN_TARGET_SENSITIVITY`` (a missed pneumonia costs more than a false alarm);
- the statistics it reports agree with each other: film counts add up, each class has at
  least :data:`MIN_PER_CLASS` films, the confusion counts of the
  "after" column add up to the class counts and give the stated sensitivity and specificity,
  and that sensitivity meets the stated target;
- the pinned model's pneumonia reference film must still be flagged under the profile's
  calibration and threshold: a profile that would clear it is refused. The reference is a
  film the pinned model, with its own calibration, reads as pneumonia with probability
  :data:`REFERENCE_PROBABILITY` (a raw logit, no pixels): a boundary above it would clear
  films the model is all but certain of. (Until pneumonia-cnn 1.4.0 the reference was the
  built-in self-test film, :mod:`pneumonia_core.builtin_image`; a model trained for other
  equipment reads that generated picture at P 0.31, so it no longer stood for a clear
  pneumonia and refused genuine fits.) This check applies to the pinned model only.

What the bounds cannot stop: a profile whose numbers are plausible but invented (e.g. a
threshold a little higher than the films justify, or made-up counts that add up). Only a
signature from a key IT trusts (:mod:`pneumonia_core.profile_signing`) proves who made it.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Fewest films of each class a site profile may be fitted on (and claim to have been).
MIN_PER_CLASS = 50

MIN_SCALE = 0.1
#: Generated test films that all score alike give a steep but genuine fit (scale about 50).
MAX_SCALE = 100.0
MAX_BOUNDARY = 20.0
MIN_THRESHOLD = 0.01
MAX_THRESHOLD = 0.99
MIN_TARGET_SENSITIVITY = 0.90
#: How far a stated rate may differ from the one its counts give (rounding in JSON).
_RATE_TOLERANCE = 1e-6


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


#: The pinned model's pneumonia reference: a film it reads, with its own calibration, as
#: pneumonia with this probability. No genuine site fit clears it (a boundary above it would
#: clear nearly every pneumonia the model is sure of), except for a site whose films the
#: model's guard mostly refused (see :func:`problems`).
REFERENCE_PROBABILITY = 0.99


def pinned_reference_logits(model_sha256: str | None) -> list[float]:
    """Raw logits of the pinned pneumonia reference films of the model ``model_sha256``:
    :data:`REFERENCE_PROBABILITY` turned back through the shipped model's own calibration.
    Empty for a model that is not the pinned one."""
    from pneumonia_core.integrity import build_pin, shipped_model_dir

    pin = build_pin()
    if pin is None or model_sha256 is None or pin.model_sha256 != model_sha256:
        return []
    p = REFERENCE_PROBABILITY
    try:
        meta = json.loads((shipped_model_dir() / "metadata.json").read_text(encoding="utf-8"))
        scale = float(meta["calibration"]["scale"])
        offset = float(meta["calibration"]["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if meta.get("sha256") != model_sha256 or not scale > 0:
        return []
    return [(_logit(p) - offset) / scale]


def problems(data: dict[str, Any], model_sha256: str | None = None) -> list[str]:
    """Why the numbers of the parsed profile ``data`` are implausible ([] when plausible).
    Raises KeyError/TypeError/ValueError on a missing field or a wrong type."""
    out: list[str] = []
    cal, thr, films = data["calibration"], data["threshold"], data["films"]
    scale, offset, value = float(cal["scale"]), float(cal["offset"]), float(thr["value"])
    if not MIN_SCALE <= scale <= MAX_SCALE:
        out.append(f"calibration scale {scale:g} outside [{MIN_SCALE:g}, {MAX_SCALE:g}]")
    if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        out.append(f"threshold {value:g} outside [{MIN_THRESHOLD:g}, {MAX_THRESHOLD:g}]")
    elif scale > 0:
        boundary = (_logit(value) - offset) / scale
        if not abs(boundary) <= MAX_BOUNDARY:
            out.append(f"decision boundary at raw logit {boundary:g} (offset {offset:g}) "
                       f"outside [-{MAX_BOUNDARY:g}, {MAX_BOUNDARY:g}]")
    target = float(thr["target_sensitivity"])
    if not MIN_TARGET_SENSITIVITY <= target < 1.0:
        out.append(f"target sensitivity {target:g} below {MIN_TARGET_SENSITIVITY:g}")
    n, n_pos, n_neg = int(films["n"]), int(films["n_positive"]), int(films["n_negative"])
    if n != n_pos + n_neg:
        out.append(f"film counts do not add up ({n} != {n_pos} + {n_neg})")
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        out.append(f"fewer than {MIN_PER_CLASS} films of a class ({n_pos} positive, "
                   f"{n_neg} negative)")
    after = data["report"]["after"]
    tp, fn, tn, fp = (int(after[k]) for k in ("tp", "fn", "tn", "fp"))
    if tp + fn != n_pos or tn + fp != n_neg or min(tp, fn, tn, fp) < 0:
        out.append(f"confusion counts (TP {tp}, FN {fn}, TN {tn}, FP {fp}) do not match the "
                   f"films ({n_pos} positive, {n_neg} negative)")
    elif n_pos and n_neg:
        sens, spec = tp / n_pos, tn / n_neg
        for name, stated, real in (
                ("sensitivity", after["sensitivity"]["value"], sens),
                ("specificity", after["specificity"]["value"], spec),
                ("threshold sensitivity", thr["sensitivity"], sens),
                ("threshold specificity", thr["specificity"], spec)):
            if not abs(float(stated) - real) <= _RATE_TOLERANCE:
                out.append(f"stated {name} {float(stated):.4f} is not what its counts give "
                           f"({real:.4f})")
        if sens + _RATE_TOLERANCE < target:
            out.append(f"sensitivity {sens:.4f} on its own films is below its target {target:g}")
    if _other_equipment(data, n):
        # The site's own films were mostly refused by the model's guard (issue 21): they come
        # from other equipment, whose processing moves every film's score, so the pinned
        # reference film (acquired like the training films) does not show where this site's
        # boundary belongs. The ranges above still hold; only a signature stops a forger who
        # claims such a guard (docs/model-integrity.md).
        return out
    for z in pinned_reference_logits(model_sha256):
        p = 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, scale * z + offset))))
        if p < value:
            out.append(f"it would clear the model's own pinned pneumonia reference film (a "
                       f"film the model reads at P {REFERENCE_PROBABILITY:g}; P {p:.4f} < "
                       f"threshold {value:.4f})")
    return out


def _other_equipment(data: dict[str, Any], n: int) -> bool:
    """True when the profile carries a site guard fitted because the model's guard refused at
    least half of the site's films (``calibrate`` records ``guard.default_refused``)."""
    guard = data.get("guard")
    if not isinstance(guard, dict):
        return False
    try:
        refused = int(guard.get("default_refused", 0))
    except (TypeError, ValueError):
        return False
    return n > 0 and 2 * refused >= n
