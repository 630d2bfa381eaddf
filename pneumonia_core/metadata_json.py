"""Reading ``metadata.json`` safely: size- and depth-bounded JSON (no raw RecursionError), and
:class:`MetadataError`, the one error of a model's metadata. The lowest metadata module: it
imports nothing of the app, so :mod:`pneumonia_core.metadata` (the types) and
:mod:`pneumonia_core.metadata_checks` (the strict checks) both build on it without a cycle.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

#: metadata.json larger than this is refused unread (the shipped one is about 100 KB).
MAX_METADATA_BYTES = 8 * 1024 * 1024
#: Nesting depth of metadata.json (the schema uses 5).
MAX_JSON_DEPTH = 24


class MetadataError(ValueError):
    """metadata.json is missing, malformed or inconsistent with the model file."""


def _error(message: str) -> MetadataError:
    return MetadataError(message)


def read_metadata_json(path: Path) -> Any:
    """Parse ``path`` as JSON with bounded size and depth; :class:`MetadataError` otherwise."""
    return parse_metadata_json(read_metadata_bytes(path), path)


def read_metadata_bytes(path: Path) -> bytes:
    """The bytes of ``path``, refused unread above :data:`MAX_METADATA_BYTES`."""
    try:
        size = path.stat().st_size
        if size > MAX_METADATA_BYTES:
            raise _error(f"{path.name} is {size >> 20} MB, larger than any model metadata "
                         f"({MAX_METADATA_BYTES >> 20} MB at most); refusing to read it")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_METADATA_BYTES + 1)
    except FileNotFoundError:
        raise _error(f"Model metadata not found: {path}") from None
    except OSError as exc:
        raise _error(f"Cannot read {path}: {exc}") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise _error(f"{path.name} grew past {MAX_METADATA_BYTES >> 20} MB while it was read")
    return raw


def parse_metadata_json(raw: bytes, path: Path) -> Any:
    """``raw`` (the bytes of ``path``) as JSON, depth-bounded (no raw RecursionError)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(f"Cannot read {path}: {exc}") from None
    depth = max_bracket_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise _error(f"{path.name} is nested {depth} levels deep (at most {MAX_JSON_DEPTH}); "
                     "not model metadata")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise _error(f"{path.name} is nested too deeply; not model metadata") from None


#: A JSON string (an unterminated one runs to the end of the text), and a bracket.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.?)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def max_bracket_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting outside JSON strings (linear, no recursion; the scanning is
    done by two regular expressions, so a large metadata file costs microseconds, not the
    tens of milliseconds of a character loop on every start)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
