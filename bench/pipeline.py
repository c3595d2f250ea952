"""Pipeline figures: the real app under a devhost subprocess, measured from outside.

Throughput is N / (first upload → last row in ImageMetadata). Latency per image is the moment
its row was first seen (the SQLite file polled every 50 ms, read-only) minus the moment its
upload call returned, both on this machine's clock (blob Last-Modified has 1 s resolution).
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from azure.storage.blob import ContainerClient

from devhost.durabletask.model.status import TERMINAL
from devhost.process import DevhostProcess
from imagemeta.blobref import BlobRef, quoted_etag


@dataclass
class RssSampler:
    """Peak resident memory of a process tree, sampled in a background thread."""

    pid: int
    interval: float = 0.2
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> RssSampler:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                proc = psutil.Process(self.pid)
                rss = proc.memory_info().rss + sum(
                    c.memory_info().rss for c in proc.children(recursive=True)
                )
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and its children so far (0 if it is gone)."""
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs)
    except psutil.Error:
        return 0.0


@dataclass(frozen=True)
class Uploaded:
    etag: str
    at: float  # time.time() when the upload call returned


def upload_all(
    container: ContainerClient, items: Iterable[tuple[str, bytes]]
) -> dict[str, Uploaded]:
    """Upload concurrently; returns blob name → ETag and upload time."""

    def put(item: tuple[str, bytes]) -> tuple[str, Uploaded]:
        name, data = item
        etag = str(container.get_blob_client(name).upload_blob(data, overwrite=True)["etag"])
        return name, Uploaded(etag, time.time())

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, items))


