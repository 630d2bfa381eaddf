"""Model builders: the default grayscale CNN with a CAM head, the seed baseline, the export model.

Every trained model has the same outer shape::

    image (S, S, 1) raw 0..255 -> "augment" (training only) -> "backbone" (rescales inside,
    ends in the feature map or feature vector) -> head -> logit (N, 1)

so :func:`build_export_model` can rebuild the inference graph from the trained layers without
the augmentation block: ``{"logit": (N, 1), "cam": (N, h, w), "embedding": (N, C)}``.
For ``xraynet`` the head is ``Dropout -> Conv2D(1, 1, name="cam_head") -> GlobalAveragePooling``,
so the CAM's mean is the logit. The seed baseline (Flatten-Dense) has no CAM; its export model
has ``logit`` and ``embedding`` (the Dense64 features).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from training.config import AugmentConfig, TrainConfig

log = logging.getLogger(__name__)

INPUT_NAME = "image"


@keras.saving.register_keras_serializable(package="pneumonia_xray")
class Shear(layers.RandomShear):
    """``RandomShear`` whose config survives a save/load round trip.

    Keras 3.15 stores the symmetric range ``[-c, c]`` in ``get_config`` and then refuses the
    negative bound when the layer is rebuilt from it; this writes back the magnitude it took.
    """

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("x_factor", "y_factor"):
            value = config.get(key)
            if isinstance(value, (list, tuple)):
                config[key] = float(max(abs(v) for v in value))
        return config


def _gaussian_kernel(sigma: float, radius: int) -> Any:
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    g = np.exp(-(t ** 2) / (2 * sigma ** 2))
    k = np.outer(g, g)
    return (k / k.sum())[:, :, None, None]


@keras.saving.register_keras_serializable(package="pneumonia_xray")
class AcquisitionAugment(layers.Layer):
    """Acquisition differences between X-ray sites, on raw 0..255 grey images (training only).

    Per image: a contrast curve (gamma), a moved black/white window, blur or sharpening
    (unsharp mask), Gaussian noise, and with probability ``marker_p`` a bright box or frame (a
    laterality marker / letter stand-in) near a top corner, so a marker cannot be a shortcut,
    and with probability ``jpeg_p`` a JPEG round trip at a quality drawn uniformly from
    ``jpeg_quality`` (the app's inputs pass through JPEG quality 75 after files that were
    themselves JPEG at any quality, so the exact compression artefacts must not matter).
    With probability ``border_p`` a collimation border (black or white, on one to four sides)
    is laid over the film before the processing steps, as a collimator shadow is part of what
    the detector records. Per batch: downscale by up to ``resample`` and back up (nearest or area down, bilinear up),
    as films reach 224 pixels through different resampling filters. Identity at inference.
    Draws come from the layer's own seed, so runs stay deterministic.
    """

    def __init__(self, gamma: float = 0.0, window: float = 0.0, blur_sharpen: float = 0.0,
                 noise: float = 0.0, resample: float = 0.0, marker_p: float = 0.0,
                 seed: int | None = None, jpeg_p: float = 0.0,
                 jpeg_quality: tuple[int, int] = (50, 95), border_p: float = 0.0,
                 border_max: float = 0.15, site_p: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_p, self.border_max = float(border_p), float(border_max)
        self.site_p = float(site_p)
        if not 0.0 <= self.border_max < 0.5:
            raise ValueError(f"border_max must lie in [0, 0.5), got {border_max}")
        self.gamma, self.window, self.blur_sharpen = float(gamma), float(window), float(blur_sharpen)
        self.noise, self.resample, self.marker_p = float(noise), float(resample), float(marker_p)
        self.jpeg_p = float(jpeg_p)
        self.jpeg_quality = (int(jpeg_quality[0]), int(jpeg_quality[1]))
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"JPEG quality range must lie in 1..100, got {jpeg_quality}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._kernel = _gaussian_kernel(1.2, 3)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"gamma": self.gamma, "window": self.window,
                       "blur_sharpen": self.blur_sharpen, "noise": self.noise,
                       "resample": self.resample, "marker_p": self.marker_p, "seed": self.seed,
                       "jpeg_p": self.jpeg_p, "jpeg_quality": list(self.jpeg_quality),
                       "border_p": self.border_p, "border_max": self.border_max,
                       "site_p": self.site_p})
        return config

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def _u(self, shape: Any, lo: float = 0.0, hi: float = 1.0) -> Any:
        return keras.random.uniform(shape, lo, hi, seed=self.seed_generator)

    def call(self, x: Any, training: bool | None = None) -> Any:
        if not training:
            return x
        import tensorflow as tf

        x = tf.cast(x, tf.float32)
        b, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        per = tf.stack([b, 1, 1, 1])
        if self.resample > 0:
            s = self._u((), 1.0 - self.resample, 1.0)
            small = tf.cast(tf.round(tf.cast(h, tf.float32) * s), tf.int32)
            small_w = tf.cast(tf.round(tf.cast(w, tf.float32) * s), tf.int32)
            use_nearest = self._u(()) < 0.5
            down = tf.cond(use_nearest,
                           lambda: tf.image.resize(x, [small, small_w], method="nearest"),
                           lambda: tf.image.resize(x, [small, small_w], method="area"))
            x = tf.reshape(tf.image.resize(down, [h, w], method="bilinear"), tf.shape(x))
        if self.border_p > 0:
            x = self._border(x, b, h, w)
        if self.blur_sharpen > 0:
            pad = self._kernel.shape[0] // 2
            padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            blurred = tf.nn.depthwise_conv2d(padded, tf.constant(self._kernel), [1, 1, 1, 1],
                                             "VALID")
            amount = self._u(per, -self.blur_sharpen, self.blur_sharpen)
            x = x + amount * (x - blurred)
        x = tf.clip_by_value(x, 0.0, 255.0)
        if self.site_p > 0:
            x = self._site(x, b, h, w)
        if self.gamma > 0:
            g = tf.exp(self._u(per, -1.0, 1.0) * float(np.log1p(self.gamma)))
            x = 255.0 * tf.pow(x / 255.0, g)
        if self.window > 0:
            lo = self._u(per, -self.window, self.window) * 255.0
            hi = 255.0 + self._u(per, -self.window, self.window) * 255.0
            x = tf.clip_by_value((x - lo) / (hi - lo) * 255.0, 0.0, 255.0)
        if self.noise > 0:
            sigma = self._u(per, 0.0, self.noise * 255.0)
            x = x + sigma * keras.random.normal(tf.shape(x), seed=self.seed_generator)
        if self.marker_p > 0:
            x = self._marker(x, b, h, w)
        if self.site_p > 0:
            x = self._marker(x, b, h, w, p=self.site_p, anywhere=True)
        x = tf.clip_by_value(x, 0.0, 255.0)
        if self.jpeg_p > 0:
            x = self._jpeg(x, b)
        return x

    def _jpeg(self, x: Any, b: Any) -> Any:
        """Per image, with probability ``jpeg_p``: encode and decode as JPEG (one channel)."""
        import tensorflow as tf

        lo, hi = self.jpeg_quality
        quality = tf.cast(tf.floor(self._u(tf.reshape(b, [1]), lo, hi + 1)), tf.int32)
        quality = tf.minimum(quality, hi)
        apply = self._u(tf.reshape(b, [1])) < self.jpeg_p

        def one(args: Any) -> Any:
            img, q, on = args
            return tf.cond(on, lambda: tf.image.adjust_jpeg_quality(img / 255.0, q) * 255.0,
                           lambda: img)

        out = tf.map_fn(one, (x, quality, apply), fn_output_signature=tf.float32)
        return tf.reshape(out, tf.shape(x))

    def _border(self, x: Any, b: Any, h: Any, w: Any) -> Any:
        """Per image, with probability ``border_p``: collimation borders, black or white, on
        one to four sides (at least one), each up to ``border_max`` of the side's length."""
        import tensorflow as tf

        per = tf.stack([b, 1, 1])
        hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
        forced = tf.floor(self._u(per, 0.0, 4.0))  # one side always gets a border
        yy = tf.cast(tf.range(h), tf.float32)[None, :, None]
        xx = tf.cast(tf.range(w), tf.float32)[None, None, :]
        mask = tf.zeros(tf.stack([b, h, w]), dtype=tf.bool)
        for side, (coord, length) in enumerate(((xx, wf), (xx, wf), (yy, hf), (yy, hf))):
            on = (self._u(per) < 0.5) | tf.equal(forced, float(side))
            width = tf.floor(self._u(per, 0.02, max(self.border_max, 0.02)) * length)
            width = tf.where(on, width, 0.0)
            band = coord < width if side % 2 == 0 else coord >= length - width
            mask = mask | band
        mask = mask & (self._u(per) < self.border_p)
        white = self._u(per) < 0.5
        value = tf.where(white, self._u(per, 215.0, 255.0), self._u(per, 0.0, 40.0))
        return tf.where(mask[..., None], value[..., None], x)

    def _site(self, x: Any, b: Any, h: Any, w: Any) -> Any:
        """Another site's processing, each step on an image with probability ``site_p``:
        edge enhancement at a radius drawn per batch from 0.5-9 px (one band, sometimes a
        second), a display curve (gamma 0.45-2.2 or an S-shaped LUT) and lifted blacks with a
        lower white point. The radii and ranges cover the vendor processing of films brought
        down to 224 pixels from detector size (2-40 px there)."""
        import tensorflow as tf

        per = tf.stack([b, 1, 1, 1])
        p = self.site_p
        for band_p in (p, 0.5 * p):
            radius = tf.exp(self._u((), float(np.log(0.5)), float(np.log(9.0))))
            small = tf.maximum(tf.cast(tf.round(tf.cast(h, tf.float32) / (2.0 * radius)),
                                       tf.int32), 2)
            small_w = tf.maximum(tf.cast(tf.round(tf.cast(w, tf.float32) / (2.0 * radius)),
                                         tf.int32), 2)
            low = tf.image.resize(tf.image.resize(x, [small, small_w], method="area"), [h, w],
                                  method="bilinear")
            amount = tf.where(self._u(per) < band_p, self._u(per, 0.2, 1.5), 0.0)
            x = tf.clip_by_value(x + amount * (x - tf.reshape(low, tf.shape(x))), 0.0, 255.0)
        v = x / 255.0
        gamma = tf.exp(self._u(per, float(np.log(0.45)), float(np.log(2.2))))
        slope, centre = self._u(per, 3.0, 8.0), self._u(per, 0.35, 0.65)
        lo = tf.sigmoid(-slope * centre)
        hi = tf.sigmoid(slope * (1.0 - centre))
        s_curve = (tf.sigmoid(slope * (v - centre)) - lo) / (hi - lo)
        curved = tf.where(self._u(per) < 0.5, tf.pow(tf.maximum(v, 1e-6), gamma), s_curve)
        v = tf.where(self._u(per) < p, curved, v)
        black, white = self._u(per, 0.03, 0.30), self._u(per, 0.65, 1.0)
        v = tf.where(self._u(per) < p, black + (white - black) * v, v)
        return tf.clip_by_value(v * 255.0, 0.0, 255.0)

    def _marker(self, x: Any, b: Any, h: Any, w: Any, p: float | None = None,
                anywhere: bool = False) -> Any:
        """A bright box or frame near a top corner (a laterality marker), with probability
        ``p`` (``marker_p`` by default); ``anywhere``: anywhere on the film, bright or (one in
        four) dark, as burned-in labels."""
        import tensorflow as tf

        per = tf.stack([b, 1, 1])
        hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
        bw = tf.floor(self._u(per, 0.03, 0.10) * wf)  # box width/height: 7..22 px at 224
        bh = tf.floor(self._u(per, 0.03, 0.10) * hf)
        if anywhere:
            x0 = tf.floor(self._u(per, 0.02, 0.8) * wf)
            y0 = tf.floor(self._u(per, 0.02, 0.85) * hf)
        else:
            right = self._u(per) < 0.5
            x0 = tf.floor(self._u(per, 0.0, 0.22) * wf)
            x0 = tf.where(right, wf - bw - x0, x0)
            y0 = tf.floor(self._u(per, 0.0, 0.30) * hf)
        yy = tf.cast(tf.range(h), tf.float32)[None, :, None]
        xx = tf.cast(tf.range(w), tf.float32)[None, None, :]
        inside = (xx >= x0) & (xx < x0 + bw) & (yy >= y0) & (yy < y0 + bh)
        stroke = tf.floor(self._u(per, 2.0, 4.0))
        hollow = ((xx >= x0 + stroke) & (xx < x0 + bw - stroke) & (yy >= y0 + stroke)
                  & (yy < y0 + bh - stroke) & (self._u(per) < 0.5))
        on = inside & ~hollow & (self._u(per) < (self.marker_p if p is None else p))
        value = self._u(tf.stack([b, 1, 1, 1]), 170.0, 255.0)
        if anywhere:
            dark = self._u(tf.stack([b, 1, 1, 1])) < 0.25
            value = tf.where(dark, self._u(tf.stack([b, 1, 1, 1]), 0.0, 40.0), value)
        return tf.where(on[..., None], value, x)


