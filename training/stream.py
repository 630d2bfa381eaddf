"""Training films as ``tf.data``: one pipeline whether the films sit in memory, are decoded from
their files as they are read, or come from a sharded on-disk cache (TFRecord).

Every pixel comes from :func:`pneumonia_core.imageio.load_image`, the loader the app uses
(``tests/training/test_stream.py`` proves the batches hold exactly its pixels). Input modes:

- ``memory``: every film decoded once (cached as ``.npy``, :func:`training.data.load_arrays`)
  and held in memory: for sets that fit (the Kermany train/ folder is about 260 MB at 224 px).
- ``stream``: each film decoded from its file when the pipeline reaches it, in parallel
  threads; memory does not grow with the set.
- ``tfrecord``: the films decoded once into sharded TFRecord files (:data:`SHARD_FILMS` films
  each, keyed by the file list and the loader like the ``.npy`` cache) and read back with the
  shards in a seeded order and a bounded shuffle buffer; memory does not grow with the set and
  an epoch costs no decoding.
- ``auto``: ``memory`` while the decoded set is at most :data:`MEMORY_BUDGET_BYTES`, else
  ``tfrecord``.

``memory`` and ``stream`` share everything but the fetch of one film: the epoch's order is a
seeded permutation of indices (as before streaming existed), a film is fetched by index, and
the batches are the ones ``model.fit`` saw on in-memory arrays, so a run gives bit-identical
weights in either mode (the test proves it against the former array code). ``tfrecord``
shuffles within a buffer instead, so its order, and its weights, differ (same distribution).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.imageio import load_image
from training import data as D

log = logging.getLogger(__name__)

INPUT_MODES = ("auto", "memory", "stream", "tfrecord")
#: ``auto`` keeps a set in memory up to this many decoded bytes (2 GiB: 40,000 films at 224 px).
MEMORY_BUDGET_BYTES = 2 * 1024 ** 3
#: Films per TFRecord shard (about 50 MB at 224 px).
SHARD_FILMS = 1024
#: Films held by the TFRecord mode's shuffle buffer (about 100 MB at 224 px).
SHUFFLE_BUFFER = 2048
TFRECORD_VERSION = "1"


def resolve_mode(mode: str, n_films: int, size: int) -> str:
    """The concrete input mode for ``auto`` (or ``mode`` itself, checked)."""
    if mode not in INPUT_MODES:
        raise ValueError(f"unknown input mode {mode!r}; choose one of {INPUT_MODES}")
    if mode != "auto":
        return mode
    return "memory" if n_films * size * size <= MEMORY_BUDGET_BYTES else "tfrecord"


def decode_film(path: Path | str, size: int) -> np.ndarray:
    """One film as the network sees it: ``(size, size, 1)`` uint8 from the app's loader."""
    return load_image(path, size)[..., None]


@dataclass
class MixupDraws:
    """One epoch's mixup draws (:func:`training.train.mixup`): per position of the epoch's
    order, the partner position and the blend weight; and the per-film loss weights."""

    partner: np.ndarray
    lam: np.ndarray
    weights: np.ndarray


class Films:
    """N films of one size fetched by index: from a decoded array (``memory``) or from their
    files (``stream``)."""

    def __init__(self, paths: Sequence[Path], size: int, array: np.ndarray | None = None) -> None:
        self.paths = [str(p) for p in paths]
        self.size = size
        self.array = array
        if array is not None and array.shape[:3] != (len(self.paths), size, size):
            raise ValueError(f"array of shape {array.shape} for {len(self.paths)} films at {size}")

    def __len__(self) -> int:
        return len(self.paths)

    def fetch(self, i: int) -> np.ndarray:
        if self.array is not None:
            return self.array[i].reshape(self.size, self.size, 1)
        return decode_film(self.paths[i], self.size)


