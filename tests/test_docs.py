"""The README stays a ten-minute introduction and every page under docs/ is reachable from it;
relative links in the README and docs/ point at files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MAX_LINES = 200


def _relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text(encoding="utf-8"))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / t.split("#")[0]).resolve() for t in _relative_links(README)}
    assert DOCS, "docs/ holds no page"
    missing = [p.name for p in DOCS if p.resolve() not in linked]
    assert missing == [], "add these to the README's 'Where to go next'"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_to_existing_files(page: Path) -> None:
    broken = [t for t in _relative_links(page) if not (page.parent / t.split("#")[0]).exists()]
    assert broken == []


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_absolute_path_of_the_development_machine(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"(?<![\w.])/(?:work|root|home/\w+)/\S*", text) == []
