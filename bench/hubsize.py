"""Task-hub size: Azurite's cost per image with 1k/5k/20k completed instances already in the
hub, and what a user can do about it locally (purge through the Durable API, a fresh hub).

Azurite keeps each table in one LokiJS collection whose key look-ups scanned every row with the
same RowKey; DurableTask's layout repeats RowKeys across instances ("" in Instances,
0000000000000000... in History), so each look-up grew with the hub (devhost/azurite_patches.py
now narrows by PartitionKey first; the autosave and index upkeep still grow with it). The
seeded instances have the rows a completed 2-activity orchestration leaves (an Instances row,
13 History rows + the sentinel), written straight to the tables to save the hours a real
backlog would take.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from azure.data.tables import TableClient

from bench.images import small_image
from bench.pipeline import RowWatcher, run_queued_backlog
from bench.rawstorage import Raw, account_sas
from bench.sections import devhost, fresh_azurite, images_container
from devhost.azurite import Azurite
from devhost.remote_api import request_json
from devhost.sdkshortcuts import Op

HUB = "ImageMetadataHub"  # host.json's hub: the seeded rows share the tables devhost uses
SEEDED_AT = datetime(2026, 1, 1, tzinfo=UTC)
# Issue 21's goal: the pipeline at a 20,000-instance hub keeps >= 60% of its empty-hub rate.
GOAL_SIZE = 20_000
GOAL_SHARE = 0.60


def goals(rows: list[dict[str, Any]]) -> list[str]:
    """Each hub's rate as a share of the empty hub's in the same run; at GOAL_SIZE and above,
    against the goal."""
    empty = next((r for r in rows if r["existing"] == 0), None)
    if empty is None or not empty["images_per_s"]:
        return []
    lines = []
    for r in rows:
        if r["existing"] == 0:
            continue
        share = r["images_per_s"] / empty["images_per_s"]
        if r["existing"] >= GOAL_SIZE:
            ok = "met" if share >= GOAL_SHARE else "NOT met"
            lines.append(
                f"{r['existing']:,}-instance hub ≥ {GOAL_SHARE:.0%} of the empty hub's rate: "
                f"{share:.0%} ({ok})"
            )
        else:
            lines.append(f"{r['existing']:,}-instance hub at {share:.0%} of the empty hub's rate")
    return lines


def _instance_row(pk: str) -> dict[str, Any]:
    ts = SEEDED_AT.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    return {
        "PartitionKey": pk,
        "RowKey": "",
        "Name": "OrchestratorFunction",
        "Version": "",
        "RuntimeStatus": "Completed",
        "CreatedTime": ts,
        "CreatedTime@odata.type": "Edm.DateTime",
        "LastUpdatedTime": ts,
        "LastUpdatedTime@odata.type": "Edm.DateTime",
        "CompletedTime": ts,
        "CompletedTime@odata.type": "Edm.DateTime",
        "ExecutionId": "seed",
        "TaskHubName": HUB,
        "Input": "x" * 300,
        "Output": "x" * 400,
    }


def _history_ops(pk: str) -> list[Op]:
    ops: list[Op] = [
        (
            "create",
            {
                "PartitionKey": pk,
                "RowKey": f"{i:016X}",
                "ExecutionId": "seed",
                "EventType": "TaskCompleted",
                "EventId": i,
                "Result": "x" * 200,
            },
        )
        for i in range(13)
    ]
    ops.append(
        (
            "create",
            {
                "PartitionKey": pk,
                "RowKey": "sentinel",
                "ExecutionId": "seed",
                "IsCheckpointComplete": True,
            },
        )
    )
    return ops


async def _seed(az: Azurite, count: int, first: int = 0) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        raw = Raw(az, session, account_sas())
        for t in ("Instances", "History"):
            await raw.table(
                "setup",
                "POST",
                raw.url("table", "Tables"),
                json.dumps({"TableName": HUB + t}),
                ok=(201, 204, 409),
            )
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            pk = f"seed-{i:06d}"
            async with sem:
                await raw.batch(_history_ops(pk), table=f"{HUB}History")
                await raw.table(
                    "seed",
                    "POST",
                    raw.url("table", f"{HUB}Instances"),
                    json.dumps(_instance_row(pk)),
                )

        await asyncio.gather(*(one(i) for i in range(first, first + count)))


def purge_completed(base_url: str, before: datetime) -> tuple[int, float]:
    """The Durable HTTP API's purge by filter, as a user runs it; (instances deleted, seconds)."""
    query = urllib.parse.urlencode(
        {
            "createdTimeFrom": "2000-01-01T00:00:00Z",
            "createdTimeTo": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "runtimeStatus": "Completed,Failed,Terminated",
        }
    )
    t0 = time.perf_counter()
    _, body, _ = request_json(
        f"{base_url}/runtime/webhooks/durabletask/instances?{query}", "DELETE", timeout=7200
    )
    return int((body or {}).get("instancesDeleted", 0)), time.perf_counter() - t0


