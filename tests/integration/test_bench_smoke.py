"""Bench smoke: the protocol floor and the request ledger run end to end on a few images.

The figures themselves are `make bench`'s (noisy, machine-dependent, never asserted); what is
pinned here is what they rest on: the floor issues the pipeline's requests, and devhost issues
no kind of request the real stack (DurableTask.AzureStorage + WebJobs blob trigger) does not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.durableperf import Scenario, run_scenario
from bench.images import small_image
from bench.ledger import REAL, classify, parse
from bench.pipeline import upload_all
from bench.protocol import Claims, FloorRun, protocol_floor
from bench.sections import bench_ledger, fresh_azurite, images_container
from tests.overlap import overlap_of

pytestmark = pytest.mark.e2e

# Per image, whatever the load: the checkpoints, activities and trigger steps.
EXACT = {
    "History: $batch (history rows + sentinel)": 3,
    "Instances: insert": 1,
    "Instances: update (PUT or MERGE)": 3,
    "control queue: send": 3,
    "control queue: delete": 3,
    "work-item queue: send": 2,
    "work-item queue: delete": 2,
    "blob-trigger queue: send": 1,
    "blob-trigger queue: delete": 1,
    "receipt: create (If-None-Match *)": 1,
    "receipt: set metadata (complete)": 1,
    "image blob: download (trigger binding)": 1,
    "image blob: ranged read (ExtractMetadata)": 1,
}


def test_classify_reads_azurite_debug_lines() -> None:
    line = (
        "2026-11-25T22:08:21.249Z 69c6 info: BlobStorageContextMiddleware: RequestMethod=GET "
        "RequestURL=http://127.0.0.1/devstoreaccount1/images-input/q/a.jpg "
        'RequestHeaders:{"x-ms-range":"bytes=0-65535"} ClientIP=127.0.0.1 Protocol=http'
    )
    (req,) = parse([line])
    assert classify(req) == "image blob: ranged read (ExtractMetadata)"


def test_protocol_floor_and_ledger(tmp_path: Path) -> None:
    n = 6
    with fresh_azurite(tmp_path, "floor") as (az, sql):
        items = [(f"p/{nm}", d) for nm, d in map(small_image, range(n))]
        upload_all(images_container(az), items)
        with overlap_of(FloorRun, "new_blob") as claims:
            floor = protocol_floor(az, sql, n, timeout=120)
    assert claims.most == n  # the first floor claims every listed blob at once
    assert floor.claims == Claims.AT_ONCE.value
    for kind, count in EXACT.items():
        assert floor.by_kind.get(kind) == count, kind

    ledger = bench_ledger(n, tmp_path)["devhost"]
    for kind, count in EXACT.items():
        assert ledger.get(kind) == count, kind
    assert set(ledger) <= set(REAL), set(ledger) - set(REAL)


def test_the_floor_that_claims_in_turn(tmp_path: Path) -> None:
    """The second floor claims as the real scan does (ScanBlobScanLogHybridPollingStrategy.cs
    PollAndNotify: one blob after another) and issues the same requests per image."""
    n = 6
    with fresh_azurite(tmp_path, "floor") as (az, sql):
        upload_all(images_container(az), [(f"p/{nm}", d) for nm, d in map(small_image, range(n))])
        with overlap_of(FloorRun, "new_blob") as claims:
            floor = protocol_floor(az, sql, n, timeout=120, claims=Claims.IN_TURN)
    assert claims.most == 1
    assert floor.claims == Claims.IN_TURN.value
    for kind, count in EXACT.items():
        assert floor.by_kind.get(kind) == count, kind


def test_durable_perf_app_runs_under_devhost(tmp_path: Path) -> None:
    """`bench --only durable` starts its own app (bench/apps/durableperf) under devhost: the app
    must be one Azure would run (it declares the extension bundle the start-up check asks for)."""
    result = run_scenario(Scenario("fanout", 10), tmp_path, timeout=300)
    assert result.activities == 10
    assert result.episodes is not None and 1 <= result.episodes <= 11
