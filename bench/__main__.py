"""`python -m bench` (make bench): floor, naive, pipeline, size independence, scaling, memory,
hostile headers and the blob trigger's cost for big blobs.

Runs on fresh Azurites (random ports, temp data; one per pipeline measurement) and SQLite
through the SQLite3 ODBC driver, prints a table and writes bench/results/bench-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient, ContainerClient

from bench.durableperf import DEFAULT as DURABLE_DEFAULT
from bench.durableperf import bench_durable
from bench.floor import floor, naive
from bench.hostile import (
    bench_hostile,
    bench_hostile_devhost,
    bench_trigger,
    bench_trigger_devhost,
)
from bench.hubsize import bench_hubsize
from bench.images import sized_jpeg, small_image
from bench.pipeline import (
    RowWatcher,
    idle_latency,
    probe_latencies,
    run_backlog,
    run_queued_backlog,
    upload_all,
    wait_all,
)
from bench.protocol import Claims
from bench.sections import bench_ledger, bench_protocol, pipeline_goals, summary
from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess
from imagemeta import db

RESULTS = REPO_ROOT / "bench" / "results"


def _container(service: BlobServiceClient, name: str) -> ContainerClient:
    c = service.get_container_client(name)
    if not c.exists():
        c.create_container()
    return c


def bench_floor(
    service: BlobServiceClient, sizes: list[int], work: Path, threads: int
) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        c = _container(service, f"floor-{n}")
        items = [small_image(i) for i in range(n)]
        upload_all(c, items)
        names = [name for name, _ in items]
        f = floor(c, names, f"Driver={{SQLite3}};Database={work / f'floor-{n}.db'}", threads)
        nv = naive(c, names, f"Driver={{SQLite3}};Database={work / f'naive-{n}.db'}", threads)
        out.append({"images": n, "floor": asdict(f), "naive": asdict(nv)})
        print(
            f"floor   N={n:5d}: {f.images_per_s:7.1f} img/s, {f.bytes_read / n / 1024:7.1f} KiB/img"
        )
        print(
            f"naive   N={n:5d}: {nv.images_per_s:7.1f} img/s, "
            f"{nv.bytes_read / n / 1024:7.1f} KiB/img"
        )
    return out


def _pipeline_host(
    azurite: Azurite, sql: str, work: Path, tag: str, workers: int = 0
) -> DevhostProcess:
    return DevhostProcess(
        app_dir=REPO_ROOT,
        storage_connection_string=azurite.connection_string,
        env={"SqlConnectionString": sql, "AzureWebJobsStorage": azurite.connection_string},
        log_path=work / f"devhost-{tag}.log",
        extra_args=["--workers", str(workers)],
    )


@dataclass
class Stack:
    azurite: Azurite
    container: ContainerClient
    rows: RowWatcher
    host: DevhostProcess

    @property
    def azurite_pid(self) -> int | None:
        return self.azurite.process.pid if self.azurite.process else None


@contextlib.contextmanager
def fresh_stack(work: Path, tag: str, workers: int, *, start: bool = True) -> Iterator[Stack]:
    """Its own Azurite, database and devhost per measurement: Azurite looks table keys up by
    scanning, so its cost per request grows with what earlier runs left in the task hub."""
    d = work / tag
    d.mkdir(parents=True, exist_ok=True)
    with Azurite(location=d / "azurite", log_path=d / "azurite.log") as azurite:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        sql = f"Driver={{SQLite3}};Database={d / 'pipeline.db'};Timeout=5000"
        db.migrate(sql)
        host = _pipeline_host(azurite, sql, d, tag, workers)
        stack = Stack(
            azurite, _container(service, "images-input"), RowWatcher(d / "pipeline.db"), host
        )
        try:
            if start:
                host.start()
            yield stack
        finally:
            host.stop()


def bench_pipeline(
    sizes: list[int],
    work: Path,
    *,
    image_sizes: bool = True,
    workers: int = 0,
    modes: frozenset[str] = frozenset({"idle", "burst", "queued"}),
) -> dict[str, Any]:
    results: dict[str, Any] = {"backlogs": [], "queued": []}
    if "idle" not in modes:
        return _backlogs(results, sizes, work, workers, modes)
    with fresh_stack(work, "idle", workers) as st:
        items = [(f"idle/{name}", data) for name, data in map(small_image, range(20))]
        lat = idle_latency(st.rows, st.container, items)
        results["idle_latency_s"] = {"p50": statistics.median(lat), "max": max(lat)}
        print(f"pipeline idle latency: p50 {statistics.median(lat):.2f} s, max {max(lat):.2f} s")
        results["size_independence"] = bench_sizes(st) if image_sizes else []
    return _backlogs(results, sizes, work, workers, modes)


def _backlogs(
    results: dict[str, Any], sizes: list[int], work: Path, workers: int, modes: frozenset[str]
) -> dict[str, Any]:
    for n in sizes if "burst" in modes else []:
        items = [(f"backlog-{n}/{name}", data) for name, data in map(small_image, range(n))]
        with fresh_stack(work, f"burst-{n}", workers) as st:
            r = run_backlog(st.host, st.rows, st.container, items, azurite_pid=st.azurite_pid)
        results["backlogs"].append(asdict(r))
        print(
            f"pipeline N={n:5d}: {r.images_per_s:7.1f} img/s, p50 {r.latency_p50_s:.2f} s, "
            f"p95 {r.latency_p95_s:.2f} s, peak RSS {r.peak_rss_mb:.0f} MiB, "
            f"failed {r.failed}, "
            f"CPU ms/img devhost {r.devhost_cpu_ms_per_image:.0f} "
            f"Azurite {r.azurite_cpu_ms_per_image:.0f}"
        )
    for n in sizes if "queued" in modes else []:
        items = [(f"queued-{n}/{name}", data) for name, data in map(small_image, range(n))]
        with fresh_stack(work, f"queued-{n}", workers, start=False) as st:
            q = run_queued_backlog(
                st.host, st.rows, st.container, items, azurite_pid=st.azurite_pid
            )
        results["queued"].append(asdict(q))
        print(
            f"queued   N={n:5d}: {q.images_per_s:7.1f} img/s "
            f"(steady {q.steady_images_per_s:.1f}, start-up {q.startup_s:.1f} s), "
            f"peak RSS {q.peak_rss_mb:.0f} MiB, "
            f"failed {q.failed}, CPU ms/img devhost {q.devhost_cpu_ms_per_image:.0f} "
            f"Azurite {q.azurite_cpu_ms_per_image:.0f}"
        )
    return results


def bench_sizes(st: Stack) -> list[dict[str, Any]]:
    out = []
    for label, total in (("20KB", 20_000), ("2MB", 2_000_000), ("50MB", 50_000_000),
                         ("200MB", 200_000_000)):  # fmt: skip
        data = sized_jpeg(total)
        name = f"sized/{label}.jpg"
        up = upload_all(st.container, [(name, data)])[name]
        arrived = st.rows.wait([name], 600)
        inst = wait_all(st.host, {name: up.etag}, 60)[name]
        meta = (inst.get("output") or {}).get("metadata") or {}
        row = {
            "size": label,
            "bytes": len(data),
            "seconds": arrived.get(name, float("nan")) - up.at,  # upload done -> row
            "bytes_read": meta.get("BytesRead"),
            "status": inst["runtimeStatus"],
        }
        out.append(row)
        print(f"size {label:>6}: {row['seconds']:.2f} s upload->row, "
              f"ExtractMetadata read {row['bytes_read']} bytes")  # fmt: skip
    return out


def bench_scaling(azurite: Azurite, sizes: list[int], work: Path) -> list[dict[str, Any]]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    out = []
    for n in sizes:
        container = _container(service, "probe")
        for b in container.list_blobs():
            container.delete_blob(b.name)
        upload_all(container, [(f"old/{i:06d}.png", b"x") for i in range(n)])
        probe_log = work / f"probe-{n}.log"
        probe_log.unlink(missing_ok=True)
        host = DevhostProcess(
            app_dir=REPO_ROOT / "bench" / "apps" / "blobprobe",
            storage_connection_string=azurite.connection_string,
            env={
                "AzureWebJobsStorage": azurite.connection_string,
                "PROBE_LOG": str(probe_log),
                "AzureFunctionsWebHost__hostid": f"probe{n}",
            },
            log_path=work / f"devhost-probe-{n}.log",
        ).start()
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                seen = len(probe_log.read_text().splitlines()) if probe_log.exists() else 0
                if seen >= n:
                    break
                time.sleep(0.5)
            t0 = time.perf_counter()
            listed = sum(1 for _ in container.list_blobs())
            list_s = time.perf_counter() - t0
            uploaded: dict[str, float] = {}
            for i in range(10):
                name = f"new/{n}-{i}.png"
                upload_all(container, [(name, b"y")])
                uploaded[name] = time.time()
                time.sleep(0.3)
            deadline = time.monotonic() + 120
            lat: dict[str, float] = {}
            while len(lat) < len(uploaded) and time.monotonic() < deadline:
                lat = probe_latencies(probe_log, uploaded)
                time.sleep(0.2)
        finally:
            host.stop()
        row = {"existing_blobs": n, "listing_s": list_s, "listed": listed,
               "detect_p50_s": statistics.median(lat.values()) if lat else None,
               "detect_max_s": max(lat.values()) if lat else None}  # fmt: skip
        out.append(row)
        print(f"scaling {n:6d} blobs: listing {list_s * 1000:.0f} ms, new-blob detection "
              f"p50 {row['detect_p50_s']:.2f} s max {row['detect_max_s']:.2f} s")  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--floor-sizes", default="200,1000,5000")
    parser.add_argument("--pipeline-sizes", default="200,1000,5000")
    parser.add_argument("--scaling-sizes", default="100,1000,10000")
    parser.add_argument("--hub-sizes", default="1000,5000,20000", help="completed instances")
    parser.add_argument("--hub-images", type=int, default=200, help="images per hub-size run")
    parser.add_argument("--purge-at", type=int, default=5000, help="hub size to purge")
    parser.add_argument(
        "--hub-retain",
        default="",
        help="also run each hub size under devhost's --retain-completed (e.g. 1d): the "
        "pipeline while the seeded instances are purged, the drain, then the pipeline again",
    )
    parser.add_argument(
        "--hub-drain-max", type=float, default=900, help="seconds to wait for the drain"
    )
    parser.add_argument("--pipeline-modes", default="idle,burst,queued")
    parser.add_argument("--ledger-size", type=int, default=200, help="images in the ledger run")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=0, help="devhost activity worker processes (--workers)"
    )
    parser.add_argument(
        "--trigger-sizes", default="200000000,2000000000", help="blob sizes for `trigger`"
    )
    parser.add_argument(
        "--only",
        default="floor,protocol,pipeline,ledger,hubsize,durable,sizes,scaling,hostile,trigger,"
        "monitor,reprocess",
        help="comma-separated sections to run",
    )
    parser.add_argument("--reprocess-sizes", default="1000", help="images per reprocess run")
    parser.add_argument("--reprocess-listing", type=int, default=100_000, help="blobs listed")
    parser.add_argument("--reprocess-in-flight", type=int, default=32, help="--max-in-flight")
    parser.add_argument(
        "--durable-scenarios",
        default=DURABLE_DEFAULT,
        help="the `durable` section's scenarios: sequential, fanout:N, many:N, suborch:N",
    )
    parser.add_argument("--monitor-instances", type=int, default=10_000)
    parser.add_argument("--monitor-overhead-images", type=int, default=600)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.floor_sizes, args.pipeline_sizes, args.scaling_sizes = "100", "100", "100"
        args.monitor_instances, args.monitor_overhead_images = 1000, 100
        args.ledger_size, args.hub_sizes, args.hub_images, args.purge_at = 50, "200", 50, 200
        args.reprocess_sizes, args.reprocess_listing = "100", 10_000
        args.durable_scenarios = "sequential,fanout:100"
    sections = set(args.only.split(","))
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=RESULTS))
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count()}
    with Azurite(location=work / "azurite", log_path=work / "azurite.log") as azurite:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        if "floor" in sections:
            report["floor"] = bench_floor(service, ints(args.floor_sizes), work, args.threads)
        if "protocol" in sections:
            report["protocol"] = bench_protocol(ints(args.pipeline_sizes), work)
        if "pipeline" in sections:
            report["pipeline"] = bench_pipeline(
                ints(args.pipeline_sizes),
                work,
                image_sizes="sizes" in sections,
                workers=args.workers,
                modes=frozenset(args.pipeline_modes.split(",")),
            )
        if "ledger" in sections:
            same_n = [
                p
                for p in report.get("protocol", [])
                if p["images"] == args.ledger_size and p["claims"] == Claims.AT_ONCE.value
            ]
            floor_kinds = (same_n or report.get("protocol") or [{}])[-1].get("by_kind")
            report["ledger"] = bench_ledger(args.ledger_size, work, floor_kinds)
        if "hubsize" in sections:
            report["hubsize"] = bench_hubsize(
                ints(args.hub_sizes),
                work,
                args.hub_images,
                args.purge_at,
                retain=args.hub_retain or None,
                drain_max=args.hub_drain_max,
            )
        if "scaling" in sections:
            report["scaling"] = bench_scaling(azurite, ints(args.scaling_sizes), work)
        if "hostile" in sections:
            report["hostile"] = bench_hostile(azurite.connection_string)
            report["hostile_devhost"] = bench_hostile_devhost(work)
    if "durable" in sections:
        report["durable"] = bench_durable(args.durable_scenarios, work)
    if "trigger" in sections:
        report["trigger"] = bench_trigger(ints(args.trigger_sizes))
    if "trigger-devhost" in sections:  # not in the defaults: uploads a 2 GB blob
        report["trigger_devhost"] = bench_trigger_devhost(work, ints(args.trigger_sizes))
    if "monitor" in sections:
        from bench.monitor import bench_monitor  # noqa: PLC0415

        report["monitor"] = bench_monitor(
            work, args.monitor_instances, args.monitor_overhead_images
        )
    if "reprocess" in sections:
        from bench.reprocess import bench_reprocess  # noqa: PLC0415

        report["reprocess"] = bench_reprocess(
            ints(args.reprocess_sizes), work, args.reprocess_listing, args.reprocess_in_flight
        )
    lines = summary(report)
    if lines:
        print("throughput, images/s (one run):")
        print("\n".join("  " + line for line in lines))
    for line in pipeline_goals(report):
        print("pipeline goal: " + line)
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
