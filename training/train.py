"""The training loop: seeded data split, class weights, validation ROC AUC selection, resume.

Determinism: :func:`seed_everything` sets Python/numpy/TF seeds and enables TensorFlow op
determinism; the epoch order comes from ``numpy.random.default_rng(seed, epoch)`` and every
augmentation layer carries its own seed, so two runs with the same config give identical
weights on CPU.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.metrics import roc_auc
from training import data as D
from training import run as R
from training.config import TrainConfig, save_config

log = logging.getLogger(__name__)

HISTORY_FIELDS = ("epoch", "loss", "val_loss", "val_roc_auc", "lr", "seconds")


def seed_everything(seed: int) -> None:
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def reseed_random_layers(model: Any, epoch: int) -> int:
    """Set every layer's random stream (augmentation, dropout) to a state derived from its own
    seed and the epoch, so a resumed run draws exactly what an uninterrupted one would."""
    from keras.src.random.seed_generator import SeedGenerator

    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator):
                state = value.state.numpy()
                value.state.assign(np.array([state[0], epoch * 1_000_003], dtype=state.dtype))
                count += 1
    return count


@dataclass
class Prepared:
    data_root: Path
    train: list[D.Sample]
    val: list[D.Sample]
    fingerprint: str


def prepare_split(data_root: Path, cfg: TrainConfig) -> Prepared:
    """Scan train/, apply ``limit`` (stratified, whole groups), carve the grouped val split."""
    data_root = Path(data_root).resolve()
    samples = D.scan_split(data_root, "train")
    fp = D.fingerprint(samples)
    hashes = [D.file_sha256(s.path) for s in samples]
    if cfg.limit is not None and cfg.limit < len(samples):
        groups = D.group_ids(samples, hashes)
        keep = D.stratified_limit(samples, cfg.limit, cfg.data_seed, groups)
        kept = {s.rel for s in keep}
        hashes = [h for s, h in zip(samples, hashes, strict=True) if s.rel in kept]
        samples = keep
    train, val = D.grouped_split(samples, cfg.val_fraction, cfg.data_seed, hashes)
    log.info("data: %d train (%d pneumonia), %d val (%d pneumonia), fingerprint %s",
             len(train), sum(s.label for s in train), len(val), sum(s.label for s in val), fp[:12])
    return Prepared(data_root, train, val, fp)


def write_split(path: Path, prep: Prepared, cfg: TrainConfig) -> None:
    R.write_json(path, {
        "data_root": str(prep.data_root),
        "seed": cfg.data_seed,
        "val_fraction": cfg.val_fraction,
        "limit": cfg.limit,
        "train": [{"path": s.rel, "label": s.label} for s in prep.train],
        "val": [{"path": s.rel, "label": s.label} for s in prep.val],
    })


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """``balanced``: n / (2 * n_class), so both classes weigh the same in the loss."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown class_weighting {mode!r}; use 'balanced' or 'none'")
    n = len(labels)
    counts = np.bincount(labels.astype(int), minlength=2)
    return {c: float(n / (2 * max(counts[c], 1))) for c in (0, 1)}


def sample_weights(labels: np.ndarray, weights: dict[int, float] | None) -> np.ndarray:
    """Per-film loss weights from :func:`class_weights` (all 1 without them)."""
    y = np.asarray(labels).astype(int)
    if weights is None:
        return np.ones(len(y), dtype=np.float32)
    return np.array([weights[0], weights[1]], dtype=np.float32)[y]


