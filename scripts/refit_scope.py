"""Refit the out-of-scope guard of an existing model folder, without retraining.

    PYTHONPATH=$PWD .venv/bin/python scripts/refit_scope.py [--model resources/model]
        [--data ../shared/data/chest_xray] [--no-measure]

Fits ``metadata.json['scope']`` on EVERY film of ``DATA/train`` with the converter's rule
(:func:`pneumonia_core.scope.fit_scope_stats`, via :func:`converter.scope_eval.refit_scope`);
``model.tflite`` is not touched (its SHA-256 is checked before and after). Then measures, with
the real pipeline: the rejection rate on all of train/ and on test_public/, and the catch rate
on the generated non-chest corpus (:func:`converter.scope_eval.evaluate_scope`, with the
training code's validation split as the converter does), which it also records in the folder
(``validation.out_of_scope`` of metadata.json and validation.json, the model card's section).
The app's own folder (resources/model) is re-pinned into pneumonia_core/pinned_model.py, as
the converter does. Run it again whenever the image path (pneumonia_core.imageio) changes what
the guard sees.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

log = logging.getLogger("refit_scope")


def rejection(paths: list[Path], model: Path) -> dict:
    """Out-of-scope and error counts of the real pipeline over ``paths``."""
    from pneumonia_core.model import ModelBundle
    from pneumonia_core.pipeline import STATUS_ERROR, STATUS_OUT_OF_SCOPE, classify_file

    bundle = ModelBundle.load(model)
    refused, errors = [], 0
    for p in paths:
        res = classify_file(p, bundle)
        if res.status == STATUS_OUT_OF_SCOPE:
            refused.append(f"{p.parent.name}/{p.name}: {res.message}")
        errors += res.status == STATUS_ERROR
    n = len(paths) - errors
    return {"files": n, "refused": len(refused), "fraction": round(len(refused) / max(n, 1), 5),
            "errors": errors, "refused_files": refused}


def repin(model: Path) -> None:
    """The app's own folder is pinned into the app (docs/model-integrity.md): a refitted
    folder is re-pinned, as the converter does, or the app would refuse it as tampered."""
    from pneumonia_core.integrity import is_shipped

    if is_shipped(model):
        from converter.pin import write_pin

        write_pin(model)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "model")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "chest_xray")
    p.add_argument("--no-measure", action="store_true", help="refit only")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from converter.convert import portable_paths
    from converter.model_card import scope_markdown
    from converter.scope_eval import evaluate_scope, record_scope_evaluation, refit_scope
    from training.config import TrainConfig
    from training.data import grouped_split, scan_split

    train = [s.path for s in scan_split(args.data, "train")]
    log.info("refitting the guard of %s on %d training films", args.model, len(train))
    fitted = refit_scope(args.model, train)
    repin(args.model)
    log.info("fitted films accepted: %d of %d (%.3f%%)", fitted["images"] - fitted["refused"],
             fitted["images"], 100 * fitted["acceptance"])
    if args.no_measure:
        return 0
    result = {"fitted": fitted, "train": rejection(train, args.model)}
    test = [s.path for s in scan_split(args.data, "test_public")]
    result["test_public"] = rejection(test, args.model)
    # The model card's figures, as the converter measures them: the training code's
    # validation split (part of the fitted films now) and the non-chest corpus.
    config = TrainConfig()
    val = [s.path for s in grouped_split(scan_split(args.data, "train"), config.val_fraction,
                                         config.seed)[1]]
    corpus = evaluate_scope(args.model, val)
    corpus = portable_paths(corpus, args.data)  # no machine paths in the model folder
    corpus["method"] += (f"; guard refitted on all {fitted['images']} train/ films by "
                         "scripts/refit_scope.py, so these validation X-rays are among the "
                         f"fitted films (test_public/: {result['test_public']['refused']} of "
                         f"{result['test_public']['files']} refused)")
    record_scope_evaluation(args.model, corpus)
    repin(args.model)
    result["non_chest"] = {k: corpus[k] for k in ("ood_total", "ood_caught", "ood_caught_fraction",
                                                  "ood_by_check", "ood_missed")}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    t, tp, oc = result["train"], result["test_public"], result["non_chest"]
    sys.stdout.write(
        "| measure | value |\n|---|---|\n"
        f"| fitted films accepted | {fitted['images'] - fitted['refused']}/{fitted['images']} |\n"
        f"| train/ refused | {t['refused']}/{t['files']} ({t['fraction']:.3%}) |\n"
        f"| test_public/ refused | {tp['refused']}/{tp['files']} ({tp['fraction']:.3%}) |\n"
        f"| non-chest inputs caught | {oc['ood_caught']}/{oc['ood_total']} |\n\n"
        + scope_markdown(corpus) + "\n")
    for line in t["refused_files"]:
        sys.stdout.write(f"refused training film {line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
