"""The model card's "Acquisition shift" section, generated from the shift suite's results file.

The public acquisition-shift suite (``bench/shift_suite.py``, docs/acquisition-shift.md) writes
its per-family figures with ``--summary FILE``; the repository keeps the shipped model's in
``bench/shift_results.json``. The converter (``pneumonia-convert --shift-results FILE``) and
this module's command write the section from that file, for the entry whose SHA-256 is the
folder's model file, so a retrain keeps the section and never shows another model's figures:

    python -m converter.shift_card [FOLDER] [RESULTS]   # default resources/model and
                                                          # bench/shift_results.json

A folder whose model the file does not cover gets a section that says so and how to measure it.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from converter import model_folder
from pneumonia_core.metadata import ModelMetadata

log = logging.getLogger(__name__)

HEADING = "Acquisition shift (issue 21)"
DEFAULT_RESULTS = Path(__file__).resolve().parent.parent / "bench" / "shift_results.json"
#: The suite over several draws of the same films (``python -m bench.shift_draws``): the
#: held-out half (every second test_public film) and all of test_public.
DEFAULT_DRAWS = (DEFAULT_RESULTS.with_name("shift_draws.json"),
                 DEFAULT_RESULTS.with_name("shift_draws_all.json"))

_BEHAVIOUR = (
    "DICOM films: the stored VOI window (or its absence) does not change the model's input. "
    "DICOM films whose PatientAge is 18 years or more or whose ViewPosition is lateral, "
    "decubitus or oblique are not scored (status `outside_intended_use`, flagged for review). "
    "A site whose films the guard refuses can run `calibrate` on its own labelled films: it "
    "also fits a site guard, sealed into the site profile (docs/site-calibration.md).")


def ci_text(m: dict[str, float]) -> str:
    """``value (low-high)`` of a figure with its interval, three decimals."""
    return f"{m['value']:.3f} ({m['ci_low']:.3f}-{m['ci_high']:.3f})"


def shift_table(summary: dict[str, dict[str, Any]]) -> str:
    """The suite's per-family summary (``bench.shift_suite.summarise``) as a Markdown table."""
    lines = ["| family | films | guard refused | by check | ROC AUC (guard bypassed) | "
             "sensitivity | specificity | ECE (10 bins) |",
             "|---|---|---|---|---|---|---|---|"]
    for fam, s in summary.items():
        checks = ", ".join(f"{k} {v}" for k, v in sorted(s["refused_by_check"].items())) or "-"
        lines.append(
            f"| {fam} | {s['films']} | {s['refused']} ({s['refused_fraction']:.1%}; "
            f"{s['refused_ci'][0]:.1%}-{s['refused_ci'][1]:.1%}) | {checks} | "
            f"{ci_text(s['roc_auc'])} | {ci_text(s['sensitivity'])} | {ci_text(s['specificity'])} | "
            f"{s['ece']['value']:.3f} ({s['ece']['ci'][0]:.3f}-{s['ece']['ci'][1]:.3f}) |")
    return "\n".join(lines)


