"""The streamed input: the app's pixels, every film once per epoch, bounded shuffling, and the
same weights as the former in-memory array code (the shipped recipe's numerics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pneumonia_core.imageio import load_image
from training import data as D
from training import stream as S


def _batches(ds) -> list[tuple[np.ndarray, ...]]:
    return [tuple(np.asarray(t) for t in b) for b in ds]


def test_every_mode_feeds_the_app_loaders_pixels(tmp_path: Path, data_root: Path,
                                                 full_res_images: list[Path]) -> None:
    """Batches hold exactly load_image's pixels, in memory, streamed and through the TFRecord
    cache, for 224 px training films and full-resolution films."""
    files = [s.path for s in D.scan_split(data_root, "train")[:5]] + full_res_images[:2]
    size = 96
    expected = np.stack([load_image(f, size) for f in files])[..., None]
    labels = np.arange(len(files), dtype=np.float32)  # the label says which film it is
    order = np.random.default_rng(0).permutation(len(files))
    memory = S.Films(files, size, D.load_arrays(files, size))
    for films in (memory, S.Films(files, size)):
        xs, ys = zip(*_batches(S.epoch_dataset(films, labels, order, 3)), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.dtype == np.uint8 and x.shape == (len(files), size, size, 1)
        np.testing.assert_array_equal(y, labels[order])
        np.testing.assert_array_equal(x, expected[order])
        pred = np.concatenate([np.asarray(b) for b in S.predict_dataset(films, batch_size=4)])
        np.testing.assert_array_equal(pred, expected)
    shards = S.tfrecord_cache(files, size, tmp_path, shard_films=3)
    assert len(shards) == 3 and all(p.is_file() for p in shards)
    xs, ys = zip(*_batches(S.tfrecord_dataset(shards, labels, size, 4, seed=1, epoch=0)),
                 strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert sorted(y.tolist()) == labels.tolist()  # every film exactly once
    np.testing.assert_array_equal(x, expected[y.astype(int)])
    in_order = np.concatenate([b[1] for b in _batches(
        S.tfrecord_dataset(shards, labels, size, 4, seed=1, epoch=0, shuffle=False))])
    np.testing.assert_array_equal(in_order, labels)
    # the cache is reused while the files are unchanged; a changed file makes a new one
    mtimes = [p.stat().st_mtime_ns for p in shards]
    assert S.tfrecord_cache(files, size, tmp_path, shard_films=3) == shards
    assert [p.stat().st_mtime_ns for p in shards] == mtimes


def test_tfrecord_shuffle_is_seeded_bounded_and_resumable(tmp_path: Path) -> None:
    from PIL import Image

    files = []
    for i in range(40):
        p = tmp_path / "films" / f"f{i:03d}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.full((32, 32), i * 6, np.uint8)).save(p)
        files.append(p)
    labels = np.arange(40, dtype=np.float32)
    shards = S.tfrecord_cache(files, 32, tmp_path / "cache", shard_films=8)

    def order(epoch: int, buffer: int = 8, skip: int = 0) -> list[int]:
        ds = S.tfrecord_dataset(shards, labels, 32, 4, seed=7, epoch=epoch, shuffle_buffer=buffer,
                                skip_batches=skip)
        return [int(v) for b in ds for v in np.asarray(b[1])]

    e0 = order(0)
    assert sorted(e0) == list(range(40)) and e0 != list(range(40))
    assert order(0) == e0 and order(1) != e0  # seeded per epoch
    assert order(0, skip=3) == e0[12:]  # a resumed epoch continues where it stopped
    # a buffer of one film shuffles nothing within a shard: only the seeded shard order moves
    unshuffled = order(0, buffer=1)
    for k in range(5):
        in_shard = [i for i in unshuffled if i // 8 == k]
        assert in_shard == sorted(in_shard) and len(in_shard) == 8


def test_auto_mode_keeps_small_sets_in_memory() -> None:
    assert S.resolve_mode("auto", 5216, 224) == "memory"
    assert S.resolve_mode("auto", 200_000, 224) == "tfrecord"
    assert S.resolve_mode("stream", 10, 224) == "stream"
    with pytest.raises(ValueError, match="input mode"):
        S.resolve_mode("ram", 10, 224)


def _reference_weights(cfg, prep, epochs: int) -> list[np.ndarray]:
    """The training loop as it was before streaming (training/train.py at 22cd7d3): numpy
    arrays, ``model.fit(x[order], ...)``, mixup on the whole ordered array."""
    from training.model import build_model, compile_model
    from training.train import (
        class_weights,
        lr_at,
        mixup,
        reseed_random_layers,
        sample_weights,
        seed_everything,
    )

    seed_everything(cfg.seed)
    model = build_model(cfg)
    compile_model(model, cfg)
    x = D.load_arrays([s.path for s in prep.train], cfg.image_size)[..., None]
    y = np.array([s.label for s in prep.train], dtype=np.float32)
    weights = class_weights(y, cfg.class_weighting)
    for epoch in range(epochs):
        model.optimizer.learning_rate.assign(lr_at(cfg, epoch))
        reseed_random_layers(model, epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(y))
        if cfg.mixup_alpha > 0:
            xm, ym, wm = mixup(x[order], y[order], sample_weights(y[order], weights),
                               cfg.mixup_alpha, np.random.default_rng([cfg.seed, epoch, 1]))
            model.fit(xm, ym, sample_weight=wm, batch_size=cfg.batch_size, epochs=1,
                      shuffle=False, verbose=0)
        else:
            model.fit(x[order], y[order], batch_size=cfg.batch_size, epochs=1, shuffle=False,
                      class_weight=weights, verbose=0)
    return model.get_weights()


@pytest.mark.slow
@pytest.mark.parametrize(("mixup_alpha", "modes"), [(0.0, ("memory", "stream")), (0.4, ("stream",))])
def test_streamed_training_gives_the_former_array_codes_weights(
        tmp_path: Path, small_data_root: Path, mixup_alpha: float, modes: tuple[str, ...]) -> None:
    """Bit-identical weights: the former in-memory array loop vs the tf.data pipeline in memory
    and stream modes (acquisition augmentation on, 2 epochs; with and without mixup)."""
    from tests.training.training_helpers import tiny_config
    from training.model import load_keras_model
    from training.train import prepare_split, train

    cfg = tiny_config(epochs=2).with_overrides(mixup_alpha=mixup_alpha)
    expected = _reference_weights(cfg, prepare_split(small_data_root, cfg), epochs=2)
    for mode in modes:
        out = train(cfg, small_data_root, tmp_path / mode, input_mode=mode)
        got = load_keras_model(out / "last.keras").get_weights()
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=mode)
