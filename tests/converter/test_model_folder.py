"""The one model-folder writer: checked before anything is written, metadata last, and the
refit/bench routes go through it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from converter import model_folder
from pneumonia_core.metadata import METADATA_FILE, MetadataError, ModelMetadata
from pneumonia_core.scope_arrays import ARRAYS_FILE
from tests.conftest import MODEL_DIR


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    out.mkdir()
    meta = ModelMetadata.load(MODEL_DIR)
    shutil.copy(MODEL_DIR / meta.file, out / meta.file)
    shutil.copy(MODEL_DIR / METADATA_FILE, out / METADATA_FILE)
    shutil.copy(MODEL_DIR / ARRAYS_FILE, out / ARRAYS_FILE)
    (out / model_folder.CARD_FILE).write_text("# Card\n\n## Out-of-scope inputs\nold\n\n## Next\nkept\n")
    return out


def test_write_round_trips_and_replaces_only_what_is_given(folder: Path) -> None:
    meta = model_folder.read_json(folder)
    meta["version"] = "9.9.9"
    card = model_folder.replace_card_section(
        (folder / model_folder.CARD_FILE).read_text(), "Out-of-scope inputs",
        "## Out-of-scope inputs\nnew\n\n")
    model_folder.write(folder, meta, validation={"x": 1}, card=card)
    assert ModelMetadata.load(folder).version == "9.9.9"
    assert json.loads((folder / model_folder.VALIDATION_FILE).read_text()) == {"x": 1}
    text = (folder / model_folder.CARD_FILE).read_text()
    assert "new" in text and "old" not in text and "## Next\nkept" in text
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize(("change", "error"), [
    (lambda m: m.update(sha256="0" * 64), ValueError),          # not the folder's model
    (lambda m: m["threshold"].update(value=1.5), MetadataError),  # the app would refuse it
    (lambda m: m.pop("outputs"), MetadataError),
])
def test_a_folder_the_app_would_refuse_is_never_written(folder: Path, change, error) -> None:
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    meta = model_folder.read_json(folder)
    change(meta)
    with pytest.raises(error):
        model_folder.write(folder, meta, validation={"x": 1}, card="new card")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing touched
