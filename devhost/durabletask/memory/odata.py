"""The slice of OData `$filter` the task hub's own queries use (and, or, parentheses, eq/ne/
ge/gt/le/lt on strings and datetime literals), evaluated over in-memory rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(r"\s*(\(|\)|datetime'[^']*'|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*|-?\d+)")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported filter at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _value(token: str) -> Any:
    if token.startswith("datetime'"):
        return datetime.fromisoformat(token[9:-1].replace("Z", "+00:00"))
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    if token in ("true", "false"):
        return token.startswith("t")
    return int(token)


def compile_filter(text: str | None) -> Predicate:
    if not text:
        return lambda row: True
    tokens = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def expr() -> Predicate:
        left = term()
        while peek() == "or":
            take()
            left = _either(left, term())
        return left

    def term() -> Predicate:
        left = factor()
        while peek() == "and":
            take()
            left = _both(left, factor())
        return left

    def factor() -> Predicate:
        if peek() == "(":
            take()
            inner = expr()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return inner
        field, op, value = take(), take(), _value(take())
        compare = _OPS[op]
        return lambda row: compare(row.get(field), value)

    predicate = expr()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens in filter: {tokens[pos:]}")
    return predicate


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)
