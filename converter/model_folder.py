"""THE writer of a model folder's documents: ``metadata.json`` (with the guard's feature
statistics in ``scope_arrays.npy`` beside it, :mod:`pneumonia_core.scope_arrays`),
``validation.json`` and ``MODEL_CARD.md``, used by the converter, the guard refit (``scripts/refit_scope.py``,
:mod:`converter.scope_eval`) and the benchmark's other-precision models.

Checked: the metadata must parse as :class:`~pneumonia_core.metadata.ModelMetadata`, pass the
app's strict checks (:func:`pneumonia_core.metadata_checks.check_metadata`) and name the
SHA-256 of the folder's model file, before anything is written; a folder the app would refuse
is never produced. Atomic: every file is replaced by a rename (a crash leaves the old file or
the new one, never half of one), the metadata last, so a reader never sees new metadata with
the old validation or card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pneumonia_core import scope_arrays
from pneumonia_core.atomic_files import atomic_write_text
from pneumonia_core.metadata import METADATA_FILE, ModelMetadata, sha256_file
from pneumonia_core.metadata_checks import check_metadata

VALIDATION_FILE = "validation.json"
CARD_FILE = "MODEL_CARD.md"


def read_json(folder: str | Path, name: str = METADATA_FILE) -> dict[str, Any]:
    """A JSON document of the folder, as a dict (to edit and give back to :func:`write`); the
    metadata with the guard's statistics of their binary file put back inline, as lists
    (:func:`write` moves them out again)."""
    doc = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
    if name != METADATA_FILE:
        return doc
    return scope_arrays.attach_from_folder(doc, Path(folder), as_lists=True)


def checked_metadata(folder: str | Path, metadata: dict[str, Any] | ModelMetadata
                     ) -> ModelMetadata:
    """``metadata`` as the app will read it, refused (MetadataError, ValueError) when the app
    would refuse it or when it does not name the folder's model file's SHA-256."""
    meta = (metadata if isinstance(metadata, ModelMetadata)
            else ModelMetadata.from_dict(json.loads(json.dumps(metadata))))
    meta.validate()
    check_metadata(meta)
    model = Path(folder) / meta.file
    if not model.is_file():
        raise ValueError(f"{model} does not exist: metadata.json must describe the folder's model")
    if sha256_file(model) != meta.sha256:
        raise ValueError(f"{model.name} does not match the SHA-256 in {METADATA_FILE}")
    return meta


def write(folder: str | Path, metadata: dict[str, Any] | ModelMetadata | None = None,
          validation: dict[str, Any] | None = None, card: str | None = None) -> None:
    """Write the given documents into ``folder`` (checked first, then atomically, the
    metadata last). Documents left ``None`` are not touched."""
    folder = Path(folder)
    meta = None if metadata is None else checked_metadata(folder, metadata)
    if validation is not None:
        atomic_write_text(folder / VALIDATION_FILE,
                          json.dumps(validation, indent=2, default=float) + "\n")
    if card is not None:
        atomic_write_text(folder / CARD_FILE, card)
    if meta is not None:
        meta.save(folder)


def replace_card_section(card: str, heading: str, section: str) -> str:
    """``card`` with its ``## heading`` section (up to the next ``## ``) replaced by
    ``section``; unchanged when it has no such section."""
    start = card.find(f"## {heading}")
    if start < 0:
        return card
    end = card.find("\n## ", start + 1)
    end = len(card) if end < 0 else end + 1
    return card[:start] + section + card[end:]
