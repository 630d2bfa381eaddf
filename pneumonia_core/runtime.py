"""The one place the LiteRT interpreter is imported.

Both the converter's validation and the desktop app run ``.tflite`` models through
:class:`TFLiteRunner`, so what the converter proves is what the app runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

log = logging.getLogger(__name__)


#: The most memory a model's tensors may take together (the shipped model needs about 1.5 MB;
#: a corrupted shape can ask for tens of GB, which would be allocated before any check).
MAX_TENSOR_BYTES = 256 * 1024 * 1024
#: The largest .tflite file the app reads (the shipped model is about 120 KB).
MAX_MODEL_FILE_BYTES = 256 * 1024 * 1024


def check_tensor_memory(details: list[dict[str, Any]], limit: int = MAX_TENSOR_BYTES) -> int:
    """Bytes the model's tensors need, from the interpreter's tensor details (available before
    ``allocate_tensors``); ValueError when over ``limit`` or a shape is impossible."""
    total = 0
    for d in details:
        shape = [int(x) for x in d.get("shape", [])]
        if any(x < 0 for x in shape):
            raise ValueError(f"tensor {d.get('name')!r} has an impossible shape {shape}")
        n = 1
        for x in shape:
            n *= x
        total += n * np.dtype(d.get("dtype", np.float32)).itemsize
        if total > limit:
            raise ValueError(
                f"the model's tensors need more than {limit >> 20} MB (tensor {d.get('name')!r} "
                f"has shape {shape}); refusing to allocate a model this large")
    return total

#: What LiteRT's C++ runtime prints on the process's stderr for every interpreter it makes.
_RUNTIME_BANNER = re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\s*$")


def _capture_file() -> IO[bytes]:
    """An unnamed file that takes what is written to stderr meanwhile: a file in memory where
    the system has them (Linux: without importing tempfile, shutil and random, about 3 ms of
    every start of ``classify``, issue 22), else a temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return open(os.memfd_create("stderr", os.MFD_CLOEXEC), "w+b")
        except OSError:  # an old kernel without memfd_create
            pass
    import tempfile

    return tempfile.TemporaryFile()


@contextlib.contextmanager
def quiet_runtime_banner() -> Iterator[None]:
    """Keep LiteRT's per-interpreter INFO line off the terminal while models load; anything
    else written to stderr meanwhile (warnings, errors) is passed through afterwards."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a real file (tests, GUI)
        fd = -1
    if fd < 0:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with _capture_file() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            lines = tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(ln for ln in lines if not _RUNTIME_BANNER.match(ln))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def interpreter_class() -> Any:
    """The LiteRT interpreter class (imported on first use)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


class TFLiteRunner:
    """A LiteRT interpreter run through its signature (named outputs), batch of one.

    Not thread-safe: give each worker thread its own runner.
    """

    def __init__(self, model: str | os.PathLike[str] | bytes, num_threads: int = 1) -> None:
        interpreter_cls = interpreter_class()
        try:
            if isinstance(model, (bytes, bytearray)):
                self._interp = interpreter_cls(model_content=bytes(model), num_threads=num_threads)
            else:
                self._interp = interpreter_cls(model_path=os.fspath(model), num_threads=num_threads)
            check_tensor_memory(self._interp.get_tensor_details())
            self._interp.allocate_tensors()
            signatures = self._interp.get_signature_list()
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"LiteRT could not load the model: {exc}") from None
        if not signatures:
            raise ValueError("the model has no signature; convert it with pneumonia-convert")
        key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        self._runner = self._interp.get_signature_runner(key)
        inputs = self._runner.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"expected a model with one input, received {len(inputs)}")
        self.input_name, self.input_detail = next(iter(inputs.items()))
        self.output_details: dict[str, dict[str, Any]] = dict(self._runner.get_output_details())

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.input_detail["shape"])

    @property
    def output_names(self) -> list[str]:
        return list(self.output_details)

    def run(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Run one image shaped like the input (batch of one); returns every output by name."""
        detail = self.input_detail
        x = np.asarray(image, dtype=detail["dtype"]).reshape(detail["shape"])
        outputs = self._runner(**{self.input_name: x})
        return {name: np.asarray(value) for name, value in outputs.items()}
