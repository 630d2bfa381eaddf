"""Shared fixtures: real data from ../shared/data when present, generated images otherwise."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.chest_like import chest_like_xray

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PNEUMONIA_DATA", ROOT.parent / "shared" / "data" / "chest_xray"))
#: The model under test: the shipped one, or a candidate named by PNEUMONIA_TEST_MODEL_DIR.
MODEL_DIR = Path(os.environ.get("PNEUMONIA_TEST_MODEL_DIR", ROOT / "resources" / "model"))


def synthetic_xray(seed: int, size: tuple[int, int] = (256, 224), pneumonia: bool = False) -> np.ndarray:
    """A generated chest-film-like grey image (see :mod:`bench.chest_like`): lung fields,
    mediastinum, ribs; pneumonia adds a bright patch in one lung. The out-of-scope guard,
    fitted on real films, accepts it, so pipeline tests get ``ok`` rows."""
    return chest_like_xray(seed, size=size, pneumonia=pneumonia)


def simple_xray(seed: int, size: tuple[int, int] = (256, 224), pneumonia: bool = False) -> np.ndarray:
    """Two dark 'lung fields' in a bright noisy frame; pneumonia adds a strong bright blob.
    An easy task for tiny models (converter tests). The out-of-scope guard fitted on real
    films rejects it (too noisy): use :func:`synthetic_xray` for pipeline tests."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    img = 180 + 20 * rng.standard_normal((h, w))
    for cx in (0.32 * w, 0.68 * w):
        lung = ((xx - cx) / (0.16 * w)) ** 2 + ((yy - 0.5 * h) / (0.3 * h)) ** 2 < 1
        img[lung] -= 110
    if pneumonia:
        cx = (0.32 if rng.random() < 0.5 else 0.68) * w
        blob = ((xx - cx) / (0.08 * w)) ** 2 + ((yy - 0.6 * h) / (0.1 * h)) ** 2 < 1
        img[blob] += 90
    return np.clip(img, 0, 255).astype(np.uint8)


def make_kermany_tree(root: Path, n_per_class: int = 12, splits=("train", "val")) -> Path:
    """Write a small Kermany-style tree with realistic file names (patient ids repeat)."""
    for split in splits:
        for label in ("NORMAL", "PNEUMONIA"):
            d = root / split / label
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                seed = zlib.crc32(f"{split}/{label}/{i}".encode())
                arr = synthetic_xray(seed, pneumonia=label == "PNEUMONIA")
                patient = i // 2  # two images per patient
                name = (f"IM-{patient:04d}-{i % 2 + 1:04d}.jpeg" if label == "NORMAL"
                        else f"person{patient}_bacteria_{i}.jpeg")
                if split != "train":
                    name = f"{split}-{name}"
                Image.fromarray(arr).save(d / name, quality=90)
    return root


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Kermany folder when available, else a generated one."""
    if (SHARED_DATA / "train").is_dir():
        return SHARED_DATA
    return make_kermany_tree(tmp_path_factory.mktemp("kermany"))


@pytest.fixture(scope="session")
def small_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Always generated: a small tree for fast training tests."""
    return make_kermany_tree(tmp_path_factory.mktemp("kermany_small"))


@pytest.fixture(scope="session")
def full_res_images() -> list[Path]:
    """The 16 full-resolution official val images, or generated large JPEGs."""
    real = sorted((SHARED_DATA / "val").glob("*/*.jpeg"))
    if real:
        return real
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "pneumonia_fullres"
    out.mkdir(exist_ok=True)
    paths = []
    for i in range(4):
        p = out / f"gen_{i}.jpeg"
        if not p.exists():
            Image.fromarray(synthetic_xray(i, size=(1500, 1200), pneumonia=i % 2 == 1)).save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return MODEL_DIR


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh app home (PNEUMONIA_XRAY_HOME) per test; the model comes from the default folder.

    The desktop-app tests use it for every test: ``pytest.mark.usefixtures("home")``.
    """
    h = tmp_path / "home"
    monkeypatch.setenv("PNEUMONIA_XRAY_HOME", str(h))
    # no trusted keys of this machine's IT (issue 23): a test profile is accepted unsigned
    monkeypatch.setenv("PNEUMONIA_XRAY_MACHINE_CONFIG_DIR", str(tmp_path / "machine-config"))
    monkeypatch.delenv("PNEUMONIA_XRAY_MODEL_DIR", raising=False)
    return h


@pytest.fixture(scope="session", autouse=True)
def _no_writes_to_the_real_user_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test that does not choose an app home (``home``) gets a session-wide temporary
    one: the batch command audits each run in the app's data file, which must never be the
    real user's."""
    if not os.environ.get("PNEUMONIA_XRAY_HOME"):
        os.environ["PNEUMONIA_XRAY_HOME"] = str(tmp_path_factory.mktemp("app-home"))
    # nor the machine's own settings (/etc/pneumonia-xray): an empty machine folder
    if not os.environ.get("PNEUMONIA_XRAY_MACHINE_CONFIG_DIR"):
        os.environ["PNEUMONIA_XRAY_MACHINE_CONFIG_DIR"] = str(tmp_path_factory.mktemp("etc"))
