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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.metrics import roc_auc
from training import checkpoint as CK
from training import data as D
from training import run as R
from training.config import TrainConfig, save_config
from training.sources import read_source

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
    count = 0
    for gen in CK.seed_generators(model):
        state = gen.state.numpy()
        gen.state.assign(np.array([state[0], epoch * 1_000_003], dtype=state.dtype))
        count += 1
    return count


@dataclass
class Prepared:
    data_root: Path
    train: list[D.Sample]
    val: list[D.Sample]
    fingerprint: str


def prepare_split(data_root: Path, cfg: TrainConfig) -> Prepared:
    """Read the source (a Kaggle folder's train/ or a CSV, :mod:`training.sources`), apply
    ``limit`` (stratified, whole groups), carve the grouped val split."""
    data_root, samples = read_source(data_root)
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


def mixup_draws(n: int, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup's draws for ``n`` films: the partner of each position, then ``lam`` per film."""
    if alpha <= 0:
        raise ValueError(f"mixup needs alpha > 0, got {alpha}")
    partner = rng.permutation(n)
    return partner, rng.beta(alpha, alpha, n).astype(np.float32)


def mixup(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend each film with a random partner (Zhang et al. 2018, mixup): with ``lam`` drawn
    from Beta(alpha, alpha) per film, pixels, label and loss weight all become
    ``lam * own + (1 - lam) * partner's``. Returns float32 copies; the inputs are not changed."""
    n = len(y)
    partner, lam = mixup_draws(n, alpha, rng)
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


def _feeds(prep: Prepared, cfg: TrainConfig, mode: str, cache_dir: Path | None
           ) -> tuple[Any, Any]:
    """(train source, val source) for ``mode``: :class:`training.stream.Films` for memory and
    stream, shard lists for tfrecord."""
    from training import stream as S

    size = cfg.image_size
    if mode == "memory":
        return tuple(S.Films([s.path for s in part], size,
                             load_split_arrays(part, size, cache_dir, what))
                     for part, what in ((prep.train, "train"), (prep.val, "val")))
    if mode == "stream":
        return S.Films([s.path for s in prep.train], size), S.Films([s.path for s in prep.val], size)
    if cfg.mixup_alpha > 0:
        raise ValueError("mixup blends films from anywhere in the epoch: use --input memory or "
                         "stream with it, not tfrecord")
    cache = Path(cache_dir) if cache_dir is not None else D.default_cache_dir()

    def shards(part: list[D.Sample], what: str) -> list[Path]:
        def progress(done: int, total: int) -> None:
            log.info("caching %s films as TFRecord: %d/%d", what, done, total)

        return S.tfrecord_cache([s.path for s in part], size, cache, progress=progress)

    return shards(prep.train, "train"), shards(prep.val, "val")


def _split_feeds(cfg: TrainConfig, data_root: Path, run_dir: Path, chief: bool,
                 input_mode: str, cache_dir: Path | None) -> tuple[str, tuple[Any, np.ndarray],
                                                                   tuple[Any, np.ndarray]]:
    """(the input mode, (train feed, labels), (val feed, labels)) of the run's split; the chief
    records the config and the split in the run folder."""
    from training import stream as S

    prep = prepare_split(data_root, cfg)
    if chief:
        save_config(run_dir / R.CONFIG_FILE, cfg, prep.fingerprint, str(prep.data_root))
        write_split(run_dir / R.SPLIT_FILE, prep, cfg)
    mode = S.resolve_mode(input_mode, len(prep.train) + len(prep.val), cfg.image_size)
    log.info("input: %s (%d train + %d val films)", mode, len(prep.train), len(prep.val))
    train_src, val_src = _feeds(prep, cfg, mode, cache_dir)
    y_train = np.array([s.label for s in prep.train], dtype=np.float32)
    y_val = np.array([s.label for s in prep.val], dtype=np.float32)
    return mode, (train_src, y_train), (val_src, y_val)


def _run_config(cfg: TrainConfig, run_dir: Path, resume: bool) -> tuple[TrainConfig, bool]:
    """(the config to train with, whether a killed run is resumed): on ``resume`` with a saved
    state, the run's saved config with only the epoch budget from ``cfg``. A folder that
    already holds a run is refused without ``resume``."""
    resuming = resume and (run_dir / R.STATE_FILE).is_file()
    if resuming:
        from training.config import load_config

        saved_cfg, _ = load_config(run_dir / R.CONFIG_FILE)
        resumed = replace(saved_cfg, epochs=cfg.epochs)  # only the epoch budget may change
        if resumed != cfg:
            log.warning("--resume: using the run's saved config (digest %s), epochs %d",
                        saved_cfg.digest(), cfg.epochs)
        return resumed, True
    if any(run_dir.glob("*.keras")):
        raise FileExistsError(f"{run_dir} already holds a run; use --resume or another --out")
    return cfg, False


@dataclass
class _Progress:
    """Where training stands: the history rows, the best epoch so far, the next epoch
    (``start``), and the batches of it already trained (``skip``, with their summed loss)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    best_auc: float = -math.inf
    best_epoch: int = -1
    start: int = 0
    skip: int = 0
    carried: dict[str, float] = field(default_factory=lambda: {"loss_sum": 0.0, "films": 0.0})


def _compiled_model(cfg: TrainConfig) -> Any:
    """A new model of ``cfg``, compiled (inside the strategy's scope)."""
    from training.model import build_model, compile_model

    model = build_model(cfg)
    compile_model(model, cfg)
    return model


def _resumed_model(run_dir: Path, n_batches: int) -> tuple[Any, _Progress]:
    """The model of a killed run, from its last checkpoint (inside the strategy's scope), and
    where it stood."""
    import keras

    import training.model  # noqa: F401 - registers the custom layers that load_model rebuilds

    state = R.read_json(run_dir / R.STATE_FILE)
    model = keras.saving.load_model(run_dir / state.get("checkpoint", R.LAST_FILE), compile=True)
    past = _Progress(
        rows=[r for r in read_history(run_dir / R.HISTORY_FILE) if r["epoch"] <= state["epoch"]],
        best_auc=-math.inf if state["best_auc"] is None else state["best_auc"],  # killed in epoch 1
        best_epoch=state["best_epoch"], start=state["epoch"], skip=int(state.get("step", 0)))
    if past.skip:
        CK.restore_random_state(model, state["random_state"])
        past.carried = {"loss_sum": state["loss_sum"], "films": state["films"]}
    log.info("resuming after epoch %d%s (best val ROC AUC %.4f at epoch %d)", past.start,
             f", batch {past.skip}/{n_batches} of epoch {past.start + 1}" if past.skip else "",
             past.best_auc, past.best_epoch)
    return model, past


def _epoch_data(cfg: TrainConfig, mode: str, train_src: Any, y_train: np.ndarray,
                weights: dict[int, float] | None, epoch: int, skip: int) -> tuple[Any, Any]:
    """(the epoch's training dataset, the class weights ``fit`` applies, or None where they
    travel in the dataset as per-film weights: mixup's soft labels)."""
    from training import stream as S

    if mode == "tfrecord":
        return S.tfrecord_dataset(train_src, y_train, cfg.image_size, cfg.batch_size, cfg.seed,
                                  epoch, skip_batches=skip), weights
    order = np.random.default_rng([cfg.seed, epoch]).permutation(len(y_train))
    draws, class_weight = None, weights
    if cfg.mixup_alpha > 0:
        # soft labels: the class weights travel as per-film weights, blended like the labels
        partner, lam = mixup_draws(len(order), cfg.mixup_alpha,
                                   np.random.default_rng([cfg.seed, epoch, 1]))
        draws, class_weight = S.MixupDraws(partner, lam, sample_weights(y_train, weights)), None
    return S.epoch_dataset(train_src, y_train, order, cfg.batch_size, skip_batches=skip,
                           mixup=draws), class_weight


def _val_logits(model: Any, cfg: TrainConfig, mode: str, val_src: Any, y_val: np.ndarray,
                replicas: int) -> np.ndarray:
    """The model's logits on the validation films, in order."""
    from training import stream as S

    ds = (S.tfrecord_dataset(val_src, y_val, cfg.image_size, 64, cfg.seed, 0, shuffle=False)
          if mode == "tfrecord" else S.predict_dataset(val_src))
    if replicas == 1:
        return np.asarray(model.predict(ds, verbose=0), dtype=np.float64).ravel()
    # every replica holds the same weights: score the whole set here, in order
    parts = [model(b[0] if isinstance(b, tuple) else b, training=False) for b in ds]
    return np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in parts])


def _save_epoch(run_dir: Path, model: Any, rows: list[dict[str, Any]],
                best_logits: np.ndarray | None, best_auc: float, best_epoch: int) -> None:
    """The chief's files after an epoch: the best model and its val logits when this epoch
    improved (``best_logits``), the last checkpoint, the history and the state to resume."""
    if best_logits is not None:
        CK.save_atomic(model, run_dir / R.MODEL_FILE)
        np.save(run_dir / R.VAL_LOGITS_FILE, best_logits)
    CK.save_atomic(model, run_dir / R.LAST_FILE)
    _write_history(run_dir / R.HISTORY_FILE, rows)
    CK.write_state(run_dir, {"epoch": rows[-1]["epoch"], "best_auc": best_auc,
                             "best_epoch": best_epoch, "step": 0, "checkpoint": R.LAST_FILE})
    CK.remove_partials(run_dir)


def train(cfg: TrainConfig, data_root: Path, run_dir: Path, resume: bool = False,
          cache_dir: Path | None = None, *, input_mode: str = "auto", distribute: str = "one",
          checkpoint_steps: int = CK.DEFAULT_CHECKPOINT_STEPS, mixed_precision: bool = False,
          ) -> Path:
    """Train into ``run_dir`` (model.keras = best val ROC AUC, history.csv, split.json, ...).

    ``input_mode``: :data:`training.stream.INPUT_MODES`; ``distribute``:
    :data:`training.distribute.DISTRIBUTE_MODES`; a checkpoint every ``checkpoint_steps``
    batches (and at each epoch end) lets ``resume`` continue a killed run mid-epoch.
    """
    from training import distribute as DS
    from training import stream as S

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg, resuming = _run_config(cfg, run_dir, resume)

    seed_everything(cfg.seed)
    if mixed_precision:
        DS.use_mixed_precision()

    strategy = DS.make_strategy(distribute)
    replicas = strategy.num_replicas_in_sync
    chief = DS.is_chief(strategy)
    multiworker = DS.resolve_mode(distribute) == "multiworker"
    if multiworker:
        DS.fix_keras_multiworker_logs()
    mode, (train_src, y_train), (val_src, y_val) = _split_feeds(
        cfg, data_root, run_dir, chief, input_mode, cache_dir)
    weights = class_weights(y_train, cfg.class_weighting)
    n_batches = -(-len(y_train) // cfg.batch_size)

    with strategy.scope():
        model, past = (_resumed_model(run_dir, n_batches) if resuming
                       else (_compiled_model(cfg), _Progress()))
        if replicas > 1:
            DS.synchronize_batchnorm(model)
    rows, best_auc, best_epoch, start = past.rows, past.best_auc, past.best_epoch, past.start
    skip, carried = past.skip, past.carried

    log.info("training %s (%s, %d params) for up to %d epochs, batch %d, class weights %s, "
             "%d replica(s)", cfg.name, cfg.architecture, model.count_params(), cfg.epochs,
             cfg.batch_size, weights, replicas)
    for epoch in range(start, cfg.epochs):
        if best_epoch >= 0 and epoch - best_epoch > cfg.early_stopping_patience:
            log.info("early stopping: no val ROC AUC gain for %d epochs", cfg.early_stopping_patience)
            break
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        model.optimizer.learning_rate.assign(lr)
        if not skip:  # a resumed epoch continues the random streams it saved
            reseed_random_layers(model, epoch)
        base_state = {"epoch": epoch, "best_auc": best_auc if best_epoch >= 0 else None,
                      "best_epoch": best_epoch}
        callback = CK.step_callback(run_dir, checkpoint_steps, epoch, skip, cfg.batch_size,
                                    carried, base_state, model, n_batches, chief)
        ds, class_weight = _epoch_data(cfg, mode, train_src, y_train, weights, epoch, skip)
        if replicas > 1:
            ds = S.as_float(ds)
        if multiworker:
            DS.build_from_local_batch(model, next(iter(ds.take(1))))
        hist = model.fit(ds, epochs=1, verbose=0, shuffle=False, callbacks=[callback],
                         **({} if class_weight is None else {"class_weight": class_weight}))
        films_now = len(y_train) - skip * cfg.batch_size
        loss = ((carried["loss_sum"] + float(hist.history["loss"][-1]) * films_now)
                / (carried["films"] + films_now))
        skip, carried = 0, {"loss_sum": 0.0, "films": 0.0}
        logits = _val_logits(model, cfg, mode, val_src, y_val, replicas)
        auc = roc_auc(y_val, logits)
        row = {"epoch": epoch + 1, "loss": loss, "val_loss": bce(y_val, logits),
               "val_roc_auc": auc, "lr": lr, "seconds": time.perf_counter() - t0}
        rows.append(row)
        score = auc if np.isfinite(auc) else -1.0  # one-class val (tiny runs): keep epoch 1
        improved = score > best_auc
        if improved:
            best_auc, best_epoch = score, epoch + 1
        if chief:
            _save_epoch(run_dir, model, rows, logits if improved else None, best_auc, best_epoch)
        log.info("epoch %d/%d  loss %.4f  val_loss %.4f  val_roc_auc %.4f%s  lr %.2e  %.1f s",
                 epoch + 1, cfg.epochs, row["loss"], row["val_loss"], auc,
                 " *" if improved else "", lr, row["seconds"])
    log.info("best val ROC AUC %.4f at epoch %d", best_auc, best_epoch)
    return run_dir