def build_augmentation(aug: AugmentConfig, seed: int) -> keras.Sequential:
    """Keras preprocessing layers, active only when called with ``training=True``."""
    stack: list[layers.Layer] = []
    s = seed * 100
    fill = "nearest"  # as Keras' ImageDataGenerator, which the seed notebook used
    if aug.shear_degrees > 0:
        c = aug.shear_coefficient
        stack.append(Shear(x_factor=c, y_factor=0.0, fill_mode=fill, seed=s + 1, name="shear"))
    if aug.zoom > 0 or aug.zoom_in > 0:
        # Keras: a negative factor zooms in (a smaller field enlarged), a positive one out
        low = -(aug.zoom_in or aug.zoom)
        stack.append(layers.RandomZoom((low, aug.zoom), fill_mode=fill, seed=s + 2,
                                       name="zoom"))
    if aug.rotation_degrees > 0:
        stack.append(layers.RandomRotation(aug.rotation_degrees / 360.0, fill_mode=fill,
                                           seed=s + 3, name="rotation"))
    if aug.translation > 0:
        stack.append(layers.RandomTranslation(aug.translation, aug.translation, fill_mode=fill,
                                              seed=s + 4, name="translation"))
    if aug.brightness > 0:
        stack.append(layers.RandomBrightness(aug.brightness, value_range=(0.0, 255.0),
                                             seed=s + 5, name="brightness"))
    if aug.contrast > 0:
        stack.append(layers.RandomContrast(aug.contrast, value_range=(0.0, 255.0), seed=s + 6,
                                           name="contrast"))
    if aug.horizontal_flip:
        stack.append(layers.RandomFlip("horizontal", seed=s + 7, name="flip"))
    if aug.acquisition:
        stack.append(AcquisitionAugment(aug.gamma, aug.window, aug.blur_sharpen, aug.noise,
                                        aug.resample, aug.marker_p, seed=s + 8,
                                        jpeg_p=aug.jpeg_p,
                                        jpeg_quality=(aug.jpeg_quality_min,
                                                      aug.jpeg_quality_max),
                                        border_p=aug.border_p, border_max=aug.border_max,
                                        site_p=aug.site_p, name="acquisition"))
    if not stack:
        stack.append(layers.Identity(name="no_augmentation"))
    return keras.Sequential(stack, name="augment")


