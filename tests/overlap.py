"""How many calls of one async method were in flight at once, and in what order they ended.

Why one helper: tests that pin a concurrency rule (the real host's one-at-a-time scan claims,
the protocol floor's two claim orders) each need the same wrapper around a method; written
twice it is two places to get the counter's `finally` wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock


@dataclass
class Overlap:
    now: int = 0
    most: int = 0
    ended: list[tuple[Any, ...]] = field(default_factory=list)  # each call's arguments


@contextlib.contextmanager
def overlap_of(owner: type, method: str, *, delay: float = 0.0) -> Iterator[Overlap]:
    """Patch `owner.method` (an async method) to count calls in flight; `delay` seconds before
    each call leave room for a concurrent one to start."""
    seen = Overlap()
    original = getattr(owner, method)

    async def counted(self: object, *args: Any) -> Any:
        seen.now += 1
        seen.most = max(seen.most, seen.now)
        try:
            if delay:
                await asyncio.sleep(delay)
            return await original(self, *args)
        finally:
            seen.now -= 1
            seen.ended.append(args)

    with mock.patch.object(owner, method, counted):
        yield seen