def wait_all(
    host: DevhostProcess, expected: dict[str, str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Wait until every (name, etag) has a terminal instance; returns name -> instance.

    One status read per instance (its id is derived from name + ETag); only for small sets:
    the backlog runs watch the database instead, so measuring costs devhost nothing.
    """
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        for name, etag in expected.items():
            if name in done:
                continue
            ref = BlobRef("images-input", name, "", 0, quoted_etag(etag))
            inst = host.get_json(f"/durabletask/instances/{ref.instance_id}")
            if inst and inst.get("runtimeStatus") in TERMINAL:
                done[name] = inst
        if len(done) == len(expected):
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(expected) - len(done)} of {len(expected)} not finished")
        time.sleep(0.05)


@dataclass
class RowWatcher:
    """Sees ImageMetadata rows appear by polling the SQLite file read-only (new ids only).

    The time a row is first seen is its arrival time (poll interval 50 ms); reading the file
    directly keeps the measurement out of devhost's and Azurite's CPU budget.
    """

    db_path: Path
    last_id: int = 0
    seen: dict[str, float] = field(default_factory=dict)  # FileName -> first seen

    def poll(self) -> None:
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as c:
            c.execute("PRAGMA busy_timeout = 5000")
            rows = c.execute(
                "SELECT Id, FileName FROM ImageMetadata WHERE Id > ? ORDER BY Id", (self.last_id,)
            ).fetchall()
        now = time.time()
        for row_id, name in rows:
            self.seen.setdefault(name, now)
            self.last_id = max(self.last_id, row_id)

    def wait(self, names: Iterable[str], timeout: float) -> dict[str, float]:
        """Arrival time per name; returns early with what arrived if the timeout passes."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        while not wanted <= self.seen.keys() and time.monotonic() < deadline:
            time.sleep(0.05)
            self.poll()
        return {n: self.seen[n] for n in wanted if n in self.seen}


@dataclass
class PipelineResult:
    images: int
    seconds: float
    images_per_s: float
    latency_p50_s: float
    latency_p95_s: float
    peak_rss_mb: float
    failed: int
    devhost_cpu_ms_per_image: float  # where the time goes: the host process tree ...
    azurite_cpu_ms_per_image: float  # ... and the storage emulator (uploads included)


def run_backlog(
    host: DevhostProcess,
    rows: RowWatcher,
    container: ContainerClient,
    items: list[tuple[str, bytes]],
    *,
    timeout: float = 1800,
    azurite_pid: int | None = None,
) -> PipelineResult:
    assert host.process is not None
    rows.poll()
    cpu0 = cpu_seconds(host.process.pid), cpu_seconds(azurite_pid)
    with RssSampler(host.process.pid) as rss:
        start = time.time()
        uploads = upload_all(container, items)
        arrived = rows.wait(uploads, timeout)
    cpu1 = cpu_seconds(host.process.pid), cpu_seconds(azurite_pid)
    if not arrived:
        raise TimeoutError(f"no row arrived within {timeout} s: {host.log_tail()}")
    end = max(arrived.values())
    lat = sorted(arrived[n] - uploads[n].at for n in arrived)
    return PipelineResult(
        images=len(items),
        seconds=end - start,
        images_per_s=len(arrived) / (end - start),
        latency_p50_s=statistics.median(lat),
        latency_p95_s=lat[int(0.95 * (len(lat) - 1))],
        peak_rss_mb=rss.peak / 2**20,
        failed=len(items) - len(arrived),
        devhost_cpu_ms_per_image=(cpu1[0] - cpu0[0]) * 1000 / len(items),
        azurite_cpu_ms_per_image=(cpu1[1] - cpu0[1]) * 1000 / len(items),
    )


@dataclass
class QueuedResult:
    images: int
    seconds: float  # host launch -> last row
    images_per_s: float
    steady_images_per_s: float  # first row -> last row: throughput without host start-up
    startup_s: float  # launch -> HTTP API answering
    peak_rss_mb: float
    failed: int
    devhost_cpu_ms_per_image: float
    azurite_cpu_ms_per_image: float


def run_queued_backlog(
    host: DevhostProcess,
    rows: RowWatcher,
    container: ContainerClient,
    items: list[tuple[str, bytes]],
    *,
    timeout: float = 1800,
    azurite_pid: int | None = None,
) -> QueuedResult:
    """The floor's situation: N images already waiting when the host (not yet started) starts.

    Uploads are outside the timed window, so neither the uploader's CPU nor Azurite's share
    of it competes with the host; the clock runs from launching devhost to the last row.
    """
    assert host.process is None, "the host must not be running yet"
    upload_all(container, items)
    rows.poll()
    az0 = cpu_seconds(azurite_pid)
    launched = time.time()
    host.start()
    assert host.process is not None
    ready = time.time()
    with RssSampler(host.process.pid) as rss:
        arrived = rows.wait([name for name, _ in items], timeout)
        dev_cpu = cpu_seconds(host.process.pid)
    az1 = cpu_seconds(azurite_pid)
    if not arrived:
        raise TimeoutError(f"no row arrived within {timeout} s: {host.log_tail()}")
    first, last = min(arrived.values()), max(arrived.values())
    return QueuedResult(
        images=len(items),
        seconds=last - launched,
        images_per_s=len(arrived) / (last - launched),
        steady_images_per_s=(len(arrived) - 1) / (last - first) if last > first else 0.0,
        startup_s=ready - launched,
        peak_rss_mb=rss.peak / 2**20,
        failed=len(items) - len(arrived),
        devhost_cpu_ms_per_image=dev_cpu * 1000 / len(items),
        azurite_cpu_ms_per_image=(az1 - az0) * 1000 / len(items),
    )


def idle_latency(
    rows: RowWatcher, container: ContainerClient, items: list[tuple[str, bytes]]
) -> list[float]:
    """Upload one image at a time into an idle host; seconds from upload to its row."""
    out: list[float] = []
    rows.poll()
    for name, data in items:
        up = upload_all(container, [(name, data)])[name]
        arrived = rows.wait([name], 60)
        if name not in arrived:
            raise TimeoutError(f"{name}: no row within 60 s")
        out.append(arrived[name] - up.at)
        time.sleep(0.5)  # let the host go idle again
    return out


def probe_latencies(probe_log: Path, uploaded_at: dict[str, float]) -> dict[str, float]:
    """Detection latency per blob from the probe function's log (time handed to the function)."""
    seen: dict[str, float] = {}
    if probe_log.exists():
        for line in probe_log.read_text().splitlines():
            t, name = line.split("\t", 1)
            blob = name.split("/", 1)[1]
            if blob in uploaded_at and blob not in seen:
                seen[blob] = float(t) - uploaded_at[blob]
    return seen