def _sep_block(x: Any, filters: int, name: str) -> Any:
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_sep")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="pneumonia_xray")
class PerImageStandardize(layers.Layer):
    """``(x - mean) / max(std, 1)`` over each image's pixels: the same film at another
    exposure or contrast window gives (nearly) the same input. Part of the model, so training
    and the app normalise identically."""

    def call(self, x: Any) -> Any:
        mean = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)
        var = keras.ops.mean(keras.ops.square(x - mean), axis=(1, 2, 3), keepdims=True)
        return (x - mean) / keras.ops.sqrt(keras.ops.maximum(var, 1.0))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


INPUT_NORMS = ("rescale", "per_image")


def build_xraynet_backbone(size: int, width: int, input_norm: str = "rescale") -> keras.Model:
    """Strided stem + max pool, then separable conv stages with BatchNorm; feature map at
    size/16 (14x14 for 224). Sized to train on two shared CPU cores."""
    if input_norm not in INPUT_NORMS:
        raise ValueError(f"unknown input_norm {input_norm!r}; choose one of {INPUT_NORMS}")
    inp = keras.Input((size, size, 1), name="pixels")
    if input_norm == "per_image":
        x = PerImageStandardize(name="standardize")(inp)
    else:
        x = layers.Rescaling(1.0 / 255.0, name="rescale")(inp)
    x = layers.Conv2D(width // 2, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)  # size/2
    x = layers.MaxPooling2D(name="s1_pool")(x)  # size/4
    x = _sep_block(x, 2 * width, "s2a")
    x = _sep_block(x, 2 * width, "s2b")
    x = layers.MaxPooling2D(name="s2_pool")(x)  # size/8
    x = _sep_block(x, 4 * width, "s3a")
    x = _sep_block(x, 4 * width, "s3b")
    x = layers.MaxPooling2D(name="s3_pool")(x)  # size/16
    x = _sep_block(x, 8 * width, "s4a")
    x = _sep_block(x, 8 * width, "s4b")
    return keras.Model(inp, x, name="backbone")


def build_xraynet(cfg: TrainConfig) -> keras.Model:
    inp = keras.Input((cfg.image_size, cfg.image_size, 1), name=INPUT_NAME)
    x = build_augmentation(cfg.augmentation, cfg.seed)(inp)
    feat = build_xraynet_backbone(cfg.image_size, cfg.width, cfg.input_norm)(x)
    x = layers.Dropout(cfg.dropout, seed=cfg.seed, name="head_dropout")(feat)
    cam = layers.Conv2D(1, 1, name="cam_head")(x)
    logit = layers.GlobalAveragePooling2D(name="logit")(cam)
    return keras.Model(inp, logit, name="xraynet")


def build_seed_backbone(size: int, dropout: float, seed: int) -> keras.Model:
    """The seed notebook's CNN up to its Dense64 features (grey replicated to RGB inside)."""
    inp = keras.Input((size, size, 1), name="pixels")
    x = layers.Concatenate(name="gray_to_rgb")([inp, inp, inp])
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense64")(x)
    return keras.Model(inp, x, name="backbone")


def build_seed_cnn(cfg: TrainConfig) -> keras.Model:
    inp = keras.Input((cfg.image_size, cfg.image_size, 1), name=INPUT_NAME)
    x = build_augmentation(cfg.augmentation, cfg.seed)(inp)
    x = build_seed_backbone(cfg.image_size, cfg.dropout, cfg.seed)(x)
    # The seed ended in Dense(1, sigmoid); a linear unit + BCE on logits is the same model.
    logit = layers.Dense(1, name="logit_dense")(x)
    return keras.Model(inp, logit, name="seed_cnn")


def _no_ensemble_training(cfg: TrainConfig) -> keras.Model:
    raise ValueError("an ensemble is not trained: combine finished runs with "
                     "'pneumonia-train ensemble --out DIR RUN RUN ...'")


BUILDERS = {"xraynet": build_xraynet, "seed_cnn": build_seed_cnn,
            "xraynet_ensemble": _no_ensemble_training}


def build_model(cfg: TrainConfig) -> keras.Model:
    try:
        builder = BUILDERS[cfg.architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {cfg.architecture!r}; choose one of "
                         f"{sorted(BUILDERS)}") from None
    if cfg.channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, received channels={cfg.channels}")
    return builder(cfg)


def build_export_model(model: keras.Model) -> keras.Model:
    """Inference graph with dict outputs for the converter, sharing the trained weights.

    Input ``image`` (S, S, 1) raw pixels 0..255; outputs ``logit`` (N, 1); ``cam`` (N, h, w)
    (only with a ``cam_head``; its spatial mean equals the logit); ``embedding`` (N, C).
    """
    size = model.input_shape[1]
    backbone = model.get_layer("backbone")
    inp = keras.Input((size, size, 1), name=INPUT_NAME)
    feat = backbone(inp)
    names = {layer.name for layer in model.layers}
    if "cam_head" in names:
        cam4 = model.get_layer("cam_head")(feat)
        logit = layers.GlobalAveragePooling2D(name="logit_pool")(cam4)
        h, w = cam4.shape[1], cam4.shape[2]
        cam = layers.Reshape((h, w), name="cam")(cam4)
        embedding = layers.GlobalAveragePooling2D(name="embedding_pool")(feat)
        outputs = {"logit": logit, "cam": cam, "embedding": embedding}
    elif "logit_dense" in names:
        logit = model.get_layer("logit_dense")(feat)
        outputs = {"logit": logit, "embedding": feat}
    else:
        raise ValueError(f"model {model.name!r} has neither 'cam_head' nor 'logit_dense'")
    return keras.Model(inp, outputs, name=f"{model.name}_export")


def compile_model(model: keras.Model, cfg: TrainConfig) -> None:
    if cfg.optimizer == "adamw":
        opt = keras.optimizers.AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
    loss = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
    model.compile(optimizer=opt, loss=loss)


def load_keras_model(path: Path, compile: bool = False) -> keras.Model:
    return keras.saving.load_model(path, compile=compile)
