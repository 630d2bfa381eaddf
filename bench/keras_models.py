"""The float Keras baseline: the same network as the shipped ``.tflite``, run by TensorFlow.

Where it comes from, best first: a training run folder (``--run-dir``, its ``model.keras``),
the default architecture from ``training.model`` with random weights (same FLOPs), or a
stand-in CNN rebuilt layer by layer from the shipped ``.tflite``'s convolution and pooling
ops (same shapes, same FLOPs, random weights).

This module imports TensorFlow; the app and the core never do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class FloatModel:
    model: Any  # keras.Model
    source: str  # human-readable origin
    kind: str  # "run-dir" | "training.model" | "stand-in"
    kernel_weights: int = 0  # conv/dense kernel weights of the Keras model
    tflite_kernel_weights: int = 0  # the same count in the shipped .tflite
    note: str = ""

    @property
    def same_network(self) -> bool:
        return self.kernel_weights == self.tflite_kernel_weights


def quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tflite_layer_plan(tflite_path: Path) -> list[tuple[str, int, int, int]]:
    """(op, filters, kernel, stride) for each conv/pool op of a ``.tflite``, in graph order.

    Only the ops a plain CNN backbone is made of are read; the plan is used to rebuild a float
    stand-in of the same shape when no Keras model is available."""
    from pneumonia_core.runtime import interpreter_class

    interp = interpreter_class()(model_path=os.fspath(tflite_path))
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    plan = []
    for op in interp._get_ops_details():
        name = op["op_name"]
        ins = [tensors[i]["shape"] for i in op["inputs"] if i >= 0]
        outs = [tensors[i]["shape"] for i in op["outputs"]]
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D") and ins:
            stride = max(1, int(round(ins[0][1] / max(1, outs[0][1]))))
            if name == "CONV_2D":
                plan.append(("conv", int(ins[1][0]), int(ins[1][1]), stride))
            elif name == "DEPTHWISE_CONV_2D":
                plan.append(("dwconv", int(outs[0][3]), int(ins[1][1]), stride))
            else:
                plan.append(("maxpool" if name == "MAX_POOL_2D" else "avgpool", 0, stride, stride))
    return plan


def tflite_kernel_weights(tflite_path: Path) -> int:
    """Number of convolution / dense kernel weights in a ``.tflite`` (biases and folded
    BatchNorm excluded): an architecture signature comparable with :func:`keras_kernel_weights`."""
    from pneumonia_core.runtime import interpreter_class

    interp = interpreter_class()(model_path=os.fspath(tflite_path))
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    total = 0
    for op in interp._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            ins = [i for i in op["inputs"] if i >= 0]
            if len(ins) >= 2:
                total += int(np.prod(tensors[ins[1]]["shape"]))
    return total


def keras_kernel_weights(model: Any) -> int:
    """Number of kernel weights (conv, depthwise, pointwise, dense) in a Keras model."""
    total = 0
    for w in model.weights:
        name = w.path if hasattr(w, "path") else w.name
        if name.rsplit("/", 1)[-1].split(":")[0] in ("kernel", "depthwise_kernel",
                                                     "pointwise_kernel"):
            total += int(np.prod(w.shape))
    return total


def build_stand_in(tflite_path: Path, size: int) -> Any:
    """A float Keras CNN with the shipped ``.tflite``'s layer shapes (random weights)."""
    quiet_tf()
    import keras

    plan = tflite_layer_plan(tflite_path)
    if not plan:
        raise ValueError(f"no conv/pool ops found in {tflite_path}")
    inp = keras.Input((size, size, 1), name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inp)
    last_conv = max(i for i, p in enumerate(plan) if p[0] == "conv")
    for i, (op, filters, kernel, stride) in enumerate(plan):
        if op == "conv" and i == last_conv and kernel == 1 and filters == 1:
            x = keras.layers.Conv2D(1, 1, name="cam_head")(x)
        elif op == "conv":
            x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                    activation="relu")(x)
        elif op == "dwconv":
            x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                                             activation="relu")(x)
        elif op == "maxpool":
            x = keras.layers.MaxPooling2D(kernel, strides=stride, padding="same")(x)
        else:
            x = keras.layers.AveragePooling2D(kernel, strides=stride, padding="same")(x)
    out = keras.layers.GlobalAveragePooling2D(name="logit")(x)
    return keras.Model(inp, out, name="tflite_stand_in")


