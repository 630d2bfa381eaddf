"""Fixtures of the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _restore_op_determinism():
    """Training enables TF op determinism process-wide; switch it back off for other tests."""
    yield
    try:
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    except (ImportError, AttributeError):
        pass
