"""Fixtures of the reliability suite: the generated bad-input corpus and the model bundle."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.corpus import Case, build_corpus, remove_corpus


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[Path, Path, list[Case]]]:
    """(root, scanned folder, cases) in a temporary folder removed without recursion
    (pytest's own clean-up would recurse too deep). Tests that change files between listing
    and reading do so last (the batch test) or on hidden copies."""
    root = Path(tempfile.mkdtemp(prefix="pneumonia-corpus-"))
    try:
        folder, cases = build_corpus(root)
        yield root, folder, cases
    finally:
        remove_corpus(root)


@pytest.fixture(scope="session")
def bundle(model_dir: Path):  # -> ModelBundle
    from pneumonia_core.model import ModelBundle

    return ModelBundle.load(model_dir)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The corpus needs POSIX file types (FIFOs, sockets, symlinks, /dev); CI is Linux."""
    if os.name == "posix":
        return
    skip = pytest.mark.skip(reason="reliability corpus needs POSIX file types and tools")
    for item in items:
        if "tests/reliability" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)