def _from_training(tflite_path: Path | None = None, target: int = 0) -> Any | None:
    """The shipped architecture from ``training.model`` (random weights): the training config
    recorded in the model folder's metadata.json (an ensemble as that many copies of its
    member architecture, counted by the kernel weights ``target``), else the default preset."""
    try:
        from dataclasses import replace

        from training.config import TrainConfig, get_preset
        from training.ensemble import ARCHITECTURE, build_ensemble
        from training.model import build_model
    except ImportError:
        return None
    config = None
    meta_path = tflite_path.parent / "metadata.json" if tflite_path is not None else None
    if meta_path is not None and meta_path.is_file():
        import json

        recorded = json.loads(meta_path.read_text()).get("training", {}).get("config")
        if isinstance(recorded, dict):
            try:
                config = TrainConfig.from_dict(recorded)
            except (TypeError, ValueError) as exc:
                log.warning("metadata's training config is not a TrainConfig (%s)", exc)
    if config is None:
        return build_model(get_preset("default"))
    if config.architecture != ARCHITECTURE:
        return build_model(config)
    member = replace(config, architecture="xraynet")
    for n in range(2, 7):
        m = build_ensemble([build_model(member) for _ in range(n)])
        if keras_kernel_weights(m) == target:
            return m
    return m


def load_float_model(run_dir: Path | None, tflite_path: Path, size: int) -> FloatModel:
    """The best available float Keras model of the shipped network (see module doc)."""
    quiet_tf()
    import keras

    target = tflite_kernel_weights(tflite_path)
    if run_dir is not None:
        path = Path(run_dir) / "model.keras"
        if not path.is_file():
            raise FileNotFoundError(f"--run-dir {run_dir} holds no model.keras")
        try:  # registers the training module's custom layers (e.g. its shear augmentation)
            from training.model import load_keras_model

            m = load_keras_model(path, compile=False)
        except ImportError:
            m = keras.models.load_model(path, compile=False)
        fm = FloatModel(m, f"{path}", "run-dir", keras_kernel_weights(m), target)
        if not fm.same_network:
            fm.note = (f"WARNING: {path} has {fm.kernel_weights} kernel weights, the shipped "
                       f".tflite {target}: they are not the same network")
            log.warning(fm.note)
        return fm
    note = ""
    try:
        m = _from_training(tflite_path, target)
    except Exception as exc:  # a half-written training module must not stop the bench
        log.warning("training.model could not build the default model (%s)", exc)
        m = None
    if m is not None:
        fm = FloatModel(m, "training.model, the shipped architecture, random weights",
                        "training.model", keras_kernel_weights(m), target)
        if fm.same_network:
            return fm
        note = (f"training.model's default architecture ({fm.kernel_weights} kernel weights) is "
                f"not the shipped .tflite's ({target}); ")
    m = build_stand_in(tflite_path, size)
    return FloatModel(m, f"stand-in rebuilt from {tflite_path.name} layer shapes, random weights",
                      "stand-in", keras_kernel_weights(m), target,
                      note + "float baseline rebuilt from the shipped .tflite's layer shapes")


def logit_output(model: Any, outputs: Any) -> np.ndarray:
    """The logit column from whatever the Keras model returns (tensor, list or dict)."""
    if isinstance(outputs, dict):
        outputs = outputs.get("logit", next(iter(outputs.values())))
    elif isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return np.asarray(outputs).reshape(len(np.asarray(outputs)), -1)[:, 0]


def compiled_call(model: Any, size: int) -> Callable[[np.ndarray], Any]:
    """``model(x, training=False)`` inside a ``tf.function`` with a fixed input signature."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                     input_signature=[tf.TensorSpec((1, size, size, 1), tf.float32)])

    def call(x: np.ndarray) -> Any:
        out = fn(tf.constant(x))
        if isinstance(out, dict):
            return {k: v.numpy() for k, v in out.items()}
        if isinstance(out, (list, tuple)):
            return [v.numpy() for v in out]
        return out.numpy()

    return call
