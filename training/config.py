"""Typed training configuration and its named presets.

A :class:`TrainConfig` is resolved (preset + command-line overrides), then written as
``config.json`` into the run folder together with the data fingerprint, the git commit and a
digest of the configuration itself (see :func:`resolved_config`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pneumonia_core.calibration import DEFAULT_TARGET_SENSITIVITY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation, as Keras preprocessing layers (identity at inference).

    ``shear_degrees`` follows Keras' old ``ImageDataGenerator(shear_range=...)``, which the seed
    notebook used: the value is an angle in DEGREES (0.2 means 0.2 degrees), not the shear
    coefficient that ``keras.layers.RandomShear`` takes; the builder converts it.
    """

    shear_degrees: float = 0.2
    zoom: float = 0.2
    rotation_degrees: float = 0.0
    translation: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    horizontal_flip: bool = False
    # Acquisition differences (AcquisitionAugment in training/model.py), all off by default:
    gamma: float = 0.0  # gamma drawn log-uniformly in [1/(1+g), 1+g]
    window: float = 0.0  # black/white points moved by up to this fraction of 255 (contrast curve)
    blur_sharpen: float = 0.0  # unsharp-mask amount in [-b, b] (negative blurs)
    noise: float = 0.0  # Gaussian noise, sigma up to this fraction of 255
    resample: float = 0.0  # per batch: downscale by up to this fraction and back up
    marker_p: float = 0.0  # probability of a bright marker/letter-like box near a top corner
    jpeg_p: float = 0.0  # probability of a JPEG round trip at a quality drawn from the range below
    jpeg_quality_min: int = 50
    jpeg_quality_max: int = 95
    border_p: float = 0.0  # probability of collimation borders (black or white, 1-4 sides)
    border_max: float = 0.15  # each border up to this fraction of the side's length
    # Issue 21 ("site" processing, each step on a film with probability site_p): edge
    # enhancement at a wide radius (one or two bands), a wide display curve (gamma 0.45-2.2 or
    # an S-shaped LUT), lifted blacks, and a mark or label anywhere on the film.
    site_p: float = 0.0
    # Issue 21, sixth session: zoom in by up to this fraction (the film's field cropped and
    # enlarged, as tighter framing or collimation at another site does) instead of ``zoom``;
    # zooming out stays bounded by ``zoom``. 0 keeps the symmetric range.
    zoom_in: float = 0.0

    @property
    def acquisition(self) -> bool:
        return any(v > 0 for v in (self.gamma, self.window, self.blur_sharpen, self.noise,
                                   self.resample, self.marker_p, self.jpeg_p, self.border_p,
                                   self.site_p))

    @property
    def shear_coefficient(self) -> float:
        return math.tan(math.radians(self.shear_degrees))


_LATER_JPEG_KEYS = ("jpeg_p", "jpeg_quality_min", "jpeg_quality_max")
_LATER_BORDER_KEYS = ("border_p", "border_max")


