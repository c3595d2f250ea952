"""Issue 20 item 7: text from outside is escaped before it reaches a terminal or a log."""

from __future__ import annotations

import pytest

from imagemeta.textsafe import escape_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("evil\x1b[2J\x1b]0;pwned\x07.png", "evil\\x1b[2J\\x1b]0;pwned\\x07.png"),
        ("ok.png\rFAKE: all good", "ok.png\\x0dFAKE: all good"),
        ("nul\x00.gif", "nul\\x00.gif"),
        ("\u202egpj.exe", "\\u202egpj.exe"),  # RIGHT-TO-LEFT OVERRIDE: shows as exe.jpg
        ("isolate\u2066x\u2069.jpg", "isolate\\u2066x\\u2069.jpg"),
        ("line\u2028break.png", "line\\u2028break.png"),
        ("c1\x9b31m.jpg", "c1\\x9b31m.jpg"),  # 8-bit CSI
        ("del\x7f.jpg", "del\\x7f.jpg"),
        ("tab\tnew\nline", "tab\\x09new\\x0aline"),
    ],
)
def test_control_and_bidi_characters_are_escaped(raw: str, shown: str) -> None:
    out = escape_text(raw)
    assert out == shown
    assert out.isprintable()


def test_ordinary_text_is_unchanged_and_escaping_is_unambiguous() -> None:
    """Guards the other side: names people use print as they are; a literal backslash is
    doubled, so a name that spells `\\x1b` never looks like an escaped ESC."""
    for name in ("写真 2026-11-25.jpg", "ünïcødé.gif", "a/b/c (1).png", "emoji 👩‍👩‍👧.png"):
        assert escape_text(name) == name
    assert escape_text("lit\\x1b.png") == "lit\\\\x1b.png"
    assert escape_text("lit\\x1b.png") != escape_text("lit\x1b.png")


def test_limit_counts_the_raw_text() -> None:
    assert escape_text("a" * 10, limit=4) == "aaaa…"
    assert escape_text(12345) == "12345"