def mixup(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend each film with a random partner (Zhang et al. 2018, mixup): with ``lam`` drawn
    from Beta(alpha, alpha) per film, pixels, label and loss weight all become
    ``lam * own + (1 - lam) * partner's``. Returns float32 copies; the inputs are not changed."""
    if alpha <= 0:
        raise ValueError(f"mixup needs alpha > 0, got {alpha}")
    n = len(y)
    partner = rng.permutation(n)
    lam = rng.beta(alpha, alpha, n).astype(np.float32)
    lx = lam.reshape((n,) + (1,) * (x.ndim - 1))
    xm = lx * x.astype(np.float32) + (1.0 - lx) * x[partner].astype(np.float32)
    ym = lam * y.astype(np.float32) + (1.0 - lam) * y[partner].astype(np.float32)
    wm = lam * w.astype(np.float32) + (1.0 - lam) * w[partner].astype(np.float32)
    return xm, ym, wm


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate for a 0-based epoch: constant, or cosine from lr to lr/50 over the epochs."""
    if cfg.lr_schedule == "constant" or cfg.epochs <= 1:
        return cfg.learning_rate
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}")
    floor = cfg.learning_rate / 50
    return floor + 0.5 * (cfg.learning_rate - floor) * (1 + math.cos(math.pi * epoch / (cfg.epochs - 1)))


def bce(labels: np.ndarray, logits: np.ndarray) -> float:
    z = np.asarray(logits, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def predict_logits(model: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64).ravel()


def load_split_arrays(samples: Sequence[D.Sample], size: int, cache_dir: Path | None,
                      what: str) -> np.ndarray:
    def progress(done: int, total: int) -> None:
        log.info("decoding %s images: %d/%d", what, done, total)

    arr = D.load_arrays([s.path for s in samples], size, cache_dir, progress)
    return arr[..., None]


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HISTORY_FIELDS)
        w.writeheader()
        for row in rows:
            w.writerow({k: row[k] for k in HISTORY_FIELDS})


def read_history(path: Path) -> list[dict[str, float]]:
    if not Path(path).is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items()}
                for row in csv.DictReader(fh)]


def train(cfg: TrainConfig, data_root: Path, run_dir: Path, resume: bool = False,
          cache_dir: Path | None = None) -> Path:
    """Train into ``run_dir`` (model.keras = best val ROC AUC, history.csv, split.json, ...)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / R.STATE_FILE
    if resume and state_path.is_file():
        from training.config import load_config

        saved_cfg, _ = load_config(run_dir / R.CONFIG_FILE)
        resumed = replace(saved_cfg, epochs=cfg.epochs)  # only the epoch budget may change
        if resumed != cfg:
            log.warning("--resume: using the run's saved config (digest %s), epochs %d",
                        saved_cfg.digest(), cfg.epochs)
        cfg = resumed
    elif any(run_dir.glob("*.keras")):
        raise FileExistsError(f"{run_dir} already holds a run; use --resume or another --out")

    seed_everything(cfg.seed)
    import keras

    from training.model import build_model, compile_model

    prep = prepare_split(data_root, cfg)
    save_config(run_dir / R.CONFIG_FILE, cfg, prep.fingerprint, str(prep.data_root))
    write_split(run_dir / R.SPLIT_FILE, prep, cfg)
    x_train = load_split_arrays(prep.train, cfg.image_size, cache_dir, "train")
    y_train = np.array([s.label for s in prep.train], dtype=np.float32)
    x_val = load_split_arrays(prep.val, cfg.image_size, cache_dir, "val")
    y_val = np.array([s.label for s in prep.val], dtype=np.float32)
    weights = class_weights(y_train, cfg.class_weighting)

    rows: list[dict[str, Any]] = []
    best_auc, best_epoch, start = -math.inf, -1, 0
    if resume and state_path.is_file():
        state = R.read_json(state_path)
        model = keras.saving.load_model(run_dir / R.LAST_FILE, compile=True)
        rows = [r for r in read_history(run_dir / R.HISTORY_FILE) if r["epoch"] <= state["epoch"]]
        best_auc, best_epoch, start = state["best_auc"], state["best_epoch"], state["epoch"]
        log.info("resuming after epoch %d (best val ROC AUC %.4f at epoch %d)",
                 start, best_auc, best_epoch)
    else:
        model = build_model(cfg)
        compile_model(model, cfg)

    log.info("training %s (%s, %d params) for up to %d epochs, batch %d, class weights %s",
             cfg.name, cfg.architecture, model.count_params(), cfg.epochs, cfg.batch_size, weights)
    for epoch in range(start, cfg.epochs):
        if best_epoch >= 0 and epoch - best_epoch > cfg.early_stopping_patience:
            log.info("early stopping: no val ROC AUC gain for %d epochs", cfg.early_stopping_patience)
            break
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        model.optimizer.learning_rate.assign(lr)
        reseed_random_layers(model, epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(y_train))
        if cfg.mixup_alpha > 0:
            # soft labels: the class weights travel as per-film weights, blended like the labels
            xm, ym, wm = mixup(x_train[order], y_train[order],
                               sample_weights(y_train[order], weights), cfg.mixup_alpha,
                               np.random.default_rng([cfg.seed, epoch, 1]))
            hist = model.fit(xm, ym, sample_weight=wm, batch_size=cfg.batch_size, epochs=1,
                             shuffle=False, verbose=0)
            del xm, ym, wm
        else:
            hist = model.fit(x_train[order], y_train[order], batch_size=cfg.batch_size, epochs=1,
                             shuffle=False, class_weight=weights, verbose=0)
        logits = predict_logits(model, x_val)
        auc = roc_auc(y_val, logits)
        row = {"epoch": epoch + 1, "loss": float(hist.history["loss"][-1]),
               "val_loss": bce(y_val, logits), "val_roc_auc": auc, "lr": lr,
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        score = auc if np.isfinite(auc) else -1.0  # one-class val (tiny runs): keep epoch 1
        improved = score > best_auc
        if improved:
            best_auc, best_epoch = score, epoch + 1
            model.save(run_dir / R.MODEL_FILE)
            np.save(run_dir / R.VAL_LOGITS_FILE, logits)
        model.save(run_dir / R.LAST_FILE)
        _write_history(run_dir / R.HISTORY_FILE, rows)
        R.write_json(state_path, {"epoch": epoch + 1, "best_auc": best_auc, "best_epoch": best_epoch})
        log.info("epoch %d/%d  loss %.4f  val_loss %.4f  val_roc_auc %.4f%s  lr %.2e  %.1f s",
                 epoch + 1, cfg.epochs, row["loss"], row["val_loss"], auc,
                 " *" if improved else "", lr, row["seconds"])
    log.info("best val ROC AUC %.4f at epoch %d", best_auc, best_epoch)
    return run_dir
