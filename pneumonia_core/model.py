"""A verified model bundle (``model.tflite`` + ``metadata.json``) and its predictions."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumonia_core import scope_arrays
from pneumonia_core.integrity import (
    IntegrityError,
    Pin,
    Verification,
    shipped_model_dir,
    verify_folder,
)
from pneumonia_core.metadata import (
    METADATA_FILE,
    MODEL_FILE,
    MetadataError,
    ModelMetadata,
    sha256_file,
)
from pneumonia_core.metadata_checks import check_metadata, check_outputs_against_model
from pneumonia_core.metadata_json import parse_metadata_json, read_metadata_bytes
from pneumonia_core.runtime import MAX_MODEL_FILE_BYTES, TFLiteRunner

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """The model cannot be used: missing, tampered with, or not what its metadata says."""


@dataclass
class Prediction:
    """The model's outputs for one film."""

    logit: float
    probability: float  # calibrated P(positive)
    cam: np.ndarray | None  # (h, w) float32 logit contributions, mean == logit
    embedding: np.ndarray | None  # (C,) pooled features


def default_model_dir() -> Path:
    """``PNEUMONIA_XRAY_MODEL_DIR`` when set (an unverified model unless it is the shipped
    folder), else ``resources/model`` in a checkout or inside a PyInstaller bundle."""
    env = os.environ.get("PNEUMONIA_XRAY_MODEL_DIR")
    if env:
        return Path(env)
    return shipped_model_dir()


