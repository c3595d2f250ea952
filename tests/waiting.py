"""The one way tests wait: poll an observable condition until it holds, or fail saying what.

Why one helper: the hand-written deadline loops it replaces each got an edge wrong somewhere
(one fell through on timeout and let the test go on, one never checked after its last sleep,
most failed with a bare `assert` that did not say what was awaited). A test waits on what it
can observe, never on a sleep long enough "usually"; under load only the wait gets longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str | Callable[[], str] = "",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `predicate` until it returns something truthy and return that value.

    On timeout raise AssertionError with `message` (a callable is called then, so a test can
    attach a log tail read at the moment of failure) and the last value seen. Exceptions of the
    types in `ignore` count as "not yet" (a blob not written yet, a port not listening yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value: T | BaseException = predicate()
        except ignore as e:
            value = e
        if value and not isinstance(value, BaseException):
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(
                f"{text or 'condition not met'} (waited {timeout:g} s; last value: {value!r})"
            )
        time.sleep(interval)
