"""Checkpoints a killed run resumes from, at epoch ends and every N steps within an epoch.

A checkpoint is a ``.keras`` file (weights and optimizer state) plus ``state.json``, which
names the file and says where the run stands: epochs finished, batches done in the current
epoch, the loss so far in it, and the state of every random stream (augmentation, dropout;
Keras does not save those), so the rest of the epoch draws what an uninterrupted run draws.
Each file is written under a temporary name and renamed when complete, and the state is
rewritten only after the file it names is complete: a kill at any moment leaves a consistent
checkpoint behind. Only the chief writes (several workers share one run folder).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from training import run as R

log = logging.getLogger(__name__)

#: Default steps between mid-epoch checkpoints (about 3 minutes of the shipped recipe on 2 CPU
#: cores; a GPU does it in seconds). 0 = only at epoch ends.
DEFAULT_CHECKPOINT_STEPS = 50
PARTIAL_PREFIX = "partial-"


def seed_generators(model: Any) -> list[Any]:
    """Every Keras ``SeedGenerator`` of the model, in a fixed order."""
    from keras.src.random.seed_generator import SeedGenerator

    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for value in vars(layer).values():
            if isinstance(value, SeedGenerator):
                found.append(value)
    return found


def random_state(model: Any) -> list[list[int]]:
    return [[int(v) for v in g.state.numpy()] for g in seed_generators(model)]


def restore_random_state(model: Any, states: list[list[int]]) -> None:
    gens = seed_generators(model)
    if len(gens) != len(states):
        raise R.RunError(f"checkpoint holds {len(states)} random streams, the model {len(gens)}")
    for g, st in zip(gens, states, strict=True):
        g.state.assign(np.array(st, dtype=g.state.numpy().dtype))


def save_atomic(model: Any, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    path = run_dir / R.STATE_FILE
    tmp = path.with_suffix(".tmp")
    R.write_json(tmp, state)
    os.replace(tmp, path)


def remove_partials(run_dir: Path, keep: str | None = None) -> None:
    for p in run_dir.glob(PARTIAL_PREFIX + "*.keras"):
        if p.name != keep:
            p.unlink(missing_ok=True)


def step_callback(run_dir: Path, every: int, epoch: int, skipped: int, films_per_batch: int,
                  carried: dict[str, float], base_state: dict[str, Any], model_ref: Any,
                  total_steps: int, write: bool) -> Any:
    """A Keras callback that checkpoints every ``every`` batches of epoch ``epoch`` (0-based);
    ``skipped`` batches were done before this ``fit`` (a resumed epoch), ``carried`` holds their
    loss sum and film count."""
    import keras

    class StepCheckpoint(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            done = skipped + batch + 1
            if not write or every <= 0 or done % every or done >= total_steps:
                return
            films_now = (batch + 1) * films_per_batch
            loss_sum = carried["loss_sum"] + float((logs or {}).get("loss", np.nan)) * films_now
            name = f"{PARTIAL_PREFIX}e{epoch + 1}-s{done}.keras"
            save_atomic(model_ref, run_dir / name)
            write_state(run_dir, {**base_state, "step": done, "checkpoint": name,
                                  "loss_sum": loss_sum, "films": carried["films"] + films_now,
                                  "random_state": random_state(model_ref)})
            remove_partials(run_dir, keep=name)
            log.info("epoch %d: checkpoint after batch %d/%d", epoch + 1, done, total_steps)

    return StepCheckpoint()
