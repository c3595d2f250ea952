"""Escaping for text from outside (blob names, EXIF strings, rejection reasons) before it is
printed to a terminal or written to a log.

A blob name may hold ESC (terminal escape sequences that recolour, retitle or rewrite the
screen), CR (a line that overwrites the previous one in a log viewer), NUL, or the Unicode
bidirectional controls (U+202E makes `gpj.exe` display as `exe.jpg`). Stored values stay
verbatim; only what is shown is escaped, so the row still names the real blob.

The escaped form is unambiguous: a backslash in the text is doubled, so a name that really
contains the four characters `\\x1b` prints as `\\\\x1b` and never looks like an escaped ESC.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls: \xNN, as Python's repr writes them.
_CONTROLS = {cp: f"\\x{cp:02x}" for cp in (*range(0x20), *range(0x7F, 0xA0))}
# Bidirectional formatting characters (Unicode TR9: embeddings, overrides, isolates, marks)
# and the line/paragraph separators some terminals and log viewers break lines on.
_BIDI_AND_SEPARATORS = (
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
)
_TABLE: dict[int, str] = {
    **_CONTROLS,
    **{cp: f"\\u{cp:04x}" for cp in _BIDI_AND_SEPARATORS},
    ord("\\"): "\\\\",
}


def escape_text(value: object, limit: int | None = None) -> str:
    """`value` as one line of inert text; at most `limit` characters of it (then "…")."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text.translate(_TABLE)
