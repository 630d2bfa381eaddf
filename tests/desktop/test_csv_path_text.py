"""``csv_safe.path_text`` returns a name that needs no escape as it is (issue 21: the batch
command writes one per film) and escapes every other one as before, character by character."""

from __future__ import annotations

import os

import pytest

from desktop.csv_safe import path_text


@pytest.mark.skipif(os.name == "nt", reason="POSIX names: Windows paths are kept as they are")
def test_every_character_is_written_as_the_escaping_loop_writes_it() -> None:
    # A backslash always takes the character-by-character loop: it is the oracle.
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xDC80 and not 0xDD00 <= c < 0xE000]
    chars += [chr(c) for c in range(0x10000, 0x110000, 97)]
    kept = 0
    for ch in chars:
        name = f"/films/a{ch}b.jpeg"
        fast = path_text(name)
        assert fast + "\\\\" == path_text(name + "\\"), hex(ord(ch))
        kept += fast == name
    assert 60000 < kept < len(chars)  # most are kept; controls, \x80-\x9f, bytes are escaped
    assert path_text("/films/a\rb.png") == "/films/a\\rb.png"
    assert path_text(os.fsdecode(b"/films/\xff.png")) == "/films/\\xff.png"
    assert path_text("/films/x\\y.png") == "/films/x\\\\y.png"
    assert path_text("/films/NORMAL2-IM-1427-0001.jpeg") == "/films/NORMAL2-IM-1427-0001.jpeg"
