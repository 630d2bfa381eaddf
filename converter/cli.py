"""``pneumonia-convert RUN_DIR --out DIR``: quantize a training run to TensorFlow Lite, validate
it against the Keras model, and write the app's model folder.

Exit codes: 0 written; 1 refused by validation or unusable run folder (nothing written);
2 the destination exists (pass ``--force``) or bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from converter.tflite_export import DEFAULT_QUANTIZATION, QUANTIZATIONS

log = logging.getLogger("pneumonia-convert")

EXIT_OK, EXIT_REFUSED, EXIT_EXISTS = 0, 1, 2
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pneumonia-convert",
        description="Convert a training run (pneumonia-train --out RUN_DIR) into the app's model "
                    "folder: model.tflite, metadata.json, MODEL_CARD.md, validation.json.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="finished training run folder")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="model folder to write")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default=DEFAULT_QUANTIZATION,
                   help=f"{DEFAULT_QUANTIZATION} (default; the shipped model's, see "
                        "training/EXPERIMENTS.md), int8 (full-integer post-training quantization "
                        "with float input/output and float final pools) or float16 weights")
    p.add_argument("--calibration-images", type=int, default=300, metavar="N",
                   help="training images that calibrate the int8 ranges (default 300)")
    p.add_argument("--scope-images", type=int, default=1000, metavar="N",
                   help="training images for the out-of-scope guard's statistics (default 1000)")
    p.add_argument("--force", action="store_true", help="replace an existing model folder")
    p.add_argument("--name", default="pneumonia-cnn", help="model name in metadata.json")
    p.add_argument("--model-version", default="1.0.0", help="model version in metadata.json")
    p.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                   help="seed-baseline run folder to compare against in the model card")
    p.add_argument("--experiments", type=Path, metavar="MD",
                   help="experiment log (Markdown) to include in the model card; default: none")
    p.add_argument("--skip-scope-eval", action="store_true",
                   help="do not measure the out-of-scope guard (the card says 'not measured')")
    p.add_argument("--rethreshold", action="store_true",
                   help="re-apply the run's threshold rule (target sensitivity) to the converted "
                        "model's calibrated validation probabilities instead of keeping the "
                        "run's threshold value")
    p.add_argument("--external", type=Path, metavar="DIR",
                   help="labelled folder (NORMAL/, PNEUMONIA/), e.g. test_public: scored through "
                        "the app's own path and reported with 95%% intervals next to the "
                        "validation split, in validation.json, metadata.json and the model card")
    p.add_argument("--external-name", metavar="NAME", help="its name in the reports "
                   "(default: the folder name)")
    p.add_argument("--fit-on-external", action="store_true",
                   help="fit the shipped calibration (logistic: scale and offset) and threshold "
                        "on the external set instead of the validation split; the card says so")
    p.add_argument("--external-target-sensitivity", type=float, default=None, metavar="S",
                   help="sensitivity the external threshold must keep (default 0.985)")
    p.add_argument("--selected-on-external", action="store_true",
                   help="state in the card that the recipe was chosen by its external results")
    p.add_argument("--seed", type=int, default=0, help="seed for drawing calibration images")
    p.add_argument("--shift-results", type=Path, metavar="JSON",
                   help="the acquisition-shift suite's results file (bench/shift_suite.py "
                        "--summary) for the card's section; a new model is shown as not "
                        "measured until the suite is run on it (converter/shift_card.py)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


class ProgressLine:
    """A single updating progress line on stderr (only when it is a terminal, else sparse)."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self._last < (0.2 if self._tty else 10.0):
            return
        self._last = now
        line = f"{stage}: {done}/{total} ({100 * done / max(total, 1):.0f}%)"
        if self._tty:
            sys.stderr.write("\r" + line.ljust(60) + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if (args.fit_on_external or args.selected_on_external) and args.external is None:
        log.error("--fit-on-external and --selected-on-external need --external DIR")
        return EXIT_USAGE
    if args.external is not None and not args.external.is_dir():
        log.error("--external %s is not a folder", args.external)
        return EXIT_USAGE
    if args.calibration_images < 10:
        log.error("--calibration-images must be at least 10; received %d", args.calibration_images)
        return EXIT_USAGE

    from converter.convert import (
        ConversionRefused,
        ConvertOptions,
        OutputExistsError,
        check_destination,
        convert_run,
    )
    from converter.run_source import RunError

    try:  # fail fast, before TensorFlow loads
        check_destination(args.out.absolute(), args.force)
    except OutputExistsError as exc:
        log.error("%s", exc)
        return EXIT_EXISTS
    options = ConvertOptions(
        quantization=args.quantization, calibration_images=args.calibration_images,
        scope_images=args.scope_images,
        force=args.force, name=args.name, version=args.model_version, baseline=args.baseline,
        experiments=args.experiments, measure_scope=not args.skip_scope_eval, seed=args.seed,
        rethreshold=args.rethreshold, external=args.external, external_name=args.external_name,
        fit_on_external=args.fit_on_external, selected_on_external=args.selected_on_external,
        shift_results=args.shift_results,
    )
    if args.external_target_sensitivity is not None:
        options.external_target_sensitivity = args.external_target_sensitivity
    started = time.monotonic()
    try:
        result = convert_run(args.run_dir, args.out, options, progress=ProgressLine())
    except OutputExistsError as exc:
        log.error("%s", exc)
        return EXIT_EXISTS
    except ConversionRefused as exc:
        log.error("%s", exc)
        return EXIT_REFUSED
    except (RunError, FileNotFoundError, ValueError) as exc:
        log.error("Cannot convert %s: %s", args.run_dir, exc)
        return EXIT_REFUSED
    sys.stdout.write(f"Wrote {result.out} ({result.metadata.quantization}, sha256 "
                     f"{result.metadata.sha256[:12]}) in {time.monotonic() - started:.0f} s\n")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
