"""``pneumonia-train``: train + evaluate end to end, or evaluate an existing run.

    pneumonia-train --data DIR --out RUN_DIR [--config default|seed_baseline] [--epochs N]
                    [--limit N] [--seed S] [--resume] [--set key=value ...]
                    [--input auto|memory|stream|tfrecord] [--distribute auto|one|mirrored|
                    multiworker] [--checkpoint-steps N] [--cpu-devices N] [--mixed-precision]
    (--data is a Kaggle-style folder or a CSV of path,label[,patient]; docs/training.md)
    pneumonia-train evaluate RUN_DIR [--split val|test|train] [--data DIR]
    pneumonia-train evaluate RUN_DIR --external DIR [--usage untouched|selection|...]
    pneumonia-train ensemble --out RUN_DIR MEMBER_RUN MEMBER_RUN [...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from training.checkpoint import DEFAULT_CHECKPOINT_STEPS
from training.config import PRESETS, AugmentConfig, TrainConfig, get_preset
from training.distribute import DISTRIBUTE_MODES, chief_by_tf_config
from training.stream import INPUT_MODES

log = logging.getLogger("training")


def _setup_logging(verbose: bool = False) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    for noisy in ("absl", "tensorflow", "matplotlib", "PIL", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _coerce(current: Any, value: Any) -> Any:
    """``10`` for a float field becomes ``10.0``, so the config digest does not depend on how
    a number was typed."""
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def apply_sets(cfg: TrainConfig, sets: list[str]) -> TrainConfig:
    """``--set key=value`` overrides; ``augmentation.zoom=0.1`` reaches the nested config."""
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, received {item!r}")
        value = _parse_value(raw)
        if key.startswith("augmentation."):
            sub = key.split(".", 1)[1]
            current = asdict(cfg.augmentation)
            if sub not in current:
                raise ValueError(f"unknown augmentation setting {sub!r}")
            cfg = replace(cfg, augmentation=replace(cfg.augmentation,
                                                    **{sub: _coerce(current[sub], value)}))
        elif key in asdict(cfg):
            cfg = replace(cfg, **{key: _coerce(getattr(cfg, key), value)})
        else:
            raise ValueError(f"unknown config key {key!r}")
    if not isinstance(cfg.augmentation, AugmentConfig):
        raise ValueError("augmentation must be set field by field (augmentation.NAME=value)")
    return cfg


def _cache_dir(args: argparse.Namespace) -> Path | None:
    from training.data import default_cache_dir

    if args.no_cache:
        return None
    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pneumonia-train", description=(
        "Train and evaluate a pneumonia classifier on a Kermany-style folder. "
        "Use 'pneumonia-train evaluate RUN_DIR' to report on a split of an existing run."))
    p.add_argument("--data", required=True, help="folder with train/{NORMAL,PNEUMONIA}/, or a "
                   ".csv of path,label[,patient] (docs/training.md)")
    p.add_argument("--out", required=True, help="run folder to create (or resume)")
    p.add_argument("--config", default="default", choices=sorted(PRESETS))
    p.add_argument("--epochs", type=int)
    p.add_argument("--limit", type=int, help="use at most N images of train/ (stratified)")
    p.add_argument("--seed", type=int, help="seed of everything, the data split included")
    p.add_argument("--init-seed", type=int, metavar="SEED",
                   help="another seed for the weights, augmentation and epoch order while the "
                        "data split keeps the configuration's: members that can be ensembled")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set width=16 --set augmentation.zoom=0.1")
    p.add_argument("--cache-dir", help="decoded-image cache (default ~/.cache/pneumonia-xray/images)")
    p.add_argument("--no-cache", action="store_true")
    scale = p.add_argument_group("training at scale (docs/training.md)")
    scale.add_argument("--input", default="auto", choices=INPUT_MODES,
                       help="memory: decoded films in memory; stream: decoded as read; tfrecord: "
                            "sharded on-disk cache; auto: memory up to 2 GiB, else tfrecord")
    scale.add_argument("--distribute", default="auto", choices=DISTRIBUTE_MODES,
                       help="one device, mirrored (this machine's GPUs), multiworker (TF_CONFIG); "
                            "auto picks multiworker with TF_CONFIG, mirrored with 2+ GPUs")
    scale.add_argument("--cpu-devices", type=int, metavar="N",
                       help="split the CPU into N logical devices (tests mirrored without GPUs)")
    scale.add_argument("--checkpoint-steps", type=int, default=DEFAULT_CHECKPOINT_STEPS,
                       metavar="N", help="also checkpoint every N batches, for --resume after a "
                                         "kill (0: epoch ends only)")
    scale.add_argument("--mixed-precision", action="store_true",
                       help="float16 compute (GPUs with tensor cores)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pneumonia-train evaluate",
                                description="Write report(_SPLIT).json/.md and plots for a run.")
    p.add_argument("run_dir")
    p.add_argument("--split", default="val", choices=("val", "test", "train"))
    p.add_argument("--data", help="data root, when it moved since training")
    p.add_argument("--external", metavar="DIR",
                   help="report on any labelled folder with NORMAL/ and PNEUMONIA/ (e.g. "
                        "test_public) next to the validation split, with 95%% intervals")
    p.add_argument("--name", help="name of the external set in the report (default: folder name)")
    p.add_argument("--usage", default="untouched",
                   choices=("untouched", "selection", "threshold", "calibration"),
                   help="how the external set was used, stated in the report")
    p.add_argument("--cache-dir")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _ensemble_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pneumonia-train ensemble", description=(
        "Combine finished xraynet runs (same validation split) into one model whose logit and "
        "CAM are the members' means; writes, calibrates and evaluates a run folder."))
    p.add_argument("members", nargs="+", metavar="MEMBER_RUN")
    p.add_argument("--out", required=True, help="ensemble run folder to create")
    p.add_argument("--cache-dir")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run_ensemble(args: argparse.Namespace) -> int:
    from training.ensemble import make_ensemble
    from training.train import seed_everything

    seed_everything(0)
    make_ensemble([Path(m) for m in args.members], Path(args.out), _cache_dir(args))
    return 0


def run_training(args: argparse.Namespace) -> int:
    from training.evaluate import calibrate, evaluate
    from training.run import load_run
    from training.train import train

    cfg = get_preset(args.config).with_overrides(epochs=args.epochs, limit=args.limit, seed=args.seed)
    cfg = apply_sets(cfg, args.set)
    if args.init_seed is not None:
        cfg = cfg.with_overrides(split_seed=cfg.data_seed, seed=args.init_seed)
    if args.cpu_devices:
        from training.distribute import configure_cpu_devices

        configure_cpu_devices(args.cpu_devices)
    t0 = time.perf_counter()
    run_dir = train(cfg, Path(args.data), Path(args.out), resume=args.resume,
                    cache_dir=_cache_dir(args), input_mode=args.input,
                    distribute=args.distribute, checkpoint_steps=args.checkpoint_steps,
                    mixed_precision=args.mixed_precision)
    t_train = time.perf_counter() - t0
    if args.distribute in ("auto", "multiworker") and not chief_by_tf_config():
        log.info("worker done in %.0f s (the chief writes and evaluates the run folder)", t_train)
        return 0
    run = load_run(run_dir)
    calibrate(run, _cache_dir(args))
    report = evaluate(run, "val", _cache_dir(args))
    total = time.perf_counter() - t0
    log.info("done in %.0f s (training %.0f s): val ROC AUC %.4f, sensitivity %.4f, specificity "
             "%.4f, ECE %.4f; run folder %s", total, t_train, report["roc_auc"] or float("nan"),
             report["sensitivity"], report["specificity"], report["ece"], run_dir)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate, evaluate_external
    from training.run import load_run

    run = load_run(args.run_dir, args.data)
    if args.external:
        evaluate_external(run, Path(args.external), args.name, args.usage, _cache_dir(args))
    else:
        evaluate(run, args.split, _cache_dir(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = argv[0] if argv and argv[0] in ("evaluate", "ensemble") else "train"
    if mode == "evaluate":
        args, action = _eval_parser().parse_args(argv[1:]), run_evaluate
    elif mode == "ensemble":
        args, action = _ensemble_parser().parse_args(argv[1:]), run_ensemble
    else:
        args, action = _train_parser().parse_args(argv), run_training
    _setup_logging(args.verbose)
    from training.run import RunError

    try:
        return action(args)
    except (FileNotFoundError, FileExistsError, ValueError, RunError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