def _spread(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def draws_table(res: dict[str, Any]) -> str:
    """The suite over several draws (``bench.shift_draws``: per family, the refusals pooled
    over the draws and per draw, the per-draw ROC AUC and ECE as mean (range), the pooled
    sensitivity and specificity, and the ECE a perfect calibration reads on the same films)
    as a Markdown table."""
    lines = ["| family | refused, pooled | refused per draw | ROC AUC per draw: mean (range) | "
             "sensitivity, pooled | specificity, pooled | ECE per draw: mean (range) | "
             "ECE of a perfect calibration, mean |", "|---|---|---|---|---|---|---|---|"]
    for fam, p in res["pooled"].items():
        per = [d["summary"][fam] for d in res["draws"]]
        r = p["refused"]
        lines.append(
            f"| {fam} | {r['k']}/{r['n']} ({r['value']:.1%}; {r['ci_low']:.1%}-{r['ci_high']:.1%}) "
            f"| {', '.join(str(s['refused']) for s in per)} "
            f"| {_spread([s['roc_auc']['value'] for s in per])} | {ci_text(p['sensitivity'])} "
            f"| {ci_text(p['specificity'])} | {_spread([s['ece']['value'] for s in per])} "
            f"| {sum(s['ece_floor'] for s in per) / len(per):.3f} |")
    return "\n".join(lines)


def load_results(path: str | Path | None) -> dict[str, Any] | None:
    """The results file as a dict, or None when there is none (logged)."""
    if path is None or not Path(path).is_file():
        log.info("no shift-suite results at %s: the card says the suite was not run", path)
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def entry_for(results: dict[str, Any] | None, sha256: str) -> dict[str, Any] | None:
    """The results' entry for the model file with this SHA-256, if measured."""
    for entry in (results or {}).get("models", []):
        if entry.get("sha256") == sha256:
            return entry
    return None


def _comparison(entry: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """This model against another measured on the same shifted files."""
    lines = [f"Paired with {other['model']} on the same shifted files (same run):", "",
             "| family | guard refused (this / other) | ROC AUC (this / other) | "
             "sensitivity (this / other) | ECE (this / other) |", "|---|---|---|---|---|"]
    for fam, s in entry["summary"].items():
        o = other["summary"].get(fam)
        if o is None:
            continue
        lines.append(f"| {fam} | {s['refused']} / {o['refused']} | {s['roc_auc']['value']:.3f} / "
                     f"{o['roc_auc']['value']:.3f} | {s['sensitivity']['value']:.3f} / "
                     f"{o['sensitivity']['value']:.3f} | {s['ece']['value']:.3f} / "
                     f"{o['ece']['value']:.3f} |")
    return lines


def _films_text(draws: dict[str, Any]) -> str:
    """Which films a draws file covers, as the card says it."""
    n, data, limit = draws["films_per_draw"], ", ".join(draws.get("data", [])), draws.get("limit")
    if not data:
        return f"{n} films each"
    if limit:
        return f"{n} films each: every k-th film of {data} (--limit {limit})"
    return f"{n} films each: all of {data}"


def shift_section(results: dict[str, Any] | None, meta: ModelMetadata,
                  draws: dict[str, Any] | list[dict[str, Any]] | None = None) -> list[str]:
    """The card's ``## Acquisition shift`` section (lines) for the folder's model; ``draws``
    (``bench.shift_draws``'s results, one or several files) adds the suite over several draws
    for each that measured the same model file."""
    lines = [f"## {HEADING}", "",
             "The public acquisition-shift suite (`bench/shift_suite.py`, "
             "docs/acquisition-shift.md) changes real films as another site's equipment would "
             "(rotation, collimation borders, sensor noise, edge enhancement, display curves, "
             "lifted blacks, burned-in text, resolution and bit depth, combinations) and reads "
             "them through the app's path; films the guard refuses are still scored (guard "
             "bypassed) for the model's own figures.", ""]
    entry = entry_for(results, meta.sha256)
    if entry is None:
        return lines + [
            f"**No shift-suite figures for this model file** (SHA-256 {meta.sha256[:12]}...). Measure "
            "it: `python -m bench.shift_suite --data DATA/test_public --model FOLDER --summary "
            "bench/shift_results.json`, then `python -m converter.shift_card FOLDER`.", "",
            _BEHAVIOUR]
    assert results is not None
    data = ", ".join(results.get("data", [])) or "unknown films"
    fitted_on = f"{meta.threshold.get('fitted_on', '')} {meta.calibration.get('fitted_on', '')}"
    in_sample = [d for d in results.get("data", []) if d and d in fitted_on]
    lines += [f"Our figures, on {data} ({results.get('films_total', '?')} films, seed "
              f"{results.get('seed', 0)}), threshold {entry['threshold']:.3f}"
              + (f"; {', '.join(in_sample)} is where this model's calibration and threshold "
                 "were fitted, so the plain films' figures are in-sample" if in_sample else "")
              + ". Intervals: refusals Clopper-Pearson, ROC AUC and ECE bootstrap, sensitivity "
              "and specificity exact (95 %)." + (f" Films: {results['note']}." if results.get("note")
                                                 else ""), "", shift_table(entry["summary"]), ""]
    for other in results.get("models", []):
        if other is not entry:
            lines += _comparison(entry, other) + [""]
    for res in [draws] if isinstance(draws, dict) else (draws or []):
        if not (res and res.get("sha256") == meta.sha256 and res.get("pooled")):
            continue
        seeds = res["seeds"]
        lines += [f"The same suite over {len(seeds)} independent draws of every film's parameters "
                  f"(seeds {seeds[0]}-{seeds[-1]}, {_films_text(res)}; "
                  "`python -m bench.shift_draws`): one draw's figures carry its luck (one film "
                  f"is {1 / res['films_per_draw']:.1%}). Pooled intervals treat the draws of one "
                  "film as independent, so they are too narrow; ECE on a few hundred films reads "
                  "a few hundredths even for a perfect calibration (last column).", "",
                  draws_table(res), ""]
    return lines + [_BEHAVIOUR]


def with_shift_section(card: str, section: list[str]) -> str:
    """``card`` with its acquisition-shift section replaced, or the section appended."""
    text = "\n".join(section) + "\n"
    if f"## {HEADING}" in card:
        return model_folder.replace_card_section(card, HEADING, text)
    return card.rstrip("\n") + "\n\n" + text


def refresh(folder: str | Path, results_path: str | Path | None = DEFAULT_RESULTS,
            draws_path: str | Path | Sequence[str | Path] | None = DEFAULT_DRAWS) -> bool:
    """Rewrite ``folder``'s card section from the results files (through the folder writer,
    re-pinned when it is the app's own folder). True when the results cover its model."""
    from converter.pin import repin_if_shipped

    folder = Path(folder)
    meta = ModelMetadata.from_dict(model_folder.read_json(folder))
    results = load_results(results_path)
    paths = [draws_path] if isinstance(draws_path, (str, Path)) else list(draws_path or [])
    draws = [d for d in (load_results(p) for p in paths) if d]
    card = (folder / model_folder.CARD_FILE).read_text(encoding="utf-8")
    model_folder.write(folder, card=with_shift_section(card, shift_section(results, meta, draws)))
    repin_if_shipped(folder)
    return entry_for(results, meta.sha256) is not None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m converter.shift_card",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("folder", nargs="?", type=Path,
                   default=Path(__file__).resolve().parent.parent / "resources" / "model")
    p.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    p.add_argument("--draws", type=Path, action="append", default=None,
                   help="bench.shift_draws's results; repeat for several (default "
                        "bench/shift_draws.json and bench/shift_draws_all.json)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    measured = refresh(args.folder, args.results, args.draws or DEFAULT_DRAWS)
    log.info("%s: acquisition-shift section %s", args.folder,
             "written from the results" if measured else "says the model was not measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
