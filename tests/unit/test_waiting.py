"""tests/waiting.py: the wait helper every waiting test relies on returns what it waited for and
fails saying what it waited for."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count(1)
    assert wait_until(lambda: [n] if (n := next(calls)) >= 3 else [], interval=0) == [3]


def test_timeout_names_the_condition_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"rows never came \(waited 0.01 s; last value: 0\)"):
        wait_until(lambda: 0, timeout=0.01, interval=0, message="rows never came")


def test_a_callable_message_is_read_only_on_timeout() -> None:
    reads: list[int] = []

    def tail() -> str:
        reads.append(1)
        return "log tail"

    assert wait_until(lambda: True, message=tail) is True
    assert reads == []
    with pytest.raises(AssertionError, match="log tail"):
        wait_until(lambda: None, timeout=0, message=tail)
    assert reads == [1]


def test_ignored_exceptions_mean_not_yet_and_others_propagate() -> None:
    calls = itertools.count(1)

    def flaky() -> str:
        if next(calls) < 3:
            raise FileNotFoundError("not yet")
        return "there"

    assert wait_until(flaky, interval=0, ignore=(FileNotFoundError,)) == "there"
    with pytest.raises(AssertionError, match="last value: FileNotFoundError"):
        wait_until(lambda: open("/nonexistent/x"), timeout=0, ignore=(OSError,))  # noqa: SIM115
    with pytest.raises(KeyError):
        wait_until(lambda: {}["x"], ignore=(OSError,))
