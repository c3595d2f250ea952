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
from bench.protocol import Claims, protocol_floor
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
    """Both protocol floors at each N (claims at once, claims in turn as the real host's scan
    makes them), each on its own fresh Azurite, images queued beforehand."""
    out = []
    for n in sizes:
        for claims in Claims:
            tag = f"protocol-{n}-{claims.name.lower()}"
            with fresh_azurite(work, tag) as (az, sql):
                upload_all(
                    images_container(az), [(f"p/{nm}", d) for nm, d in map(small_image, range(n))]
                )
                az0 = cpu_seconds(az.process.pid if az.process else None)
                r = protocol_floor(az, sql, n, claims=claims)
                az_ms = (cpu_seconds(az.process.pid if az.process else None) - az0) * 1000 / n
            out.append({**asdict(r), "azurite_cpu_ms_per_image": az_ms})
            print(
                f"protocol N={n:5d}, claims {claims.value:7s}: {r.images_per_s:7.1f} img/s, "
                f"{r.requests_per_image:.1f} requests/img, CPU ms/img Azurite {az_ms:.0f}"
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


# Issue 21's pipeline goals: queued at N = 1,000, against the floors measured in the same run.
GOAL_N, GOAL_RATE, GOAL_SHARE = 1000, 50.0, 0.8


def _floor_rates(report: dict[str, Any], claims: Claims) -> dict[int, float]:
    return {
        p["images"]: p["images_per_s"]
        for p in report.get("protocol", [])
        if p["claims"] == claims.value
    }


def summary(report: dict[str, Any]) -> list[str]:
    """One table: 1-request floor, both protocol floors, pipeline queued and burst, ratios."""
    floors = {f["images"]: f["floor"]["images_per_s"] for f in report.get("floor", [])}
    protocol = _floor_rates(report, Claims.AT_ONCE)
    in_turn = _floor_rates(report, Claims.IN_TURN)
    pipe = report.get("pipeline", {})
    queued = {q["images"]: q["images_per_s"] for q in pipe.get("queued", [])}
    burst = {b["images"]: b["images_per_s"] for b in pipe.get("backlogs", [])}
    sizes = sorted(set(floors) | set(protocol) | set(in_turn) | set(queued) | set(burst))
    if not sizes:
        return []

    def fmt(d: dict[int, float], n: int) -> str:
        return f"{d[n]:8.1f}" if n in d else "       -"

    def ratio(a: dict[int, float], b: dict[int, float], n: int) -> str:
        return f"{a[n] / b[n]:8.0%}" if n in a and n in b else "       -"

    lines = [
        "     N  1-req floor  protocol floor  (claims in turn)  queued    burst  "
        "queued/protocol  (in turn)  queued/1-req"
    ]
    for n in sizes:
        lines.append(
            f"{n:6d}     {fmt(floors, n)}        {fmt(protocol, n)}          {fmt(in_turn, n)}"
            f"  {fmt(queued, n)} {fmt(burst, n)}         {ratio(queued, protocol, n)}   "
            f"{ratio(queued, in_turn, n)}      {ratio(queued, floors, n)}"
        )
    return lines


def pipeline_goals(report: dict[str, Any]) -> list[str]:
    """The pipeline goals, when the queued run at GOAL_N ran; the share is printed against
    both floors (the issue's is claims at once)."""
    queued = {q["images"]: q["images_per_s"] for q in report.get("pipeline", {}).get("queued", [])}
    if GOAL_N not in queued:
        return []
    rate = queued[GOAL_N]
    lines = [f"queued N={GOAL_N} {rate:.1f} img/s (goal >= {GOAL_RATE:.0f}): "
             f"{'met' if rate >= GOAL_RATE else 'not met'}"]  # fmt: skip
    for claims in Claims:
        floor = _floor_rates(report, claims).get(GOAL_N)
        if floor:
            share = rate / floor
            verdict = "met" if share >= GOAL_SHARE else "not met"
            lines.append(
                f"queued / protocol floor (claims {claims.value}, {floor:.1f} img/s) {share:.0%} "
                f"(goal >= {GOAL_SHARE:.0%}): {verdict}"
            )
    return lines
