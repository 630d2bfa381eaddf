"""What the release's operating point is worth on films it was not fitted on (issue 21).

The shipped threshold is chosen on test_public by the release rule (highest specificity with
sensitivity >= the target, then widened; :func:`pneumonia_core.calibration.choose_threshold`)
and its sensitivity and specificity there are in-sample. This splits the films into two
stratified halves many times, fits the threshold on one half by the same rule and reads the
other half at it: the mean sensitivity and specificity, how often the sensitivity falls under a
line (the issue's 0.98), and its 5th percentile. Several models read the same splits, so they
compare paired.

The films' probabilities come from ``bench.shift_suite --json`` (one family, every model in the
file):

    python -m bench.shift_suite --data .../test_public --families plain \\
        --model OLD --model NEW --json plain.json
    python -m bench.threshold_halves plain.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.calibration import DEFAULT_TARGET_SENSITIVITY, choose_threshold
from pneumonia_core.decision import at_or_above

log = logging.getLogger(__name__)

#: The line the held-back half is judged by (issue 21: "sensitivity 0.98 there today").
SENSITIVITY_LINE = 0.98


def split_halves(labels: Sequence[int], splits: int, seed: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` stratified random halves: (fit indices, read indices), each class cut in two
    (the odd film of a class goes to the read half)."""
    y = np.asarray(labels).ravel()
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == c) for c in (0, 1)]
    out = []
    for _ in range(splits):
        fit, read = [], []
        for idx in by_class:
            perm = rng.permutation(idx)
            fit.append(perm[: idx.size // 2])
            read.append(perm[idx.size // 2:])
        out.append((np.concatenate(fit), np.concatenate(read)))
    return out


def holdout(labels: Sequence[int], probs: Sequence[float],
            halves: Sequence[tuple[np.ndarray, np.ndarray]],
            target: float = DEFAULT_TARGET_SENSITIVITY,
            line: float = SENSITIVITY_LINE) -> dict[str, Any]:
    """The release rule fitted on each fit half and read on its read half."""
    y = np.asarray(labels).ravel()
    p = np.asarray(probs, np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels for {p.size} probabilities")
    thr, sens, spec = [], [], []
    for fit, read in halves:
        t = choose_threshold(y[fit], p[fit], target, widen=True)["value"]
        flagged = at_or_above(p[read], t)
        yr = y[read]
        thr.append(t)
        sens.append(float(np.mean(flagged[yr == 1])))
        spec.append(float(np.mean(~flagged[yr == 0])))
    s, c = np.array(sens), np.array(spec)
    return {"splits": len(halves), "target_sensitivity": float(target),
            "threshold_median": float(np.median(thr)),
            "sensitivity_mean": float(s.mean()), "sensitivity_p5": float(np.percentile(s, 5)),
            "sensitivity_under_line": float(np.mean(s < line)), "line": float(line),
            "specificity_mean": float(c.mean()), "specificity_p5": float(np.percentile(c, 5))}


def models_from_suite(doc: dict[str, Any], family: str = "plain"
                      ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """{model: (files, labels, probabilities)} of one family of a ``shift_suite --json`` file,
    films in the same order for every model; films without a probability (refused by the
    guard, unreadable) are left out for every model alike, and said."""
    per: dict[str, dict[str, tuple[int, float | None]]] = {}
    for r in doc["films"]:
        if r["family"] == family:
            per.setdefault(r["model"], {})[r["file"]] = (int(r["label"]), r.get("probability"))
    if not per:
        raise ValueError(f"no films of the family {family!r} in the results")
    files = sorted(set.intersection(*(set(v) for v in per.values())))
    scored = [f for f in files if all(v[f][1] is not None for v in per.values())]
    if len(scored) < len(files):
        log.warning("%d film(s) without a probability under some model left out",
                    len(files) - len(scored))
    return {m: (scored, np.array([v[f][0] for f in scored]),
                np.array([v[f][1] for f in scored], np.float64)) for m, v in per.items()}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="a bench.shift_suite --json file")
    p.add_argument("--family", default="plain")
    p.add_argument("--splits", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-sensitivity", type=float, default=DEFAULT_TARGET_SENSITIVITY)
    p.add_argument("--json", type=Path, help="write the figures")
    args = p.parse_args(argv)
    try:
        models = models_from_suite(json.loads(args.results.read_text(encoding="utf-8")),
                                   args.family)
    except (OSError, ValueError, KeyError) as exc:
        p.error(f"{args.results}: {exc}")
    labels = next(iter(models.values()))[1]
    halves = split_halves(labels, args.splits, args.seed)
    out = {}
    log.info("| model | threshold (median) | sensitivity, mean | 5th percentile | under %.2f "
             "| specificity, mean | 5th percentile |", SENSITIVITY_LINE)
    log.info("|---|---|---|---|---|---|---|")
    for name, (_, y, prob) in models.items():
        r = holdout(y, prob, halves, args.target_sensitivity)
        out[name] = r
        log.info("| %s | %.3f | %.3f | %.3f | %.0f %% of splits | %.3f | %.3f |", name,
                 r["threshold_median"], r["sensitivity_mean"], r["sensitivity_p5"],
                 100 * r["sensitivity_under_line"], r["specificity_mean"], r["specificity_p5"])
    log.info("%d films (%d PNEUMONIA), %d stratified halves, seed %d, family %s",
             labels.size, int(labels.sum()), args.splits, args.seed, args.family)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
