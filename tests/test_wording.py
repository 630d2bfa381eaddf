"""Thresholds and probabilities are written shortly but never misleadingly (issue 16)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pneumonia_core.formatting import format_fraction as format_threshold
from pneumonia_core.formatting import format_pair
from tests.conftest import synthetic_xray


@pytest.mark.parametrize("value,text", [
    (0.3523422929329625, "0.3523"),
    (0.5, "0.5000"),
    (0.9999999999999999, "0.9999999999999999"),
    (0.99996, "0.99996"),
    (1e-9, "1e-09"),
    (0.00004, "4e-05"),
])
def test_threshold_text(value: float, text: str) -> None:
    assert format_threshold(value) == text
    assert float(format_threshold(value)) < 1.0


@pytest.mark.parametrize("p,t", [
    (0.99996, 0.99999), (0.99999, 0.99996), (0.35234, 0.35234), (0.352341, 0.352349),
    (1.0, 0.9999999999999999), (0.9999999999999999, 0.9999999999999999), (0.2, 0.35),
])
def test_pair_texts_compare_as_the_numbers(p: float, t: float) -> None:
    pt, tt = format_pair(p, t)
    assert (float(pt) < float(tt)) == (p < t)
    assert (float(pt) == float(tt)) == (p == t)
    assert len(pt.split(".")[-1]) >= 4


def test_classify_prints_a_threshold_just_below_one_exactly(tmp_path: Path) -> None:
    from desktop import batch

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(synthetic_xray(2)).save(folder / "a.png")
    err = io.StringIO()
    code = batch.main(["classify", str(folder), "--csv", str(tmp_path / "o.csv"),
                       "--threshold", "0.9999999999999999"], stdout=io.StringIO(), stderr=err)
    assert code == 0
    assert "threshold 0.9999999999999999:" in err.getvalue()
    assert "1.0000" not in err.getvalue().split("->")[0]
    row = (tmp_path / "o.csv").read_text().splitlines()[1]
    assert "threshold 0.9999999999999999" in row
