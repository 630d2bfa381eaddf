"""Intended-use tags (issue 21): adult ages and non-frontal views are recognised, every
spelling of a frontal pediatric film is not."""

from __future__ import annotations

import pytest

from pneumonia_core.intended_use import age_years, is_non_frontal, outside_intended_use


@pytest.mark.parametrize("value, years", [("045Y", 45), ("067Y", 67), ("003Y", 3),
                                          ("018M", 1.5), ("010W", 70 / 365.25),
                                          ("200D", 200 / 365.25), ("", None), ("45", None),
                                          ("abcY", None)])
def test_age_strings(value: str, years: float | None) -> None:
    got = age_years(value)
    assert got == pytest.approx(years) if years is not None else got is None


@pytest.mark.parametrize("view", ["LL", "RL", "LLAT", "RLAT", "LATERAL", "LAT", "LLD", "RLD",
                                  "LATERAL_DECUBITUS", "Left Lateral Decubitus", "R DECUB",
                                  "LAO", "RPO", "oblique"])
def test_non_frontal_views(view: str) -> None:
    assert is_non_frontal(view)
    reason = outside_intended_use({"ViewPosition": view})
    assert reason and view.strip() in reason and "not a frontal film" in reason


@pytest.mark.parametrize("tags", [{}, {"ViewPosition": "AP"}, {"ViewPosition": "PA"},
                                  {"PatientAge": "003Y", "ViewPosition": "AP"},
                                  {"PatientAge": "017Y"}, {"PatientAge": "garbage"},
                                  {"ViewPosition": "AP SUPINE"}, {"ViewPosition": "PLATE"}])
def test_frontal_pediatric_or_unstated_films_are_within_use(tags: dict[str, str]) -> None:
    assert outside_intended_use(tags) is None


def test_both_reasons_are_given_plainly() -> None:
    reason = outside_intended_use({"PatientAge": "067Y", "ViewPosition": "LLAT"})
    assert reason is not None
    assert reason.startswith("Outside the intended use: patient age 67 years (adult)")
    assert "view position LLAT" in reason and "Not scored" in reason
