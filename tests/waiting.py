"""The one way tests wait for something that happens in another process: poll a predicate until
it holds or a deadline passes. The deadline is a failure bound, never an assertion on timing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 60.0,
    interval: float = 0.2,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """The predicate's first truthy value; AssertionError with `message` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (after {timeout:g} s)")
        time.sleep(interval)
