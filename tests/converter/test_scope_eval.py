"""The model card's out-of-scope figures, reproduced with the model in resources/model through
the real pipeline (converter.scope_eval.evaluate_scope) on a bounded validation sample.

The validation split is the training code's patient-grouped split with its default fraction
and seed. When the shipped metadata has no fitted image statistics (the development
placeholder), they are fitted on TRAINING images of that split only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converter.model_card import scope_markdown
from converter.scope_eval import OOD_TARGET, VAL_TARGET, evaluate_scope, with_pixel_stats
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import SHARED_DATA
from training.config import TrainConfig
from training.data import grouped_split, scan_split

VAL_SAMPLE = 300
FIT_IMAGES = 1000


@pytest.fixture(scope="module")
def measured(data_root: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    cfg = TrainConfig()
    train, val = grouped_split(scan_split(data_root, "train"), cfg.val_fraction, cfg.seed)
    model = model_dir
    if not ModelMetadata.load(model_dir).scope.get("pixels"):
        pick = np.random.default_rng(0).permutation(len(train))[:FIT_IMAGES]
        model = with_pixel_stats(model_dir, [train[i].path for i in sorted(pick)],
                                 tmp_path_factory.mktemp("model"))
    real = (SHARED_DATA / "train").is_dir()
    pick = np.random.default_rng(1).permutation(len(val))[:VAL_SAMPLE]
    val_paths = [val[i].path for i in sorted(pick)] if real else []
    return evaluate_scope(model, val_paths, corpus_dir=tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
def test_guard_catches_at_least_95_percent_of_non_chest_inputs(measured: dict) -> None:
    assert measured["ood_total"] >= 100
    assert measured["ood_errors"] == 0, measured["ood_missed"]
    assert measured["ood_caught_fraction"] >= OOD_TARGET, scope_markdown(measured)
    assert measured["ood_caught"] == sum(c["caught"] for c in measured["by_category"].values())


@pytest.mark.slow
def test_guard_rejects_at_most_1_percent_of_validation_xrays(measured: dict) -> None:
    if not (SHARED_DATA / "train").is_dir():
        pytest.skip(f"real validation X-rays needed ({SHARED_DATA} absent)")
    assert measured["val_total"] >= 0.95 * VAL_SAMPLE
    assert measured["val_rejected_fraction"] <= VAL_TARGET, measured["val_rejected_files"]
    assert measured["passed"]
    table = scope_markdown(measured)
    assert f"{measured['ood_caught']}/{measured['ood_total']}" in table
