"""The guard's feature statistics in their binary file beside metadata.json (issue 22: 628 kB
of JSON parsed on every start): written by the one model-folder writer, covered by the
folder's integrity like metadata.json, bit for bit the numbers the inline JSON held, and
older folders with the numbers inline still load with the same verdicts."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from converter import model_folder
from pneumonia_core import scope, scope_arrays
from pneumonia_core.integrity import IntegrityError, build_pin, verify_folder
from pneumonia_core.metadata import METADATA_FILE, ModelMetadata
from pneumonia_core.model import ModelBundle, ModelError
from pneumonia_core.pipeline import classify_file
from pneumonia_core.scope_arrays import ARRAYS_FILE
from tests.conftest import MODEL_DIR, SHARED_DATA, synthetic_xray


def _copy(tmp_path: Path, name: str = "model") -> Path:
    folder = tmp_path / name
    shutil.copytree(MODEL_DIR, folder)
    return folder


def _inline_copy(tmp_path: Path) -> Path:
    """A copy of the shipped folder as earlier versions wrote it: the arrays inline in
    metadata.json, no binary file."""
    folder = _copy(tmp_path, "inline")
    doc = model_folder.read_json(folder)
    (folder / ARRAYS_FILE).unlink()
    (folder / METADATA_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return folder


def _films(tmp_path: Path) -> list[Path]:
    films = sorted((SHARED_DATA / "val").glob("*/*.jpeg"))[:3]
    if films:
        return films
    out = []
    for seed in range(3):  # no shared data (a bare checkout): generated films
        out.append(tmp_path / f"film{seed}.png")
        Image.fromarray(synthetic_xray(seed)).save(out[-1])
    return out


def test_the_shipped_folder_keeps_the_arrays_in_the_binary_file() -> None:
    raw = json.loads((MODEL_DIR / METADATA_FILE).read_text(encoding="utf-8"))
    ref = scope_arrays.reference(raw["scope"])
    assert ref is not None and ref["file"] == ARRAYS_FILE
    assert "embedding_mean" not in raw["scope"]
    assert "components" not in raw["scope"]["embedding_pattern"]
    assert (MODEL_DIR / METADATA_FILE).stat().st_size < 200_000  # it was 628 kB
    meta = ModelMetadata.load(MODEL_DIR)
    assert meta.scope["embedding_pattern"]["components"].shape == (
        len(meta.scope["embedding_pattern"]["scale"]), len(meta.scope["embedding_mean"]))
    assert scope_arrays.REFERENCE_KEY not in meta.scope


def test_split_and_attach_give_back_every_number_bit_for_bit() -> None:
    inline = model_folder.read_json(MODEL_DIR)["scope"]
    assert isinstance(inline["embedding_mean"], list)
    moved, data = scope_arrays.split(inline)
    assert data is not None and "embedding_std" not in moved
    back = scope_arrays.attach(moved, data, as_lists=True)
    assert back == inline  # exact float equality: float64 holds every JSON double
    arrays = scope_arrays.attach(moved, data)
    assert arrays["embedding_std"].dtype == np.float64
    assert np.array_equal(arrays["embedding_pattern"]["components"],
                          np.asarray(inline["embedding_pattern"]["components"]))


def test_loaded_metadata_compares_and_serialises_as_its_document() -> None:
    """The arrays from the binary file compare number by number and serialise as lists, as
    the inline document's do."""
    loaded = ModelMetadata.load(MODEL_DIR)
    inline = ModelMetadata.from_dict(model_folder.read_json(MODEL_DIR))
    assert isinstance(loaded.scope["embedding_std"], np.ndarray)
    assert loaded == inline
    assert ModelMetadata.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded
    changed = ModelMetadata.load(MODEL_DIR)
    changed.scope["embedding_pattern"]["components"] = \
        changed.scope["embedding_pattern"]["components"] + 1e-12
    assert changed != loaded


