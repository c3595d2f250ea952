"""`make bench` sections around the protocol: protocol floor, request ledger, task-hub size.

Each measurement gets its own fresh Azurite (random ports, temporary data), like the pipeline
runs, so earlier runs never grow the tables Azurite scans.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient, ContainerClient

from bench.images import small_image
from bench.ledger import REAL, format_ledger, read_ledger
from bench.pipeline import RowWatcher, cpu_seconds, upload_all
from bench.protocol import protocol_floor
from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess
from imagemeta import db


@contextlib.contextmanager
def fresh_azurite(work: Path, tag: str, *, debug: bool = False) -> Iterator[tuple[Azurite, str]]:
    """A new Azurite and SQLite database under work/tag; yields (azurite, sql)."""
    d = work / tag
    d.mkdir(parents=True, exist_ok=True)
    debug_log = d / "azurite-debug.log" if debug else None
    with Azurite(location=d / "azurite", log_path=d / "azurite.log", debug_log=debug_log) as az:
        sql = f"Driver={{SQLite3}};Database={d / 'pipeline.db'};Timeout=5000"
        db.migrate(sql)
        yield az, sql


def images_container(az: Azurite) -> ContainerClient:
    c = BlobServiceClient.from_connection_string(az.connection_string).get_container_client(
        "images-input"
    )
    with contextlib.suppress(Exception):
        c.create_container()
    return c


def devhost(
    az: Azurite, sql: str, log: Path, workers: int = 0, env: dict[str, str] | None = None
) -> DevhostProcess:
    return DevhostProcess(
        app_dir=REPO_ROOT,
        storage_connection_string=az.connection_string,
        env={"SqlConnectionString": sql, "AzureWebJobsStorage": az.connection_string} | (env or {}),
        log_path=log,
        extra_args=["--workers", str(workers)],
    )


def bench_protocol(sizes: list[int], work: Path) -> list[dict[str, Any]]:
    """The protocol floor at each N, on its own fresh Azurite, images queued beforehand."""
    out = []
    for n in sizes:
        with fresh_azurite(work, f"protocol-{n}") as (az, sql):
            upload_all(
                images_container(az), [(f"p/{nm}", d) for nm, d in map(small_image, range(n))]
            )
            az0 = cpu_seconds(az.process.pid if az.process else None)
            r = protocol_floor(az, sql, n)
            az_ms = (cpu_seconds(az.process.pid if az.process else None) - az0) * 1000 / n
        out.append({**asdict(r), "azurite_cpu_ms_per_image": az_ms})
        print(
            f"protocol N={n:5d}: {r.images_per_s:7.1f} img/s, {r.requests_per_image:.1f} "
            f"requests/img, CPU ms/img Azurite {az_ms:.0f}"
        )
    return out


def bench_ledger(n: int, work: Path, floor: dict[str, float] | None = None) -> dict[str, Any]:
    """Requests per image by kind, from Azurite's debug log over a queued run of n images."""
    with fresh_azurite(work, f"ledger-{n}", debug=True) as (az, sql):
        container = images_container(az)
        items = [(f"l/{nm}", d) for nm, d in map(small_image, range(n))]
        upload_all(container, items)
        assert az.debug_log is not None
        mark = az.debug_log.stat().st_size  # requests before this are the uploads and setup
        host = devhost(az, sql, work / f"ledger-{n}" / "devhost.log")
        rows = RowWatcher(work / f"ledger-{n}" / "pipeline.db")
        host.start()
        try:
            got = rows.wait([nm for nm, _ in items], 1800)
            time.sleep(3)  # the last episodes checkpoint after the last row
        finally:
            host.stop()
        per_kind = read_ledger(az.debug_log, n, skip_bytes=mark)
    lines = format_ledger(per_kind, floor)
    print(f"request ledger, N={n} ({len(got)} rows), requests per image:")
    print("\n".join("  " + line for line in lines))
    real = {k: {"per_image": v, "source": src} for k, (v, src) in REAL.items()}
    return {"images": n, "devhost": per_kind, "protocol_floor": floor, "real": real}


def summary(report: dict[str, Any]) -> list[str]:
    """One table: 1-request floor, protocol floor, pipeline queued and burst, and the ratios."""
    floors = {f["images"]: f["floor"]["images_per_s"] for f in report.get("floor", [])}
    protocol = {p["images"]: p["images_per_s"] for p in report.get("protocol", [])}
    pipe = report.get("pipeline", {})
    queued = {q["images"]: q["images_per_s"] for q in pipe.get("queued", [])}
    burst = {b["images"]: b["images_per_s"] for b in pipe.get("backlogs", [])}
    sizes = sorted(set(floors) | set(protocol) | set(queued) | set(burst))
    if not sizes:
        return []

    def fmt(d: dict[int, float], n: int) -> str:
        return f"{d[n]:8.1f}" if n in d else "       -"

    def ratio(a: dict[int, float], b: dict[int, float], n: int) -> str:
        return f"{a[n] / b[n]:8.0%}" if n in a and n in b else "       -"

    lines = ["     N  1-req floor  protocol floor  queued    burst  queued/protocol  queued/1-req"]
    for n in sizes:
        lines.append(
            f"{n:6d}     {fmt(floors, n)}        {fmt(protocol, n)}  {fmt(queued, n)} "
            f"{fmt(burst, n)}         {ratio(queued, protocol, n)}      "
            f"{ratio(queued, floors, n)}"
        )
    return lines