def seeded_left(az: Azurite) -> int:
    """Seeded instance rows still in the hub."""
    table = TableClient.from_connection_string(az.connection_string, f"{HUB}Instances")
    with table:
        query = "PartitionKey ge 'seed-' and PartitionKey lt 'seed.'"
        return sum(1 for _ in table.query_entities(query, select=["PartitionKey"]))


def _measure(
    az: Azurite, sql: str, d: Path, tag: str, n: int, *, env: dict[str, str] | None = None
) -> dict[str, Any]:
    items = [(f"{tag}/{nm}", data) for nm, data in map(small_image, range(n))]
    host = devhost(az, sql, d / f"devhost-{tag}.log", env=env)
    q = run_queued_backlog(
        host,
        RowWatcher(d / "pipeline.db"),
        images_container(az),
        items,
        azurite_pid=az.process.pid if az.process else None,
    )
    host.stop()
    return {
        "images_per_s": q.images_per_s,
        "azurite_cpu_ms_per_image": q.azurite_cpu_ms_per_image,
        "devhost_cpu_ms_per_image": q.devhost_cpu_ms_per_image,
        "seconds": q.seconds,
    }


def _retention(
    az: Azurite, sql: str, d: Path, n: int, *, existing: int, retain: str, drain_max: float
) -> dict[str, Any]:
    """The same hub under `--retain-completed`: a queued run while the purger starts on the
    seeded (old) instances, then the host left running until they are gone (or `drain_max`
    seconds), then a queued run on the drained hub, retention still on."""
    env = {"DEVHOST_RETAIN_COMPLETED": retain}
    during = _measure(az, sql, d, "retain-during", n, env=env)
    during["purged"] = existing - seeded_left(az)
    host = devhost(az, sql, d / "devhost-retain-drain.log", env=env).start()
    t0 = time.perf_counter()
    try:
        while (left := seeded_left(az)) and time.perf_counter() - t0 < drain_max:
            time.sleep(10)
    finally:
        host.stop()
    out: dict[str, Any] = {"during": during, "drain_s": time.perf_counter() - t0, "left": left}
    if not left:
        out["after"] = _measure(az, sql, d, "retain-after", n, env=env)
    return out


def bench_hubsize(
    sizes: list[int],
    work: Path,
    n: int,
    purge_at: int | None,
    *,
    retain: str | None = None,
    drain_max: float = 900,
) -> list[dict[str, Any]]:
    """Queued runs of n images on a hub that already holds each size of completed instances;
    at `purge_at`, purge those through the Durable API and measure again; with `retain`, each
    size again under devhost's retention (`_retention`)."""
    out = []
    for existing in [0, *sizes]:
        tag = f"hub-{existing}"
        with fresh_azurite(work, tag) as (az, sql):
            t0 = time.perf_counter()
            asyncio.run(_seed(az, existing))
            row: dict[str, Any] = {"existing": existing, "seed_s": time.perf_counter() - t0}
            row.update(_measure(az, sql, work / tag, "before", n))
            line = (
                f"hub {existing:6d} completed instances: {row['images_per_s']:5.1f} img/s, "
                f"Azurite {row['azurite_cpu_ms_per_image']:.0f} ms/img"
            )
            if existing and existing == purge_at:
                host = devhost(az, sql, work / tag / "devhost-purge.log").start()
                try:
                    deleted, secs = purge_completed(host.base_url, SEEDED_AT + timedelta(days=1))
                finally:
                    host.stop()
                after = _measure(az, sql, work / tag, "after", n)
                row.update(purged=deleted, purge_s=secs, after_purge=after)
                line += (
                    f"; purge of {deleted} took {secs:.0f} s, then "
                    f"{after['images_per_s']:.1f} img/s, Azurite "
                    f"{after['azurite_cpu_ms_per_image']:.0f} ms/img"
                )
            if existing and retain:
                r = row["retention"] = _retention(az, sql, work / tag, n, existing=existing,
                                                  retain=retain, drain_max=drain_max)  # fmt: skip
                line += (
                    f"\n    with --retain-completed {retain}: {r['during']['images_per_s']:.1f} "
                    f"img/s while {r['during']['purged']} were purged in "
                    f"{r['during']['seconds']:.0f} s; drained {existing - r['left']} in "
                    f"{r['drain_s'] + r['during']['seconds']:.0f} s"
                )
                if "after" in r:
                    line += (
                        f", then {r['after']['images_per_s']:.1f} img/s, Azurite "
                        f"{r['after']['azurite_cpu_ms_per_image']:.0f} ms/img"
                    )
            out.append(row)
            print(line, flush=True)
    for goal in goals(out):
        print("hubsize goal: " + goal, flush=True)
    return out
