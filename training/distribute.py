"""Where training runs: one device, several GPUs of one machine, or several machines.

One flag (``pneumonia-train --distribute``) picks the ``tf.distribute`` strategy:

- ``one``: the default device, exactly the single-device numerics (the shipped recipe).
- ``mirrored``: ``MirroredStrategy`` over every GPU of this machine (or, without GPUs, over
  the logical CPU devices made by ``--cpu-devices N``, which is how it is tested here).
- ``multiworker``: ``MultiWorkerMirroredStrategy`` across the machines named in ``TF_CONFIG``
  (every machine runs the same command with its own ``task``; the chief, ``chief`` or worker 0,
  writes the run folder).
- ``auto``: ``multiworker`` when ``TF_CONFIG`` is set, ``mirrored`` with several GPUs, else
  ``one``.

The batch size stays the global one (each of R replicas gets 1/R of every batch) and
BatchNorm statistics are all-reduced over the replicas (synchronized), so a step on R replicas
computes what one device computes up to the order of float additions.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

DISTRIBUTE_MODES = ("auto", "one", "mirrored", "multiworker")


def configure_cpu_devices(n: int) -> None:
    """Split the CPU into ``n`` logical devices (for testing several replicas without GPUs).
    Must run before TensorFlow touches a device."""
    import tensorflow as tf

    if n < 1:
        raise ValueError(f"--cpu-devices must be at least 1, received {n}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])


def resolve_mode(mode: str) -> str:
    if mode not in DISTRIBUTE_MODES:
        raise ValueError(f"unknown --distribute {mode!r}; choose one of {DISTRIBUTE_MODES}")
    if mode != "auto":
        return mode
    if os.environ.get("TF_CONFIG"):
        return "multiworker"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one"


def make_strategy(mode: str) -> Any:
    """The strategy for ``mode`` (see the module docstring)."""
    import tensorflow as tf

    mode = resolve_mode(mode)
    if mode == "one":
        return tf.distribute.get_strategy()
    if mode == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ValueError("--distribute multiworker needs TF_CONFIG (cluster and this task), "
                             "see docs/training.md")
        try:
            json.loads(config)
        except json.JSONDecodeError as exc:
            raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    log.info("distribution: %s, %d replicas", mode, strategy.num_replicas_in_sync)
    return strategy


def chief_by_tf_config() -> bool:
    """True unless ``TF_CONFIG`` names this task as one that is not the chief (the chief is the
    ``chief`` task, or worker 0 when the cluster has no ``chief``)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    config = json.loads(raw)
    task = config.get("task") or {}
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in config.get("cluster", {})


def is_chief(strategy: Any) -> bool:
    """True on the task that writes the run folder (always, outside multi-worker training)."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return chief_by_tf_config()
    return True


def synchronize_batchnorm(model: Any) -> int:
    """All-reduce BatchNorm statistics over the replicas (call only with several replicas: on
    one device the synchronized formula differs in rounding). Returns the layers changed."""
    import keras

    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
            count += 1
    return count


def use_mixed_precision() -> None:
    """Compute in float16 with float32 variables (``mixed_float16``): for GPUs with tensor
    cores; on a CPU it is slower. Keras computes the loss in float32. Not validated on a GPU
    here (docs/training.md)."""
    import keras
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        log.warning("--mixed-precision without a GPU: float16 is slower on a CPU")
    keras.mixed_precision.set_global_policy("mixed_float16")


def build_from_local_batch(model: Any, batch: Any) -> None:
    """Work around Keras 3.15 under ``MultiWorkerMirroredStrategy``: when ``fit`` starts it
    all-reduces a first distributed ``(x, y)`` batch to build the model, which that strategy
    refuses (a nested value to ``strategy.reduce``). Build from ``batch``, a local batch of the
    same shapes, instead; nothing else of ``fit`` changes."""
    original = model._maybe_symbolic_build

    def build(iterator: Any = None, data_batch: Any = None) -> Any:
        return original(data_batch=batch)

    model._maybe_symbolic_build = build


def fix_keras_multiworker_logs() -> None:
    """Work around Keras 3.15 under ``MultiWorkerMirroredStrategy``: it averages each step's
    logs (the scalar loss) with ``strategy.reduce("MEAN", v, axis=0)``, which fails on a
    scalar. Scalars are averaged over the replicas with ``axis=None``; every other case is
    Keras' own code. Idempotent."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as keras_trainer

    original = keras_trainer.reduce_per_replica
    if getattr(original, "pneumonia_fixed", False):
        return

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and keras_trainer._collective_all_reduce_multi_worker(
                strategy):
            def one(v: Any) -> Any:
                rank = getattr(getattr(v, "shape", None), "rank", None)
                if isinstance(v, (tf.Tensor, tf.distribute.DistributedValues)) and rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return original(v, strategy, reduction)

            return tf.nest.map_structure(one, values)
        return original(values, strategy, reduction)

    reduce_per_replica.pneumonia_fixed = True  # type: ignore[attr-defined]
    keras_trainer.reduce_per_replica = reduce_per_replica
