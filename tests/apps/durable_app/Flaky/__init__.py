"""Fails until it has been called `succeed_on` times (counted in a file)."""

from pathlib import Path


def main(payload: dict) -> str:
    counter = Path(payload["counter"])
    calls = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls < payload["succeed_on"]:
        raise ValueError(f"flaky failure {calls}")
    return f"ok after {calls}"
