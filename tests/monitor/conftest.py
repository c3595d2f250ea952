"""A hub with a few hundred instances for the monitor tests: stored, rejected and failed
(the database locked while some images were stored), plus a blob whose name is markup."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    Pipeline,
    image_bytes,
    pipeline_factory,  # noqa: F401 - shared fixture
)
from tests.waiting import wait_until

XSS_NAME = "<img src=x onerror=alert(1)>.png"
SKIPPED_NAME = "notes/readme.txt"  # the trigger starts nothing for it (issue 23)
GOOD = 240
REJECTED = 20
FAILED = 4


@dataclass
class Hub:
    pipeline: Pipeline
    etags: dict[str, str]
    failed: set[str]
    rejected: set[str]

    @property
    def base_url(self) -> str:
        return self.pipeline.devhost.base_url


def _sqlite_path(sql: str) -> Path:
    return Path(sql.split("Database=", 1)[1].split(";", 1)[0])


def _wait_failed(p: Pipeline, names: set[str], timeout: float = 150.0) -> None:
    def all_failed() -> bool:
        found = p.instances_for(names)
        return len(found) == len(names) and all(
            v["runtimeStatus"] == "Failed" for v in found.values()
        )

    wait_until(
        all_failed,
        timeout=timeout,
        interval=1.0,
        message=lambda: f"not all Failed: {p.devhost.log_tail()}",
    )


@pytest.fixture(scope="module")
def hub(pipeline_factory: Callable[..., Pipeline]) -> Iterator[Hub]:  # noqa: F811
    p = pipeline_factory()
    etags: dict[str, str] = {}
    lock = sqlite3.connect(_sqlite_path(p.sql), isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # StoreMetadata fails visibly after its retries
    try:
        failed = {f"locked/{i}.png" for i in range(FAILED)}
        rejected = {f"corrupt/{i:02d}.jpg" for i in range(REJECTED)}
        items: dict[str, bytes] = {n: image_bytes("PNG", (20 + i, 7)) for i, n in
                                   enumerate(sorted(failed))}  # fmt: skip
        items |= {n: b"not an image " + n.encode() for n in rejected}
        etags |= p.upload_many(items)
        _wait_failed(p, failed)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    good = {f"good/{i:04d}.png": image_bytes("PNG", (10 + i % 50, 5 + i % 7)) for i in range(GOOD)}
    good[XSS_NAME] = image_bytes("PNG", (3, 3))
    etags |= p.upload_many(good)
    p.upload(SKIPPED_NAME, b"not an image, and not named like one: no instance")
    p.wait_terminal(set(etags.items()), timeout=240)
    yield Hub(pipeline=p, etags=etags, failed=failed, rejected=rejected)


def instance_of(hub: Hub, name: str) -> dict[str, Any]:
    found = hub.pipeline.instances_for({name})
    return found[(name, hub.etags[name])]
