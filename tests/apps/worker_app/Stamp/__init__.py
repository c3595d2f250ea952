"""An activity whose result json cannot encode; RUNS counts its runs."""

import datetime

RUNS: list[object] = []


def main(value: object) -> datetime.datetime:
    RUNS.append(value)
    return datetime.datetime(2026, 12, 2, 4, 0, tzinfo=datetime.UTC)
