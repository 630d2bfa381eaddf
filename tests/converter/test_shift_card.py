"""The shipped card's acquisition-shift section is the one generated from the suite's results
file (bench/shift_results.json) for the shipped model: the figures have one source."""

from __future__ import annotations

import json

from converter.shift_card import (
    DEFAULT_DRAWS,
    DEFAULT_RESULTS,
    HEADING,
    entry_for,
    load_results,
    shift_section,
)
from pneumonia_core.metadata import ModelMetadata
from tests.conftest import ROOT


def test_the_shipped_card_section_is_generated_from_the_results_file() -> None:
    folder = ROOT / "resources" / "model"
    meta = ModelMetadata.load(folder)
    results = load_results(DEFAULT_RESULTS)
    held_out, every = (load_results(p) for p in DEFAULT_DRAWS)
    assert entry_for(results, meta.sha256) is not None, "run the suite on the shipped model"
    for draws in (held_out, every):
        assert draws is not None and draws["sha256"] == meta.sha256, "run bench.shift_draws on it"
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    section = "\n".join(shift_section(results, meta, [held_out, every]))
    assert card.count(f"## {HEADING}") == 1 and section in card
    assert section.count("independent draws") == 2
    # each table says which films it covers: the held-out half (every second film), then all
    assert "157 films each: every k-th film of test_public (--limit 157)" in section
    assert "314 films each: all of test_public" in section
    assert section.index("--limit 157") < section.index("all of test_public")
    # a draws file of another model file adds nothing
    other = dict(held_out, sha256="0" * 64)
    assert "\n".join(shift_section(results, meta, other)) == "\n".join(shift_section(results, meta))
    # no path of the measuring machine in the committed results
    for res in (results, held_out, every):
        text = json.dumps(res)
        assert "/work/" not in text and "/home/" not in text and "/tmp/" not in text