def _options(tf: Any) -> Any:
    """Deterministic order; several workers each run the whole pipeline and keep their part
    of every global batch (DATA sharding), so a step sees the batch one device would see."""
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def epoch_dataset(films: Films, labels: np.ndarray, order: np.ndarray, batch_size: int, *,
                  skip_batches: int = 0, mixup: MixupDraws | None = None,
                  parallel: int | None = None) -> Any:
    """The batches of one epoch in ``order``: ``(x uint8, y)``, or with ``mixup`` the blended
    ``(x float32, y, sample_weight)`` exactly as :func:`training.train.mixup` computes them.
    ``skip_batches`` leaves out the epoch's first batches without fetching them (resume)."""
    import tensorflow as tf

    s = films.size
    order = np.asarray(order, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.float32)
    positions = np.arange(skip_batches * batch_size, len(order), dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices(positions)
    calls = parallel or tf.data.AUTOTUNE
    if mixup is None:
        def plain(j: np.int64) -> tuple[np.ndarray, np.float32]:
            i = order[j]
            return films.fetch(i), labels[i]

        def fetch_plain(j: Any) -> tuple[Any, Any]:
            x, y = tf.numpy_function(plain, [j], (tf.uint8, tf.float32), stateful=False)
            x.set_shape((s, s, 1))
            y.set_shape(())
            return x, y

        ds = ds.map(fetch_plain, num_parallel_calls=calls, deterministic=True)
    else:
        one = np.float32(1.0)

        def blended(j: np.int64) -> tuple[np.ndarray, np.float32, np.float32]:
            # training.train.mixup, one film: same float32 operations, so the same bits
            a, b = order[j], order[mixup.partner[j]]
            lam = mixup.lam[j]
            x = lam * films.fetch(a).astype(np.float32) + (one - lam) * films.fetch(b).astype(np.float32)
            y = lam * labels[a] + (one - lam) * labels[b]
            w = lam * mixup.weights[a] + (one - lam) * mixup.weights[b]
            return x, np.float32(y), np.float32(w)

        def fetch_mixed(j: Any) -> tuple[Any, Any, Any]:
            x, y, w = tf.numpy_function(blended, [j], (tf.float32, tf.float32, tf.float32),
                                        stateful=False)
            x.set_shape((s, s, 1))
            y.set_shape(())
            w.set_shape(())
            return x, y, w

        ds = ds.map(fetch_mixed, num_parallel_calls=calls, deterministic=True)
    return ds.batch(batch_size).prefetch(2).with_options(_options(tf))


def as_float(ds: Any) -> Any:
    """Batches with float32 films (exact for 0..255): for several workers, whose collective
    ops take no uint8 (Keras all-reduces a first batch when it builds the model)."""
    import tensorflow as tf

    return ds.map(lambda x, *rest: (tf.cast(x, tf.float32), *rest))


def predict_dataset(films: Films, batch_size: int = 64, parallel: int | None = None) -> Any:
    """All films in their order, batched, for ``model.predict`` (no labels)."""
    import tensorflow as tf

    s = films.size

    def fetch(i: Any) -> Any:
        x = tf.numpy_function(films.fetch, [i], tf.uint8, stateful=False)
        x.set_shape((s, s, 1))
        return x

    ds = tf.data.Dataset.from_tensor_slices(np.arange(len(films), dtype=np.int64))
    ds = ds.map(fetch, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(2).with_options(_options(tf))


# --- the sharded on-disk cache -------------------------------------------------------------


def _tfrecord_key(paths: Sequence[Path], size: int) -> str:
    h = hashlib.sha256(f"tfrecord v{TFRECORD_VERSION}|{size}|{D._loader_digest()}\n".encode())
    for p in paths:
        st = Path(p).stat()
        h.update(f"{os.path.abspath(p)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def tfrecord_cache(paths: Sequence[Path], size: int, cache_dir: Path, shard_films: int = SHARD_FILMS,
                   progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Shard files holding every film decoded by the app's loader, with its index in ``paths``;
    written once (decoding in parallel threads), then reused while the files, the size and the
    loader are unchanged. A shard is written under a temporary name and renamed when complete,
    so an interrupted write is redone, never read."""
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf

    folder = Path(cache_dir) / f"tfrecord_{size}_{_tfrecord_key(paths, size)}"
    n_shards = max(1, -(-len(paths) // shard_films))
    shards = [folder / f"shard-{k:05d}-of-{n_shards:05d}.tfrecord" for k in range(n_shards)]
    todo = [k for k, p in enumerate(shards) if not p.is_file()]
    if not todo:
        log.info("reading %d cached films from %d TFRecord shards in %s", len(paths), n_shards, folder)
        return shards
    folder.mkdir(parents=True, exist_ok=True)
    done = (n_shards - len(todo)) * shard_films
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        for k in todo:
            idx = range(k * shard_films, min(len(paths), (k + 1) * shard_films))
            tmp = shards[k].with_suffix(f".tmp{os.getpid()}")  # workers may share the cache
            with tf.io.TFRecordWriter(str(tmp)) as writer:
                for i, img in zip(idx, pool.map(lambda i: load_image(paths[i], size), idx),
                                  strict=True):
                    feature = {
                        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
                        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                    }
                    writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                                 .SerializeToString())
            os.replace(tmp, shards[k])
            done += len(idx)
            if progress is not None:
                progress(min(done, len(paths)), len(paths))
    return shards


def tfrecord_dataset(shards: Sequence[Path], labels: np.ndarray, size: int, batch_size: int,
                     seed: int, epoch: int, *, skip_batches: int = 0,
                     shuffle_buffer: int = SHUFFLE_BUFFER, shuffle: bool = True) -> Any:
    """One epoch from the shards: shard order drawn from ``(seed, epoch)``, films interleaved
    from up to 4 shards, then a shuffle buffer of ``shuffle_buffer`` films, seeded the same way.
    ``labels`` are indexed by the cache's film index. Without ``shuffle``: the cache's order
    (for prediction)."""
    import tensorflow as tf

    files = [str(p) for p in shards]
    rng = np.random.default_rng([seed, epoch, 2])
    if shuffle:
        files = [files[k] for k in rng.permutation(len(files))]
    label_table = tf.constant(np.asarray(labels, dtype=np.float32))
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "index": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record: Any) -> tuple[Any, Any]:
        ex = tf.io.parse_single_example(record, spec)
        x = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), (size, size, 1))
        return x, ex["index"]

    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)) if shuffle else 1,
                       block_length=16,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=int(rng.integers(2 ** 31)),
                        reshuffle_each_iteration=False)
    ds = ds.skip(skip_batches * batch_size)
    ds = ds.map(lambda x, i: (x, tf.gather(label_table, i)), num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True)
    return ds.batch(batch_size).prefetch(2).with_options(_options(tf))