def test_the_writer_moves_the_arrays_out_and_reads_them_back(tmp_path: Path) -> None:
    folder = _inline_copy(tmp_path)
    doc = model_folder.read_json(folder)
    model_folder.write(folder, doc)
    assert (folder / ARRAYS_FILE).is_file()
    assert scope_arrays.reference(json.loads((folder / METADATA_FILE).read_text())["scope"])
    assert model_folder.read_json(folder) == doc
    # a scope without feature statistics leaves no binary file of an earlier save behind
    meta = ModelMetadata.load(folder)
    meta.scope = {}
    meta.save(folder)
    assert not (folder / ARRAYS_FILE).exists()


def test_an_older_folder_with_inline_arrays_gives_the_same_results(tmp_path: Path) -> None:
    """Same guard verdicts, distances, probabilities and heat maps from either kind."""
    new = ModelBundle.load(MODEL_DIR)
    old = ModelBundle.load(_inline_copy(tmp_path))
    assert new.verified and not old.verified
    for film in _films(tmp_path):
        a, b = classify_file(film, new, 0.5), classify_file(film, old, 0.5)
        assert (a.status, a.probability, a.message) == (b.status, b.probability, b.message)
    emb = new.predict(np.full((new.input_size,) * 2, 100, np.uint8)).embedding
    assert emb is not None
    assert scope.feature_distance(emb, new.metadata.scope) == scope.feature_distance(
        emb, old.metadata.scope)
    assert scope.feature_pattern_distances(emb, new.metadata.scope) == \
        scope.feature_pattern_distances(emb, old.metadata.scope)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-8] ^= 0x01  # a bit of the last number (the header stays readable)
    path.write_bytes(bytes(data))


def test_an_edited_binary_file_in_the_shipped_folder_is_refused_as_tampered(
        tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _flip_a_byte(folder / ARRAYS_FILE)
    with pytest.raises(IntegrityError, match=r"altered: changed: scope_arrays\.npy"):
        verify_folder(folder, build_pin(), shipped=True)


def test_an_edited_binary_file_is_refused_in_any_folder(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _flip_a_byte(folder / ARRAYS_FILE)
    with pytest.raises(ModelError, match=r"scope_arrays\.npy does not match the SHA-256"):
        ModelBundle.load(folder)


@pytest.mark.parametrize(("edit", "refusal"), [
    (lambda f: (f / ARRAYS_FILE).unlink(), r"scope_arrays\.npy is missing"),
    (lambda f: _rewrite(f, np.array([{"x": 1}], dtype=object)), r"not a readable \.npy"),
    (lambda f: _rewrite(f, np.zeros((3, 4), np.float32)), r"must hold a float64 matrix"),
    (lambda f: _rewrite(f, np.zeros((3, 768))), r"does not fit scope_arrays\.npy \(3 rows\)"),
    (lambda f: _edit_json(f, lambda s: s.update(embedding_mean=[0.0] * 768)),
     r"scope\.embedding_mean is given both inline and in scope_arrays\.npy"),
    (lambda f: _edit_json(f, lambda s: s["arrays"].update(file="../model.tflite")),
     r"scope\.arrays must name scope_arrays\.npy"),
])
def test_a_broken_binary_file_or_reference_is_refused(tmp_path: Path, edit, refusal) -> None:
    folder = _copy(tmp_path)
    edit(folder)
    with pytest.raises(ModelError, match=refusal):
        ModelBundle.load(folder)


def _rewrite(folder: Path, array: np.ndarray) -> None:
    """The binary file replaced by ``array``, and metadata.json's SHA-256 of it updated (an
    edit made with care: only the file's own checks can refuse it)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    (folder / ARRAYS_FILE).write_bytes(buf.getvalue())
    import hashlib

    _edit_json(folder, lambda s: s["arrays"].update(
        sha256=hashlib.sha256(buf.getvalue()).hexdigest()))


def _edit_json(folder: Path, change) -> None:
    doc = json.loads((folder / METADATA_FILE).read_text())
    change(doc["scope"])
    (folder / METADATA_FILE).write_text(json.dumps(doc))
