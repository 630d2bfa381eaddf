"""The metadata depth guard (regular expressions, fast) against a plain character scan."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pneumonia_core.metadata_json import max_bracket_depth


def reference_depth(text: str) -> int:
    """The obvious character loop: brackets outside JSON strings, escapes honoured."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet='[]{}"\\a\n', max_size=60))
def test_depth_matches_a_character_scan(text: str) -> None:
    assert max_bracket_depth(text) == reference_depth(text)


def test_known_depths() -> None:
    assert max_bracket_depth('{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    assert max_bracket_depth('"[[[') == 0  # an unterminated string hides its brackets
    assert max_bracket_depth("[" * 500 + "]" * 500) == 500
