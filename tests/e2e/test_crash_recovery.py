"""A devhost killed with SIGKILL mid-backlog resumes on restart: one row per image, all terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness import Pipeline, image_bytes
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

BACKLOG = 120


def test_sigkill_mid_backlog_then_restart_converges(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    pipeline = pipeline_factory()
    names = [f"backlog/img-{i:04d}.png" for i in range(BACKLOG)]
    with ThreadPoolExecutor(8) as pool:
        etags = dict(
            zip(
                names,
                pool.map(
                    lambda n: pipeline.upload(n, image_bytes("PNG", (8 + int(n[-8:-4]), 8))), names
                ),
                strict=True,
            )
        )
    expected = set(etags.items())

    # Let some of the backlog complete, then kill the host with no chance to clean up.
    wait_until(
        lambda: len(pipeline.rows()) >= BACKLOG // 5,
        timeout=120,
        message=lambda: (
            f"{len(pipeline.rows())} rows before the kill\n" + pipeline.devhost.log_tail()
        ),
    )
    rows_at_kill = len(pipeline.rows())
    pipeline.devhost.kill()
    assert rows_at_kill < BACKLOG, "backlog finished before the kill; make it bigger"

    started = time.monotonic()
    pipeline.devhost.start()
    done = pipeline.wait_terminal(expected, timeout=300)
    converged = time.monotonic() - started
    print(f"\ncrash recovery: {rows_at_kill}/{BACKLOG} at kill, converged in {converged:.1f} s")

    assert {v["runtimeStatus"] for v in done.values()} == {"Completed"}
    rows = pipeline.rows()
    assert sorted(r["FileName"] for r in rows) == sorted(names)  # exactly one row per image
    assert {r["FileName"]: r["Width"] for r in rows} == {n: 8 + int(n[-8:-4]) for n in names}
