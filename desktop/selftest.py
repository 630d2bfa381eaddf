"""``pneumonia-xray --self-test``: prove that this installation can classify, offline.

Checks, in order, and stops at the first failure:

1. the model folder loads, passes every metadata check, and is the folder pinned in this
   build (an unverified folder, see :mod:`pneumonia_core.integrity`, fails the self-test);
2. a built-in generated chest-like image (:mod:`pneumonia_core.builtin_image`, no file needed)
   goes through the app's own loader (PNG bytes -> :func:`~pneumonia_core.imageio.decode_bytes`
   -> :func:`~pneumonia_core.imageio.to_model_input`) and the model gives a finite logit, the
   same answer twice, and the probability the pin expects of the shipped model (within
   :data:`~pneumonia_core.builtin_image.SELF_TEST_TOLERANCE`);
3. the same image, stored as a JPEG 2000 compressed DICOM, decodes through pydicom and the
   pylibjpeg codecs to the same pixels (so compressed DICOM from a PACS can be read);
4. the site profile in force (if any) verifies and belongs to this model.

Prints one ``SELF-TEST OK`` line with versions and timing, or ``SELF-TEST FAILED: reason``
on stderr with exit status 1.
"""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path
from typing import TextIO

import numpy as np

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1


class SelfTestError(RuntimeError):
    """One self-test check failed; the message says which and why."""


def _dicom_j2k_bytes(img: np.ndarray) -> bytes:
    """``img`` as a JPEG 2000 lossless DICOM Part 10 file, encoded by pylibjpeg-openjpeg."""
    from pneumonia_core.dicom import import_pydicom

    import_pydicom()  # without `requests`: urllib3 would bind an IPv6 socket at import
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = img.tobytes()
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def check_model(model_dir: Path | None):  # -> ModelBundle
    from pneumonia_core.model import ModelBundle, ModelError
    from pneumonia_core.runtime import quiet_runtime_banner

    try:
        with quiet_runtime_banner():
            return ModelBundle.load(model_dir)
    except ModelError as exc:
        raise SelfTestError(f"model: {exc}") from None


def check_inference(bundle, img: np.ndarray) -> tuple[float, float]:  # bundle: ModelBundle
    """Loader + model on the built-in image; returns (probability, inference seconds)."""
    from pneumonia_core.builtin_image import model_input
    from pneumonia_core.imageio import ImageLoadError

    try:
        gray = model_input(img, bundle.input_size)
    except ImageLoadError as exc:
        raise SelfTestError(f"image loader: {exc}") from None
    t0 = time.perf_counter()
    first = bundle.predict(gray)
    seconds = time.perf_counter() - t0
    second = bundle.predict(gray)
    if not math.isfinite(first.logit):
        raise SelfTestError(f"inference: the model returned a non-finite logit {first.logit}")
    if not 0.0 <= first.probability <= 1.0:
        raise SelfTestError(f"inference: probability {first.probability} outside [0, 1]")
    if first.logit != second.logit:
        raise SelfTestError(
            f"inference: two runs on the same image differ ({first.logit} vs {second.logit})")
    return first.probability, seconds


def check_expected(bundle, probability: float) -> None:  # bundle: ModelBundle
    """The model is the pinned one and gives the pinned probability for the built-in film."""
    from pneumonia_core.builtin_image import SELF_TEST_TOLERANCE
    from pneumonia_core.integrity import build_pin

    if not bundle.verified:
        raise SelfTestError(
            f"model: {bundle.folder} is an {bundle.verification.describe()}; its built-in "
            f"film P={probability:.4f} cannot be checked against the shipped model's")
    pin = build_pin()
    expected = pin.self_test_probability if pin is not None else None
    if expected is None:
        raise SelfTestError("model: this build has no expected self-test probability")
    if not abs(probability - expected) <= SELF_TEST_TOLERANCE:
        raise SelfTestError(
            f"inference: the built-in film scored P={probability:.4f}, the shipped model gives "
            f"{expected:.4f} (tolerance {SELF_TEST_TOLERANCE}); this runtime or model computes "
            "something else")


def check_dicom(img: np.ndarray) -> None:
    """A JPEG 2000 compressed DICOM decodes through the app's loader to the same pixels."""
    from pneumonia_core.imageio import ImageLoadError, decode_bytes

    try:
        data = _dicom_j2k_bytes(img)
    except Exception as exc:  # missing encoder/codec plugins surface as many types
        raise SelfTestError(f"DICOM codecs: cannot encode a JPEG 2000 test image: {exc}") from None
    try:
        decoded = decode_bytes(data)
    except ImageLoadError as exc:
        raise SelfTestError(f"DICOM codecs: {exc}") from None
    if decoded.source_format != "DICOM" or not np.array_equal(decoded.pixels, img):
        raise SelfTestError("DICOM codecs: the JPEG 2000 DICOM did not decode to its pixels")


def run_self_test(model_dir: Path | None, stdout: TextIO, stderr: TextIO) -> int:
    """Run every check; one line on ``stdout`` when all pass, else one on ``stderr``."""
    from pneumonia_core import __version__
    from pneumonia_core.builtin_image import builtin_image

    t0 = time.perf_counter()
    try:
        bundle = check_model(model_dir)
        t_model = time.perf_counter() - t0
        img = builtin_image()
        probability, t_infer = check_inference(bundle, img)
        check_expected(bundle, probability)
        check_dicom(img)
        site = check_site_profile(bundle)
        machine = check_machine_settings()
    except SelfTestError as exc:
        stderr.write(f"SELF-TEST FAILED: {exc}\n")
        return EXIT_FAILED
    meta = bundle.metadata
    total = time.perf_counter() - t0
    stdout.write(
        f"SELF-TEST OK: pneumonia-xray {__version__}, model {meta.name} {meta.version} "
        f"(sha256 {meta.sha256[:12]} verified, folder {bundle.verification.short}), LiteRT {_litert_version()}, built-in image "
        f"P(pneumonia)={probability:.4f} as pinned, DICOM JPEG 2000 ok; model load {t_model * 1000:.0f} ms, "
        f"inference {t_infer * 1000:.0f} ms, total {total * 1000:.0f} ms; operating point: "
        f"{site}; {machine}\n"
    )
    return EXIT_OK


def check_machine_settings() -> str:
    """The machine settings in force (:mod:`desktop.machine_config`); a settings file that
    is present but refused fails the self-test, as a refused site profile does."""
    from desktop import machine_config

    settings = machine_config.load_settings()
    if settings.problem:
        raise SelfTestError(f"machine settings {settings.path}: {settings.problem}")
    return settings.describe()


def check_site_profile(bundle) -> str:  # bundle: ModelBundle
    """The operating point in force (docs/site-calibration.md); a site profile that is present
    but refused (edited, another model) fails the self-test: the deployment is not as meant."""
    from desktop import operating_point, site_config

    active = site_config.for_classify(bundle.metadata.sha256, no_site_profile=False)
    if active.problem:
        raise SelfTestError(f"site profile: {active.problem}")
    resolution = operating_point.resolve(bundle, active, operating_point.saved_user_threshold())
    return f"{resolution.source}; {resolution.describe()}"


def _litert_version() -> str:
    try:
        import ai_edge_litert

        return str(getattr(ai_edge_litert, "__version__", "unknown"))
    except ImportError:  # pragma: no cover - the model could not have loaded
        return "unavailable"