class ModelBundle:
    """Loads and verifies a model folder; :meth:`predict` is not thread-safe (see
    :meth:`clone` for one runner per thread).

    ``verification`` says whether the folder is the one pinned in this build
    (:mod:`pneumonia_core.integrity`); an unverified bundle works, and every place that shows
    or records a decision says that it came from an unverified model.
    """

    def __init__(self, folder: Path, metadata: ModelMetadata, model_bytes: bytes,
                 num_threads: int = 1, verification: Verification | None = None) -> None:
        self.folder = folder
        self.metadata = metadata
        self.verification = verification or Verification("", False, "not checked")
        #: The model's default decision (calibration, threshold, labels) from its metadata.
        self.operating_point = metadata.operating_point()
        self._bytes = model_bytes
        self._num_threads = num_threads
        #: The thread that loaded it (:meth:`load`), which may run it; clones have none.
        self.owner_thread: int | None = None
        try:
            self.runner = TFLiteRunner(model_bytes, num_threads=num_threads)
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        expected = tuple(metadata.input.shape)
        if self.runner.input_shape != expected:
            raise ModelError(
                f"Model input shape {list(self.runner.input_shape)} does not match metadata "
                f"{list(expected)}; refusing to run a model that was not converted for this app"
            )
        try:
            check_outputs_against_model(metadata, {name: d["shape"] for name, d
                                                   in self.runner.output_details.items()})
        except MetadataError as exc:
            raise ModelError(str(exc)) from None

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None, num_threads: int = 1,
             pin: Pin | None = None) -> ModelBundle:
        """Load ``folder`` (default: :func:`default_model_dir`), checked against ``pin``
        (default: the pin of this build). Raises :class:`ModelError` with a clear message."""
        folder = Path(folder) if folder is not None else default_model_dir()
        try:
            # the model file's bytes are kept: read once, hashed once, run as verified
            verification = verify_folder(folder, pin, keep={
                MODEL_FILE: MAX_MODEL_FILE_BYTES,
                scope_arrays.ARRAYS_FILE: scope_arrays.MAX_ARRAYS_BYTES})
        except IntegrityError as exc:
            if not folder.is_dir():
                raise ModelError(f"Model metadata not found: {folder / METADATA_FILE}") from None
            raise ModelError(str(exc)) from None
        if not verification.verified:
            log.warning("model folder %s: %s", folder, verification.describe())
        try:
            meta_path = folder / METADATA_FILE
            raw = read_metadata_bytes(meta_path)
            verification.check_read(METADATA_FILE, raw)
            metadata = ModelMetadata.from_dict(_with_scope_arrays(
                parse_metadata_json(raw, meta_path), folder, verification))
            check_metadata(metadata)  # strict: every field the app acts on (issue 16)
            model_path = folder / metadata.file
        except (MetadataError, IntegrityError) as exc:
            raise ModelError(str(exc)) from None
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # wrong JSON types
            raise ModelError(f"{METADATA_FILE} is malformed: {type(exc).__name__}: {exc}") from None
        try:
            kept = verification.contents.get(metadata.file)
            if kept is not None:  # the very bytes the folder's digest was computed from
                model_bytes, digest = kept, verification.files[metadata.file]
            else:
                size = model_path.stat().st_size
                if size > MAX_MODEL_FILE_BYTES:
                    raise ModelError(f"Model file {model_path.name} is {size >> 20} MB, more "
                                     f"than this app loads ({MAX_MODEL_FILE_BYTES >> 20} MB)")
                model_bytes = model_path.read_bytes()
                digest = verification.check_read(metadata.file, model_bytes)
        except OSError as exc:
            raise ModelError(f"Cannot read model file {model_path}: {exc}") from None
        except IntegrityError as exc:
            raise ModelError(str(exc)) from None
        if digest != metadata.sha256:
            raise ModelError(
                f"Model file {model_path.name} failed its integrity check: SHA-256 {digest[:12]}... "
                f"does not match {METADATA_FILE} ({metadata.sha256[:12]}...). The file was altered "
                "or belongs to another model; reinstall the application."
            )
        log.info("loaded model %s %s (sha256 %s, %s)", metadata.name, metadata.version,
                 digest[:12], verification.describe())
        try:
            bundle = cls(folder, metadata, model_bytes, num_threads, verification)
            bundle.owner_thread = threading.get_ident()
            return bundle
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ModelError(f"Model and {METADATA_FILE} do not fit together: "
                             f"{type(exc).__name__}: {exc}") from None

    def clone(self) -> ModelBundle:
        """A new bundle with its own interpreter, for another thread."""
        return ModelBundle(self.folder, self.metadata, self._bytes, self._num_threads,
                           self.verification)

    @property
    def verified(self) -> bool:
        """Whether the model folder is byte-for-byte the one pinned in this build."""
        return self.verification.verified

    @property
    def folder_digest(self) -> str:
        return self.verification.folder_digest

    @property
    def input_size(self) -> int:
        return self.metadata.input.size

    @property
    def short_hash(self) -> str:
        return self.metadata.sha256[:12]

    def predict(self, gray: np.ndarray) -> Prediction:
        """Predict from a ``(S, S)`` uint8 array made by :func:`~pneumonia_core.imageio.load_image`."""
        s = self.input_size
        if gray.shape != (s, s):
            raise ValueError(f"expected a {s}x{s} image, received shape {gray.shape}")
        outs = self.runner.run(gray.astype(np.float32)[None, :, :, None])
        names = {k: v.get("name") for k, v in self.metadata.outputs.items()}
        logit = float(np.ravel(outs[names["logit"]])[0])
        cam = outs.get(names.get("cam", ""), None)
        emb = outs.get(names.get("embedding", ""), None)
        return Prediction(
            logit=logit,
            probability=self.operating_point.probability(logit),
            cam=None if cam is None else np.squeeze(cam).astype(np.float32),
            embedding=None if emb is None else np.ravel(emb).astype(np.float32),
        )


def _with_scope_arrays(meta: object, folder: Path, verification: Verification) -> object:
    """The parsed metadata with the guard's statistics of its binary file attached: the bytes
    hashed by :func:`verify_folder` (read once), or read now and checked against them."""
    if not isinstance(meta, dict) or scope_arrays.reference(meta.get("scope")) is None:
        return meta
    data = verification.contents.get(scope_arrays.ARRAYS_FILE)
    if data is None:
        data = scope_arrays.read_bytes(folder)
        digest = verification.check_read(scope_arrays.ARRAYS_FILE, data)
    else:
        digest = verification.files[scope_arrays.ARRAYS_FILE]
    return scope_arrays.attach_from_folder(meta, folder, data, digest=digest)


def sha256_of_model(folder: str | os.PathLike[str]) -> str:
    meta = ModelMetadata.load(folder)
    return sha256_file(Path(folder) / meta.file)
