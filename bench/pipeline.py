"""Pipeline figures: the real app under a devhost subprocess, measured from outside.

Throughput is N / (first upload → last orchestration completed). Latency per image is the
orchestration's lastUpdatedTime (completion, ms resolution) minus the moment the upload call
returned, both on this machine's clock (blob Last-Modified has only 1 s resolution).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from azure.storage.blob import ContainerClient

from devhost.process import DevhostProcess

TERMINAL = {"Completed", "Failed", "Terminated"}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


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
    """Wait until every (name, etag) has a terminal instance; returns name → instance."""
    deadline = time.monotonic() + timeout
    while True:
        done: dict[str, dict[str, Any]] = {}
        for inst in host.list_instances():
            ref = inst.get("input") or {}
            name = ref.get("name") if isinstance(ref, dict) else None
            if (
                name in expected
                and ref.get("etag") == expected[name]
                and inst.get("runtimeStatus") in TERMINAL
            ):
                done[name] = inst
        if len(done) == len(expected):
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(expected) - len(done)} of {len(expected)} not finished")
        time.sleep(0.5)


@dataclass
class PipelineResult:
    images: int
    seconds: float
    images_per_s: float
    latency_p50_s: float
    latency_p95_s: float
    peak_rss_mb: float
    failed: int


def run_backlog(
    host: DevhostProcess,
    container: ContainerClient,
    items: list[tuple[str, bytes]],
    timeout: float = 1800,
) -> PipelineResult:
    assert host.process is not None
    with RssSampler(host.process.pid) as rss:
        start = time.time()
        uploads = upload_all(container, items)
        done = wait_all(host, {n: u.etag for n, u in uploads.items()}, timeout)
    end = max(_ts(i["lastUpdatedTime"]) for i in done.values())
    lat = sorted(_ts(done[n]["lastUpdatedTime"]) - uploads[n].at for n in done)
    return PipelineResult(
        images=len(items),
        seconds=end - start,
        images_per_s=len(items) / (end - start),
        latency_p50_s=statistics.median(lat),
        latency_p95_s=lat[int(0.95 * (len(lat) - 1))],
        peak_rss_mb=rss.peak / 2**20,
        failed=sum(1 for i in done.values() if i["runtimeStatus"] != "Completed"),
    )


def idle_latency(
    host: DevhostProcess, container: ContainerClient, items: list[tuple[str, bytes]]
) -> list[float]:
    """Upload one image at a time into an idle host; seconds from upload to completion."""
    out: list[float] = []
    for name, data in items:
        up = upload_all(container, [(name, data)])[name]
        inst = wait_all(host, {name: up.etag}, 60)[name]
        out.append(_ts(inst["lastUpdatedTime"]) - up.at)
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
