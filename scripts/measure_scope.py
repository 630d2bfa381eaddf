"""Measure the out-of-scope guard of a model folder (the model card's figures).

    .venv/bin/python scripts/measure_scope.py [--model resources/model] [--data DIR]
        [--run RUN_DIR] [--val-limit N] [--fit-pixels N] [--json OUT.json]

The validation split is the run's ``split.json`` (``--run``), or else the training code's
patient-grouped split of ``DATA/train`` with its default fraction and seed. When the model's
metadata has no fitted image statistics (``scope['pixels']``), or ``--refit`` is given, they
are fitted on ``--fit-pixels`` TRAINING images of that split (never validation images) in a
temporary copy of the model folder. Prints the Markdown tables of
:func:`converter.scope_eval.scope_markdown`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

log = logging.getLogger("measure_scope")


def team_split(data: Path, run: Path | None) -> tuple[list[Path], list[Path]]:
    """(train paths, val paths) of the team's validation split."""
    if run is not None:
        payload = json.loads((run / "split.json").read_text())
        root = Path(payload.get("data_root", data))
        if not root.is_dir():
            root = data
        return ([root / e["path"] for e in payload["train"]], [root / e["path"] for e in payload["val"]])
    from training.config import TrainConfig
    from training.data import grouped_split, scan_split

    cfg = TrainConfig()
    train, val = grouped_split(scan_split(data, "train"), cfg.val_fraction, cfg.seed)
    return [s.path for s in train], [s.path for s in val]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "resources" / "model")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "chest_xray")
    p.add_argument("--run", type=Path, default=None, help="training run folder with split.json")
    p.add_argument("--val-limit", type=int, default=0, help="use the first N validation images (0: all)")
    p.add_argument("--fit-pixels", type=int, default=1500,
                   help="training images for image statistics when the metadata lacks them")
    p.add_argument("--refit", action="store_true", help="refit image statistics even if present")
    p.add_argument("--json", type=Path, default=None, help="also write the full result here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from converter.model_card import scope_markdown
    from converter.scope_eval import evaluate_scope, with_pixel_stats
    from pneumonia_core.metadata import ModelMetadata

    train, val = team_split(args.data, args.run)
    if args.val_limit:
        val = val[: args.val_limit]
    log.info("validation split: %d images; training images: %d", len(val), len(train))
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if args.refit or not ModelMetadata.load(model).scope.get("pixels"):
            import numpy as np

            pick = np.random.default_rng(0).permutation(len(train))[: args.fit_pixels]
            log.info("fitting image statistics on %d training images", len(pick))
            model = with_pixel_stats(model, [train[i] for i in sorted(pick)], Path(tmp) / "model")
        result = evaluate_scope(model, val)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(scope_markdown(result) + "\n")
    if result["val_rejected_files"]:
        sys.stdout.write("\nRejected validation X-rays:\n")
        for r in result["val_rejected_files"]:
            sys.stdout.write(f"  {r['path']}: {r['message']}\n")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
