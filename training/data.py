"""Reading a Kermany-style folder, the patient-grouped validation split, and cached arrays.

Layout: ``<root>/{train,val,test}/{NORMAL,PNEUMONIA}/*`` (val/ and test/ optional). Images are
decoded ONLY through :func:`pneumonia_core.imageio.load_image`, the loader the app uses.

The validation split is carved out of train/: files are grouped by patient id (from the file
name) and by byte-identical content (SHA-256), groups are joined with union-find, and whole
groups go to one side, stratified by class and shuffled with the run's seed. The official
test split is never read by training or selection.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pneumonia_core.imageio import IMAGE_SUFFIXES, load_image

log = logging.getLogger(__name__)

LABELS = ("NORMAL", "PNEUMONIA")  # index 0 negative, 1 positive
SPLITS = ("train", "val", "test")
CACHE_VERSION = "1"

_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_", re.IGNORECASE),
    re.compile(r"^(NORMAL2-IM-\d+)-", re.IGNORECASE),
    re.compile(r"^(IM-\d+)-", re.IGNORECASE),
)


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute
    rel: str  # relative to the data root, POSIX separators
    label: int  # 0 NORMAL, 1 PNEUMONIA
    size: int  # bytes
    patient_key: str | None = None  # given by the source (a CSV's patient column), else None

    @property
    def patient(self) -> str:
        """The source's patient id when it gives one, else the one in the file name."""
        if self.patient_key is not None:
            return self.patient_key
        return patient_id(self.path.name)


def patient_id(filename: str) -> str:
    """Patient id from a Kermany file name: ``personN``, ``IM-NNNN`` or ``NORMAL2-IM-NNNN``.

    Names that match none of the patterns are their own patient (``file:<stem>``).
    """
    name = Path(filename).name
    for pattern in _PATIENT_PATTERNS:
        m = pattern.match(name)
        if m:
            return m.group(1)
    return "file:" + Path(name).stem


def scan_split(root: Path, split: str) -> list[Sample]:
    """All image files of ``root/split/{NORMAL,PNEUMONIA}``, sorted by relative path."""
    root = Path(root).resolve()
    base = root / split
    if not base.is_dir():
        raise FileNotFoundError(f"no {split}/ folder under {root}")
    samples = []
    for label_idx, label in enumerate(LABELS):
        d = base / label
        if not d.is_dir():
            log.warning("missing class folder %s", d)
            continue
        for p in sorted(d.iterdir()):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(p, p.relative_to(root).as_posix(), label_idx, p.stat().st_size))
    if not samples:
        raise FileNotFoundError(f"no images under {base}/{{NORMAL,PNEUMONIA}}")
    return sorted(samples, key=lambda s: s.rel)


def fingerprint(samples: Sequence[Sample]) -> str:
    """SHA-256 of the sorted relative file list with sizes (what the data set is; see
    :func:`pneumonia_core.provenance.data_fingerprint`)."""
    from pneumonia_core.provenance import data_fingerprint

    return data_fingerprint((s.rel, s.size) for s in samples)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_ids(samples: Sequence[Sample], hashes: Sequence[str] | None = None) -> list[int]:
    """A group index per sample: same patient or byte-identical content -> same group."""
    if hashes is None:
        hashes = [file_sha256(s.path) for s in samples]
    uf = _UnionFind(len(samples))
    first: dict[str, int] = {}
    for i, (s, h) in enumerate(zip(samples, hashes, strict=True)):
        for key in ("p:" + s.patient, "h:" + h):
            if key in first:
                uf.union(first[key], i)
            else:
                first[key] = i
    return [uf.find(i) for i in range(len(samples))]


def _groups_by_label(samples: Sequence[Sample], groups: Sequence[int]) -> dict[int, list[list[int]]]:
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    by_label: dict[int, list[list[int]]] = {0: [], 1: []}
    for g in sorted(members):
        idx = members[g]
        label = int(round(np.mean([samples[i].label for i in idx])))  # majority class
        by_label[label].append(idx)
    return by_label


def stratified_limit(samples: Sequence[Sample], limit: int, seed: int,
                     groups: Sequence[int]) -> list[Sample]:
    """At most ``limit`` samples, class proportions kept, whole groups only, seeded."""
    if limit >= len(samples):
        return list(samples)
    rng = np.random.default_rng(seed + 7919)
    chosen: list[int] = []
    for label, glist in _groups_by_label(samples, groups).items():
        n_label = sum(len(g) for g in glist)
        quota = int(round(limit * n_label / len(samples)))
        taken = 0
        for gi in rng.permutation(len(glist)):
            g = glist[gi]
            if taken + len(g) <= quota:
                chosen.extend(g)
                taken += len(g)
        log.debug("limit: class %d keeps %d of %d", label, taken, n_label)
    return sorted((samples[i] for i in chosen), key=lambda s: s.rel)


def grouped_split(samples: Sequence[Sample], val_fraction: float, seed: int,
                  hashes: Sequence[str] | None = None) -> tuple[list[Sample], list[Sample]]:
    """(train, val): whole patient/duplicate groups per side, stratified by class, seeded."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), received {val_fraction}")
    groups = group_ids(samples, hashes)
    rng = np.random.default_rng(seed)
    val_idx: set[int] = set()
    for _label, glist in sorted(_groups_by_label(samples, groups).items()):
        quota = val_fraction * sum(len(g) for g in glist)
        taken = 0
        for gi in rng.permutation(len(glist)):
            if taken >= quota:
                break
            val_idx.update(glist[gi])
            taken += len(glist[gi])
    train = [s for i, s in enumerate(samples) if i not in val_idx]
    val = [s for i, s in enumerate(samples) if i in val_idx]
    return train, val


def _loader_digest() -> str:
    """Hash of the loader's source: a changed decode/resize invalidates cached arrays."""
    import pneumonia_core.imageio as imageio

    return hashlib.sha256(Path(imageio.__file__).read_bytes()).hexdigest()[:16]


def load_arrays(paths: Sequence[Path | str], size: int, cache_dir: Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``(N, size, size)`` uint8 arrays through :func:`load_image`, cached on disk when asked.

    The cache file is keyed by the file list (path, size, mtime), the image size, the cache
    version and the loader's source, so a changed file or loader invalidates it.
    """
    paths = [Path(p) for p in paths]
    key = None
    if cache_dir is not None:
        h = hashlib.sha256(f"v{CACHE_VERSION}|{size}|{_loader_digest()}\n".encode())
        for p in paths:
            st = p.stat()
            h.update(f"{os.path.abspath(p)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        key = Path(cache_dir) / f"images_{size}_{h.hexdigest()[:24]}.npy"
        if key.is_file():
            arr = np.load(key)
            if arr.shape == (len(paths), size, size):
                log.info("loaded %d cached images from %s", len(paths), key)
                return arr
    out = np.empty((len(paths), size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = load_image(p, size)
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == len(paths)):
            progress(i + 1, len(paths))
    if key is not None:
        key.parent.mkdir(parents=True, exist_ok=True)
        tmp = key.with_suffix(".tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, key)
    return out


def default_cache_dir() -> Path:
    """``$PNEUMONIA_TRAIN_CACHE`` or ``~/.cache/pneumonia-xray/images`` (never in the repo)."""
    env = os.environ.get("PNEUMONIA_TRAIN_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "pneumonia-xray" / "images"
