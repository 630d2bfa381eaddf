"""The out-of-scope guard's feature statistics in a binary file beside ``metadata.json``.

The guard's per-feature arrays (``scope.embedding_mean``, ``scope.embedding_std`` and the
feature pattern's ``mean`` and ``components``: about 27,000 numbers for the shipped model)
made ``metadata.json`` 628 kB of decimal text, whose parsing cost every start of the app and
of a one-file ``classify`` about 6 ms (issue 22). The model-folder writer
(:meth:`pneumonia_core.metadata.ModelMetadata.save`, used by :mod:`converter.model_folder`)
therefore keeps them in :data:`ARRAYS_FILE`, one float64 ``.npy`` matrix (read without
pickle), and ``metadata.json`` names it with its SHA-256 and the rows of each array::

    "scope": {..., "arrays": {"file": "scope_arrays.npy", "sha256": "...",
                              "rows": {"embedding_mean": [0, 1, 1], ...}}}

(``[first row, end row, dimensions]``; a 1-D array is one row). The file is covered like every
file of the folder: the folder digest pinned in the build refuses an edited copy of the shipped
folder, and the SHA-256 in ``metadata.json`` refuses, in any folder, a file that is not the one
the metadata was written with. Loaded arrays are put back where ``metadata.json`` of earlier
folders held them inline (as float64 arrays), and such older folders still load unchanged.
float64 keeps every number bit for bit what the inline JSON held.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pneumonia_core.metadata_json import MetadataError

#: The sidecar's file name in a model folder.
ARRAYS_FILE = "scope_arrays.npy"
#: The key in ``metadata.json``'s ``scope`` that names the sidecar.
REFERENCE_KEY = "arrays"
#: The arrays kept in the sidecar, as paths in ``scope``, in row order.
FIELDS: tuple[tuple[str, ...], ...] = (
    ("embedding_mean",), ("embedding_std",),
    ("embedding_pattern", "mean"), ("embedding_pattern", "components"))
#: A sidecar larger than this is refused unread (the shipped one is about 215 kB).
MAX_ARRAYS_BYTES = 64 * 1024 * 1024


def _get(scope: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = scope
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _matrix(value: Any) -> np.ndarray | None:
    """``value`` as float64 rows (1-D: one row; 2-D: its rows), or None when it is not a
    non-empty numeric vector or matrix (left inline, where the strict checks name it)."""
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim not in (1, 2) or arr.size == 0:
        return None
    return arr.reshape(-1, arr.shape[-1])


def split(scope: Mapping[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """(``scope`` as ``metadata.json`` holds it, the sidecar's bytes): the arrays of
    :data:`FIELDS` moved into one ``.npy`` matrix and replaced by a reference; ``(scope,
    None)`` when there is nothing to move (no feature statistics, or arrays of different
    widths, which the app's checks refuse anyway)."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in scope.items()}
    out.pop(REFERENCE_KEY, None)
    blocks: list[np.ndarray] = []
    rows: dict[str, list[int]] = {}
    start = 0
    for path in FIELDS:
        value = _get(out, path)
        block = None if value is None else _matrix(value)
        if block is None:
            continue
        if blocks and block.shape[1] != blocks[0].shape[1]:
            return dict(scope), None
        blocks.append(block)
        rows[".".join(path)] = [start, start + block.shape[0], int(np.ndim(value))]
        start += block.shape[0]
    if not blocks:
        return dict(scope), None
    for name in rows:
        *parents, leaf = name.split(".")
        node = out
        for key in parents:
            node = node[key]
        del node[leaf]
    buf = io.BytesIO()
    np.save(buf, np.concatenate(blocks), allow_pickle=False)
    data = buf.getvalue()
    out[REFERENCE_KEY] = {"file": ARRAYS_FILE, "sha256": hashlib.sha256(data).hexdigest(),
                          "rows": rows}
    return out, data


def with_lists(value: Any) -> Any:
    """``value`` (a scope, or anything in it) with every array turned into nested lists: the
    document as ``metadata.json`` of the inline kind holds it (for JSON and comparisons)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: with_lists(v) for k, v in value.items()}
    return value


def reference(scope: Any) -> dict[str, Any] | None:
    """The sidecar reference of ``scope`` (None for a folder of the inline kind)."""
    ref = scope.get(REFERENCE_KEY) if isinstance(scope, Mapping) else None
    if ref is None:
        return None
    if not (isinstance(ref, Mapping) and ref.get("file") == ARRAYS_FILE
            and isinstance(ref.get("sha256"), str) and isinstance(ref.get("rows"), Mapping)):
        raise MetadataError(f"scope.{REFERENCE_KEY} must name {ARRAYS_FILE} with its sha256 "
                            f"and rows; received {ref!r}"[:300])
    return dict(ref)


def read_bytes(folder: Path) -> bytes:
    """The sidecar's bytes in ``folder``, refused unread when implausibly large."""
    path = folder / ARRAYS_FILE
    try:
        size = path.stat().st_size
        if size > MAX_ARRAYS_BYTES:
            raise MetadataError(f"{ARRAYS_FILE} is {size >> 20} MB, larger than any model's "
                                "guard statistics; refusing to read it")
        return path.read_bytes()
    except FileNotFoundError:
        raise MetadataError(f"{ARRAYS_FILE} is missing from the model folder {folder}, and "
                            "metadata.json needs it (the guard's feature statistics)") from None
    except OSError as exc:
        raise MetadataError(f"Cannot read {path}: {exc}") from None


def attach(scope: dict[str, Any], data: bytes, as_lists: bool = False,
           digest: str | None = None) -> dict[str, Any]:
    """``scope`` (from ``metadata.json``) with the arrays of the sidecar ``data`` put back in
    place of its reference (float64 arrays; Python lists with ``as_lists``, for a document
    to edit). ``digest``: the SHA-256 of ``data`` when already computed (the folder's
    verification hashed these very bytes). MetadataError when ``data`` is not the file the
    metadata names (SHA-256), is not a float64 matrix, or its rows do not fit, or when an
    array is also given inline."""
    ref = reference(scope)
    if ref is None:
        return scope
    if (digest or hashlib.sha256(data).hexdigest()) != ref["sha256"]:
        raise MetadataError(f"{ARRAYS_FILE} does not match the SHA-256 in metadata.json: it was "
                            "altered or belongs to another model; reinstall the application")
    try:
        matrix = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MetadataError(f"{ARRAYS_FILE} is not a readable .npy file: {exc}") from None
    if matrix.dtype != np.float64 or matrix.ndim != 2:
        raise MetadataError(f"{ARRAYS_FILE} must hold a float64 matrix; it holds "
                            f"{matrix.dtype} of shape {matrix.shape}")
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in scope.items()
           if k != REFERENCE_KEY}
    known = {".".join(p) for p in FIELDS}
    for name, span in ref["rows"].items():
        if name not in known or not (isinstance(span, list) and len(span) == 3
                                     and all(type(x) is int for x in span)
                                     and 0 <= span[0] < span[1] <= matrix.shape[0]
                                     and span[2] in (1, 2)
                                     and (span[2] == 2 or span[1] - span[0] == 1)):
            raise MetadataError(f"scope.{REFERENCE_KEY}.rows[{name!r}] = {span!r} does not fit "
                                f"{ARRAYS_FILE} ({matrix.shape[0]} rows)"[:300])
        block = matrix[span[0]:span[1]]
        value: Any = block[0] if span[2] == 1 else block
        value = value.tolist() if as_lists else value
        *parents, leaf = name.split(".")
        node = out
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if leaf in node:
            raise MetadataError(f"scope.{name} is given both inline and in {ARRAYS_FILE}")
        node[leaf] = value
    return out


def attach_from_folder(meta: Any, folder: Path, data: bytes | None = None,
                       as_lists: bool = False, digest: str | None = None) -> Any:
    """``meta`` (the parsed ``metadata.json`` of ``folder``) with its sidecar attached (read
    from ``folder`` unless its bytes ``data``, and maybe their ``digest``, are given);
    unchanged when it names none."""
    if not isinstance(meta, dict) or reference(meta.get("scope")) is None:
        return meta
    if data is None:
        data, digest = read_bytes(folder), None
    return {**meta, "scope": attach(meta["scope"], data, as_lists, digest)}
