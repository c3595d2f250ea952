"""`reprocess` section: `python -m imagemeta.reprocess` beside the pipeline's queued rate on the
same N, and its peak memory over a large container.

Throughput: N images in images-input, an empty database, devhost already running with its blob
trigger disabled (AzureWebJobs.BlobTriggerClient.Disabled), so only the tool starts
orchestrations; the clock runs from launching the tool to the last row. The queued rate is the
pipeline's usual measure (N images waiting, devhost launch -> last row) on its own fresh stack.

Memory: a container of `listing_n` tiny blobs (uploaded with raw SAS requests: the listing
reads names and properties, never content) and a database that already holds a row for each,
so the run lists every blob, compares every page with ImageMetadata and starts nothing: the
steady-state re-run at that size. Peak RSS is sampled from the tool's process every 0.1 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.images import small_image
from bench.pipeline import RowWatcher, RssSampler, run_queued_backlog, upload_all
from bench.rawstorage import Raw, account_sas
from bench.sections import devhost, fresh_azurite, images_container
from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess

TRIGGER_OFF = {"AzureWebJobs.BlobTriggerClient.Disabled": "true"}


def _tool(az: Azurite, sql: str, host: DevhostProcess, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AzureWebJobsStorage": az.connection_string,
        "SqlConnectionString": sql,
        "DEVHOST_PORT": str(host.port),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "imagemeta.reprocess", *args],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _host_without_trigger(az: Azurite, sql: str, log: Path) -> DevhostProcess:
    host = devhost(az, sql, log)
    host.env.update(TRIGGER_OFF)
    return host


def reprocess_rate(n: int, work: Path, max_in_flight: int) -> dict[str, Any]:
    items = [(f"r/{name}", data) for name, data in map(small_image, range(n))]
    with fresh_azurite(work, f"reprocess-{n}") as (az, sql):
        upload_all(images_container(az), items)
        host = _host_without_trigger(az, sql, work / f"reprocess-{n}" / "devhost.log").start()
        try:
            rows = RowWatcher(work / f"reprocess-{n}" / "pipeline.db")
            launched = time.time()
            proc = _tool(az, sql, host, "--max-in-flight", str(max_in_flight))
            with RssSampler(proc.pid, interval=0.1) as rss:
                out, _ = proc.communicate(timeout=1800)
            exited = time.time()
            arrived = rows.wait([nm for nm, _ in items], 60)
        finally:
            host.stop()
    text = out.decode(errors="replace")
    if proc.returncode != 0 or len(arrived) != n:
        raise RuntimeError(f"reprocess exit {proc.returncode}, {len(arrived)}/{n} rows:\n{text}")
    last = max(arrived.values())
    return {
        "images": n,
        "max_in_flight": max_in_flight,
        "seconds": last - launched,
        "images_per_s": n / (last - launched),
        "tool_exit_s": exited - launched,
        "tool_peak_rss_mb": rss.peak / 2**20,
    }


async def _put_many(az: Azurite, names: list[str], concurrency: int = 64) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        raw = Raw(az, session, account_sas())
        queue = iter(names)

        async def worker() -> None:
            for name in queue:
                await raw.call(
                    "put", "PUT", raw.url("blob", f"images-input/{name}"),
                    headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"},
                    data=b"x",
                )  # fmt: skip

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def _seed_rows(az: Azurite, db_path: Path) -> int:
    """A row per listed blob version (name + ETag), written straight into the SQLite file."""
    container = images_container(az)
    batch: list[tuple[Any, ...]] = []
    total = 0
    with sqlite3.connect(db_path) as db:
        for props in container.list_blobs(results_per_page=5000):
            name, etag = props.name, props.etag
            etag = etag if etag.startswith('"') else f'"{etag}"'
            digest = hashlib.sha256(name.encode()).hexdigest()
            batch.append((name, 1, 1, 1, "PNG", etag, digest))
            if len(batch) == 5000:
                total += _insert(db, batch)
        total += _insert(db, batch)
    return total


def _insert(db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> int:
    db.executemany(
        "INSERT INTO ImageMetadata (FileName, FileSizeKB, Width, Height, Format, BlobETag, "
        "FileNameHash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    n = len(batch)
    batch.clear()
    return n


def listing_memory(n: int, work: Path) -> dict[str, Any]:
    with fresh_azurite(work, f"listing-{n}") as (az, sql):
        images_container(az)
        t0 = time.time()
        asyncio.run(_put_many(az, [f"l/{i:07d}.png" for i in range(n)]))
        upload_s = time.time() - t0
        return {**measure_listing(az, sql, n, work / f"listing-{n}"), "upload_s": upload_s}


def measure_listing(az: Azurite, sql: str, n: int, d: Path) -> dict[str, Any]:
    """The tool over a container of n blobs that all have their row (nothing to start)."""
    seeded = _seed_rows(az, d / "pipeline.db")
    host = _host_without_trigger(az, sql, d / "devhost.log").start()
    try:
        t0 = time.time()
        proc = _tool(az, sql, host)
        with RssSampler(proc.pid, interval=0.1) as rss:
            out, _ = proc.communicate(timeout=3600)
        seconds = time.time() - t0
    finally:
        host.stop()
    text = out.decode(errors="replace")
    if proc.returncode != 0 or f'"alreadyStored": {n}' not in text:
        raise RuntimeError(f"listing run exit {proc.returncode}:\n{text[-2000:]}")
    return {
        "blobs": n,
        "rows_seeded": seeded,
        "run_s": seconds,
        "blobs_per_s": n / seconds,
        "peak_rss_mb": rss.peak / 2**20,
    }


def bench_reprocess(
    sizes: list[int], work: Path, listing_n: int, max_in_flight: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"throughput": [], "listing": None}
    for n in sizes:
        items = [(f"q/{name}", data) for name, data in map(small_image, range(n))]
        with fresh_azurite(work, f"reprocess-queued-{n}") as (az, sql):
            host = devhost(az, sql, work / f"reprocess-queued-{n}" / "devhost.log")
            rows = RowWatcher(work / f"reprocess-queued-{n}" / "pipeline.db")
            try:
                q = run_queued_backlog(host, rows, images_container(az), items)
            finally:
                host.stop()
        r = reprocess_rate(n, work, max_in_flight)
        r["queued_images_per_s"] = q.images_per_s
        r["ratio"] = r["images_per_s"] / q.images_per_s
        out["throughput"].append(r)
        print(
            f"reprocess N={n:5d}: {r['images_per_s']:6.1f} img/s (launch -> last row, "
            f"--max-in-flight {max_in_flight}) vs pipeline queued {q.images_per_s:6.1f} img/s: "
            f"{r['ratio']:.0%}; tool peak RSS {r['tool_peak_rss_mb']:.0f} MiB"
        )
    if listing_n:
        m = listing_memory(listing_n, work)
        out["listing"] = m
        print(
            f"reprocess listing {m['blobs']} blobs (all stored, nothing to start): "
            f"{m['run_s']:.1f} s, {m['blobs_per_s']:.0f} blobs/s, peak RSS "
            f"{m['peak_rss_mb']:.0f} MiB (upload of the blobs {m['upload_s']:.0f} s)"
        )
    return out
