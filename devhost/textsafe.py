"""Text from outside (blob names, instance ids, reasons) made safe for a terminal or a log.

A blob name is chosen by whoever uploads it. Printed raw, ESC sequences repaint the terminal
or hide lines, CR and LF forge log lines, and bidi controls (U+202E) make `gnp.exe` read as
`exe.png`. `escape` writes every control, format and separator character as a visible escape
(`\\x1b`, `\\r`, `\\u202e`), leaves all other text as it is, and is idempotent (its output
holds none of the characters it escapes), so a name escaped at its source and again by the
log formatter reads the same. `SafeFormatter` applies it to every log record devhost writes.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

# Cc: C0/C1 controls and DEL; Cf: format characters (bidi embeddings, overrides and
# isolates, zero-width characters, BOM, tag characters); Cs: lone surrogates (undecodable
# bytes); Zl/Zp: the line and paragraph separators some terminals honour.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_CANDIDATE = re.compile(r"[^\x20-\x7e]")  # printable ASCII is never escaped
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _replace(match: re.Match[str]) -> str:
    ch = match.group()
    if unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
        return ch
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(value: Any) -> str:
    """`value` as text with control, bidi/format and separator characters escaped."""
    return _CANDIDATE.sub(_replace, value if isinstance(value, str) else str(value))


def escape_lines(value: Any) -> str:
    """Like `escape`, keeping line breaks (a failure's multi-line text, shown as a block)."""
    text = value if isinstance(value, str) else str(value)
    return "\n".join(escape(line) for line in text.splitlines())


class SafeFormatter(logging.Formatter):
    """A Formatter whose message and exception text go through `escape`: one record is one
    line whatever its arguments hold (a traceback keeps its own line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return escape_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return escape_lines(stack_info)