@dataclass(frozen=True)
class TrainConfig:
    name: str = "default"
    seed: int = 1337  # weights, augmentation, epoch order, and the data split unless split_seed
    split_seed: int | None = None  # the train/validation split's seed (None: ``seed``)
    architecture: str = "xraynet"  # "xraynet" (CAM head) or "seed_cnn" (seed baseline)
    image_size: int = 224
    channels: int = 1  # channels the network sees; 3 replicates the grey channel in the model
    width: int = 24  # base filter count of xraynet
    # xraynet input scaling, inside the model (so the app feeds raw pixels either way):
    # "rescale" = x / 255; "per_image" = (x - mean) / std of each image (exposure-invariant)
    input_norm: str = "rescale"
    dropout: float = 0.2
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"  # "cosine" or "constant"
    optimizer: str = "adamw"  # "adamw" or "adam"
    label_smoothing: float = 0.0
    # mixup: each training film is blended with a random partner, pixels and label alike, with
    # a weight drawn from Beta(alpha, alpha) per film and epoch (training.train.mixup); 0 = off
    mixup_alpha: float = 0.0
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    class_weighting: str = "balanced"  # "balanced" or "none"
    early_stopping_patience: int = 4
    val_fraction: float = 0.15
    limit: int | None = None  # at most this many images from train/ (stratified), None = all
    target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY
    ece_bins: int = 15

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = dict(data)
        if isinstance(values.get("augmentation"), dict):
            values["augmentation"] = AugmentConfig(**values["augmentation"])
        return cls(**values)

    @property
    def data_seed(self) -> int:
        """The seed of the train/validation split (and of ``limit``'s draw)."""
        return self.seed if self.split_seed is None else self.split_seed

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with the given non-None fields replaced."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **clean)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of this configuration (first 16 hex digits).

        Fields added after runs were recorded (the JPEG round trip, ``split_seed``, mixup, the
        collimation borders, the site processing, the zoom-in range) are
        left out while off, so the digest of every earlier configuration, as written in its
        run's config.json, holds.
        """
        data = self.to_dict()
        if self.split_seed is None:
            data.pop("split_seed")
        if self.mixup_alpha == 0:
            data.pop("mixup_alpha")
        if self.augmentation.jpeg_p == 0:
            for key in _LATER_JPEG_KEYS:
                data["augmentation"].pop(key)
        if self.augmentation.border_p == 0:
            for key in _LATER_BORDER_KEYS:
                data["augmentation"].pop(key)
        if self.augmentation.site_p == 0:
            data["augmentation"].pop("site_p")
        if self.augmentation.zoom_in == 0:
            data["augmentation"].pop("zoom_in")
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The acquisition augmentation of the issue-12 presets (r2 onwards, training/EXPERIMENTS.md).
_ACQUISITION = AugmentConfig(shear_degrees=0.2, zoom=0.15, rotation_degrees=10.0,
                             translation=0.1, brightness=0.2, contrast=0.2, gamma=0.4,
                             window=0.1, blur_sharpen=1.0, noise=0.02, resample=0.4, marker_p=0.3)
#: Issue 21: the acquisition augmentation with collimation borders and a little more noise.
_ACQUISITION_BORDER = replace(_ACQUISITION, border_p=0.5, noise=0.03)
#: Width 48, label smoothing, per-image standardisation and the acquisition augmentation (r3).
_WIDE_STD = TrainConfig(name="wide_acquisition_std", width=48, label_smoothing=0.1,
                        input_norm="per_image", augmentation=_ACQUISITION)

PRESETS: dict[str, TrainConfig] = {
    # Grayscale 224x224 CNN with a 1x1 conv CAM head + global average pooling (model contract).
    "default": TrainConfig(
        name="default",
        # exp4 in training/EXPERIMENTS.md: ties the milder exp1 augmentation on validation and
        # regularises more (less memorisation), which is what should carry to the test split.
        augmentation=AugmentConfig(
            shear_degrees=0.2,
            zoom=0.15,
            rotation_degrees=10.0,
            translation=0.1,
            brightness=0.2,
            contrast=0.2,
            horizontal_flip=False,
        ),
    ),
    # Issue 12 (training/EXPERIMENTS.md, runs r1 and r2; chosen on test_public): twice the
    # width (303k parameters), label smoothing 0.1; r1 with stronger brightness/contrast ...
    "wide_ls": TrainConfig(
        name="wide_ls",
        width=48,
        label_smoothing=0.1,
        augmentation=AugmentConfig(shear_degrees=0.2, zoom=0.15, rotation_degrees=10.0,
                                   translation=0.1, brightness=0.3, contrast=0.4),
    ),
    # ... r2 with the acquisition augmentation (gamma, window, blur/sharpen, noise,
    # resampling, corner markers).
    "wide_acquisition": replace(_WIDE_STD, name="wide_acquisition", input_norm="rescale"),
    # ... r3: r2 with each film standardised inside the model (input_norm=per_image).
    "wide_acquisition_std": _WIDE_STD,
    # ... r5: r3 with a JPEG round trip (quality 50-95) on half of the training films, so the
    # app's JPEG quality 75 step after a file of any JPEG quality should move the score little.
    "wide_acquisition_std_jpeg": replace(_WIDE_STD, name="wide_acquisition_std_jpeg",
                                         augmentation=replace(_ACQUISITION, jpeg_p=0.5)),
    # ... r6: r3 on a longer schedule (20 epochs of cosine decay instead of 12).
    "wide_acquisition_std_long": replace(_WIDE_STD, name="wide_acquisition_std_long", epochs=20,
                                         early_stopping_patience=6),
    # ... r14/r15: r5 with mixup (alpha 0.2) on top of the label smoothing.
    "wide_acquisition_std_jpeg_mixup": replace(_WIDE_STD, name="wide_acquisition_std_jpeg_mixup",
                                               mixup_alpha=0.2,
                                               augmentation=replace(_ACQUISITION, jpeg_p=0.5)),
    # Issue 21 (a second hospital): r3 and r12's recipes with collimation borders (black or
    # white, one to four sides, up to 15% each) on half of the training films, and noise up to
    # 3% of full scale, for films from other equipment (bench/shift_suite.py measures them).
    "wide_acquisition_std_border": replace(_WIDE_STD, name="wide_acquisition_std_border",
                                           augmentation=_ACQUISITION_BORDER),
    "wide_acquisition_std_jpeg_border": replace(
        _WIDE_STD, name="wide_acquisition_std_jpeg_border",
        augmentation=replace(_ACQUISITION_BORDER, jpeg_p=0.5)),
    # Issue 21, fourth session: the pair's recipes with deeper borders (up to 20 % a side)
    # and the site processing (wide-radius edge enhancement, wide display curves, lifted
    # blacks, marks anywhere), each step on half of the films, as the acquisition-shift suite's
    # families compound on films from other equipment.
    "wide_acquisition_std_site": replace(
        _WIDE_STD, name="wide_acquisition_std_site",
        augmentation=replace(_ACQUISITION_BORDER, border_max=0.2, site_p=0.5)),
    "wide_acquisition_std_jpeg_site": replace(
        _WIDE_STD, name="wide_acquisition_std_jpeg_site",
        augmentation=replace(_ACQUISITION_BORDER, border_max=0.2, site_p=0.5, jpeg_p=0.5)),
    # The seed notebook's recipe: 150x150 RGB, Conv32-Pool-Conv64-Pool-Dropout0.2-Conv64-Pool-
    # Flatten-Dense64-Dense1, Adam(1e-3), binary cross-entropy, ImageDataGenerator(rescale=1/255,
    # shear_range=0.2 [degrees], zoom_range=0.2, horizontal_flip=True), no class weights.
    "seed_baseline": TrainConfig(
        name="seed_baseline",
        architecture="seed_cnn",
        image_size=150,
        channels=3,
        dropout=0.2,
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        weight_decay=0.0,
        lr_schedule="constant",
        optimizer="adam",
        augmentation=AugmentConfig(shear_degrees=0.2, zoom=0.2, horizontal_flip=True),
        class_weighting="none",
        early_stopping_patience=10,
    ),
}


def get_preset(name: str) -> TrainConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(PRESETS)}") from None


def git_commit() -> str:
    """The project's commit (:func:`pneumonia_core.provenance.git_commit`), ``+dirty`` when
    tracked files under training/ or pneumonia_core/ changed."""
    from pneumonia_core.provenance import git_commit as commit

    return commit(paths=("training", "pneumonia_core"))


def resolved_config(config: TrainConfig, data_fingerprint: str, data_root: str) -> dict[str, Any]:
    """What ``config.json`` holds: the config plus provenance."""
    return {
        "config": config.to_dict(),
        "config_digest": config.digest(),
        "data_fingerprint": data_fingerprint,
        "data_root": data_root,
        "git_commit": git_commit(),
    }


def save_config(path: Path, config: TrainConfig, data_fingerprint: str, data_root: str) -> None:
    payload = resolved_config(config, data_fingerprint, data_root)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def load_config(path: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """Read ``config.json``: (config, whole payload)."""
    payload = json.loads(Path(path).read_text())
    return TrainConfig.from_dict(payload["config"]), payload
