"""`python -m bench --only monitor`: what the monitor costs.

1. Render time with 10,000 instances in the hub: the task hub's Instances table is filled with
   10,000 instances shaped like the pipeline's (input reference, outcome output; 90% stored,
   the rest duplicate/rejected/failed/running), then devhost (the real app) serves /monitor.
   Timed: the JSON endpoints (first call = full table read, then warm), the standalone monitor
   over the Durable HTTP API (10 list pages), and Chromium rendering the overview and one page
   of the instance list (navigation -> data drawn).
2. Pipeline throughput with and without an open, auto-refreshing monitor page (overview and
   instance list tabs), each on a fresh stack: the cost the page imposes on the pipeline.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from azure.data.tables import TableServiceClient

from bench.images import small_image
from bench.pipeline import cpu_seconds, run_backlog
from devhost.azurite import Azurite, free_port
from devhost.durabletask.azurestorage.names import escape_key
from devhost.monitor.chromium import ARGS, CHROMIUM
from devhost.process import REPO_ROOT, DevhostProcess
from imagemeta import db

HUB = "ImageMetadataHub"


def _entity(i: int, now: datetime) -> dict[str, Any]:
    rng = random.Random(i)
    name = f"seed/{i:05d}.jpg"
    created = now - timedelta(seconds=3600 - i * 0.36)
    roll = rng.random()
    if roll < 0.90:
        status, output = "Completed", {"blob": name, "status": "stored", "metadata": {"W": 1}}
    elif roll < 0.92:
        status, output = "Completed", {"blob": name, "status": "duplicate"}
    elif roll < 0.97:
        status, output = "Completed", {"blob": name, "status": "rejected", "reason": "not an image"}
    elif roll < 0.99:
        status = "Failed"
        output = "Orchestrator function 'OrchestratorFunction' failed: Activity function " \
                 "'StoreMetadata' failed: TransientStoreError: database is locked"  # fmt: skip
    else:
        status, output = "Running", None
    ref = {"container": "images-input", "name": name, "etag": f'"0x{i:X}"', "length": 1234}
    row: dict[str, Any] = {
        "PartitionKey": escape_key(f"seed-{i:05d}"),
        "RowKey": "",
        "Name": "OrchestratorFunction",
        "Version": "",
        "ExecutionId": f"{i:032x}",
        "RuntimeStatus": status,
        "CreatedTime": created,
        "LastUpdatedTime": created + timedelta(seconds=rng.uniform(0.3, 3)),
        "Input": json.dumps(json.dumps(ref)),  # as the SDK's start body stores it in Azure
        "TaskHubName": HUB,
    }
    if output is not None:
        row["Output"] = json.dumps(output)
    return row


def seed_instances(connection_string: str, n: int) -> float:
    service = TableServiceClient.from_connection_string(connection_string)
    table = service.create_table_if_not_exists(f"{HUB}Instances")
    now = datetime.now(UTC)
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: table.create_entity(_entity(i, now)), range(n)))
    return time.perf_counter() - started


def _get(url: str) -> tuple[float, Any]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        body = json.loads(resp.read())
    return (time.perf_counter() - started) * 1000, body


def _warm(url: str, runs: int = 5) -> float:
    return statistics.median(_get(url)[0] for _ in range(runs))


@contextmanager
def _browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
        try:
            yield b
        finally:
            b.close()


def _render_ms(page: Any, url: str, selector: str) -> float:
    page.goto("about:blank")
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(selector, timeout=60_000)
    return (time.perf_counter() - started) * 1000


def _stack(work: Path, tag: str) -> tuple[Azurite, str]:
    d = work / tag
    d.mkdir(parents=True, exist_ok=True)
    azurite = Azurite(location=d / "azurite", log_path=d / "azurite.log").start()
    sql = f"Driver={{SQLite3}};Database={d / 'pipeline.db'};Timeout=5000"
    db.migrate(sql)
    return azurite, sql


def bench_render(work: Path, n: int = 10_000) -> dict[str, Any]:
    azurite, sql = _stack(work, f"monitor-{n}")
    host = DevhostProcess(
        app_dir=REPO_ROOT,
        storage_connection_string=azurite.connection_string,
        env={"SqlConnectionString": sql, "AzureWebJobsStorage": azurite.connection_string},
        log_path=work / f"monitor-{n}" / "devhost.log",
    )
    out: dict[str, Any] = {"instances": n}
    browser = Path(CHROMIUM).exists()
    try:
        out["seed_s"] = seed_instances(azurite.connection_string, n)
        host.start()
        base = host.base_url + "/monitor/api"
        token = f"token={host.monitor_token}"  # the monitor's per-run token (devhost/guard.py)
        with _browser() if browser else nullcontext() as b:
            ui = host.monitor_url
            if b is not None:  # first: the page's first load reads the whole table
                out["browser_overview_cold_ms"] = _render_ms(b.new_page(), ui, "#count-total")
            else:
                out["overview_cold_ms"], _ = _get(f"{base}/overview?{token}")
            _, body = _get(f"{base}/overview?{token}")
            assert body["total"] == n, body["total"]
            out["overview_warm_ms"] = _warm(f"{base}/overview?{token}")
            out["list_page_ms"] = _warm(f"{base}/instances?page=3&size=50&sort=created&{token}")
            out["list_sorted_by_duration_ms"] = _warm(
                f"{base}/instances?size=50&sort=duration&{token}"
            )
            out["list_filtered_ms"] = _warm(
                f"{base}/instances?status=Failed&q=seed/0&size=50&{token}"
            )
            if b is not None:
                page = b.new_page()
                out["browser_overview_ms"] = statistics.median(
                    _render_ms(page, ui, "#count-total") for _ in range(3)
                )
                out["browser_list_page_ms"] = statistics.median(
                    _render_ms(page, ui + "#instances", "#instance-rows tr") for _ in range(3)
                )
            out["remote"] = _remote(host.base_url, b)
            if b is not None:
                out["poll_cost"] = _poll_cost(b, host, azurite)
    finally:
        host.stop()
        azurite.stop()
    return out


def browser_cpu_seconds() -> float:
    """CPU of the Chromium processes (and Playwright's driver) this process started."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            # Chromium and Playwright's node driver; not Azurite, also a node child of ours
            if "chrom" in child.name() or "playwright" in " ".join(child.cmdline()):
                total += sum(child.cpu_times()[:2])
    return total


def _poll_cost(browser: Any, host: DevhostProcess, azurite: Azurite, span: float = 20.0
               ) -> dict[str, float]:  # fmt: skip
    """CPU that open, auto-refreshing pages (overview + instance list) cost devhost, Azurite
    and the browser on this 10,000-instance hub, against the same span with no page open."""
    pids = [host.process.pid if host.process else None,
            azurite.process.pid if azurite.process else None]  # fmt: skip

    def cpu_ms_per_s() -> tuple[float, float]:
        before, b0 = sum(cpu_seconds(p) for p in pids), browser_cpu_seconds()
        time.sleep(span)
        after, b1 = sum(cpu_seconds(p) for p in pids), browser_cpu_seconds()
        return (after - before) * 1000 / span, (b1 - b0) * 1000 / span

    idle, browser_idle = cpu_ms_per_s()
    context = browser.new_context()
    for url in ("", "#instances"):
        context.new_page().goto(host.monitor_url + url)
    time.sleep(6)
    watched, browser_watched = cpu_ms_per_s()
    context.close()
    cores = os.cpu_count() or 1
    extra = (watched - idle) + (browser_watched - browser_idle)
    return {
        "idle_cpu_ms_per_s": round(idle, 1),
        "with_pages_cpu_ms_per_s": round(watched, 1),
        "browser_cpu_ms_per_s": round(browser_watched - browser_idle, 1),
        "share_of_machine_pct": round(extra / (cores * 1000) * 100, 2),
    }


def _remote(base_url: str, browser: Any) -> dict[str, float]:
    """The standalone monitor over the HTTP API only (as against a deployed app)."""
    port = free_port()
    argv = [sys.executable, "-m", "devhost.monitor", "--url", base_url, "--port", str(port)]
    token = "bench-monitor-token"
    env = {**os.environ, "DEVHOST_MONITOR_TOKEN": token}
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, env=env)
    out: dict[str, float] = {}
    try:
        ui = f"http://127.0.0.1:{port}/monitor?token={token}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(ui, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if browser is not None:  # first load: 10 list pages of 1000 through the API
            out["browser_overview_cold_ms"] = _render_ms(browser.new_page(), ui, "#count-total")
        else:
            out["overview_cold_ms"], _ = _get(ui.replace("/monitor", "/monitor/api/overview"))
        time.sleep(2.1)  # past the refresh interval: the warm figure includes a poll
        out["overview_warm_ms"] = _warm(ui.replace("/monitor", "/monitor/api/overview"))
        if browser is not None:
            out["browser_overview_ms"] = _render_ms(browser.new_page(), ui, "#count-total")
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def _pipeline_run(work: Path, tag: str, n: int, watch: Callable[[str], Any] | None) -> Any:
    azurite, sql = _stack(work, tag)
    host = DevhostProcess(
        app_dir=REPO_ROOT,
        storage_connection_string=azurite.connection_string,
        env={"SqlConnectionString": sql, "AzureWebJobsStorage": azurite.connection_string},
        log_path=work / tag / "devhost.log",
    )
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

    from bench.pipeline import RowWatcher  # noqa: PLC0415

    try:
        container = BlobServiceClient.from_connection_string(
            azurite.connection_string
        ).get_container_client("images-input")
        container.create_container()
        host.start()
        items = [(f"{tag}/{name}", data) for name, data in map(small_image, range(n))]
        rows = RowWatcher(work / tag / "pipeline.db")
        pid = azurite.process.pid if azurite.process else None
        if watch is None:
            return run_backlog(host, rows, container, items, azurite_pid=pid)
        with watch(host.monitor_url):
            return run_backlog(host, rows, container, items, azurite_pid=pid)
    finally:
        host.stop()
        azurite.stop()


BROWSER_CPU: list[float] = []  # seconds of Chromium CPU while a page watched a run


@contextmanager
def _open_page(monitor_url: str) -> Iterator[None]:
    with _browser() as b:
        overview = b.new_page()
        overview.goto(monitor_url)
        listing = b.new_page()
        listing.goto(monitor_url + "#instances")
        before = browser_cpu_seconds()
        yield
        BROWSER_CPU.append(browser_cpu_seconds() - before)


def bench_overhead(work: Path, n: int = 600, rounds: int = 3) -> dict[str, Any]:
    """Alternating runs (without, with, with, without, ...) to spread machine noise; medians.
    The page's browser CPU during the runs is measured too (it competes for the same cores)."""
    without: list[float] = []
    with_page: list[float] = []
    browser_ms: list[float] = []  # Chromium CPU per image while the page watched the run
    for r in range(rounds):
        order = [None, _open_page] if r % 2 == 0 else [_open_page, None]
        for watch in order:
            tag = f"overhead-{r}-{'page' if watch else 'none'}"
            res = _pipeline_run(work, tag, n, watch)
            (with_page if watch else without).append(res.images_per_s)
            if watch:
                browser_ms.append(BROWSER_CPU[-1] * 1000 / n)
            print(f"monitor overhead N={n} {'with page   ' if watch else 'without page'}: "
                  f"{res.images_per_s:.1f} img/s")  # fmt: skip
    a, b = statistics.median(without), statistics.median(with_page)
    return {
        "images": n,
        "without_page_img_s": without,
        "with_page_img_s": with_page,
        "cost_pct": round((a - b) / a * 100, 1),
        "noise_pct": round((max(without) - min(without)) / a * 100, 1),
        "browser_cpu_ms_per_image": browser_ms,
    }


def bench_monitor(work: Path, n: int = 10_000, overhead_n: int = 600) -> dict[str, Any]:
    render = bench_render(work, n)
    r = render["remote"]
    first = render.get("browser_overview_cold_ms", render.get("overview_cold_ms", 0))
    print(f"monitor N={n}: overview first load {first:.0f} ms (right after start), then "
          f"{render['overview_warm_ms']:.0f} ms (API); list page {render['list_page_ms']:.0f} ms, "
          f"sorted by duration {render['list_sorted_by_duration_ms']:.0f} ms")  # fmt: skip
    if "browser_overview_ms" in render:
        print(f"monitor N={n}: Chromium renders the overview in "
              f"{render['browser_overview_ms']:.0f} ms, a page of the instance list in "
              f"{render['browser_list_page_ms']:.0f} ms")  # fmt: skip
    if "poll_cost" in render:
        c = render["poll_cost"]
        print(f"monitor N={n}: two open auto-refreshing pages cost devhost+Azurite "
              f"{c['with_pages_cpu_ms_per_s'] - c['idle_cpu_ms_per_s']:.0f} ms and Chromium "
              f"{c['browser_cpu_ms_per_s']:.0f} ms of CPU per second "
              f"({c['share_of_machine_pct']:.1f}% of the machine)")  # fmt: skip
    r_first = r.get("browser_overview_cold_ms", r.get("overview_cold_ms", 0))
    print(f"monitor N={n} over the HTTP API only (deployed mode): first load {r_first:.0f} ms, "
          f"then {r['overview_warm_ms']:.0f} ms")  # fmt: skip
    if not Path(CHROMIUM).exists():
        print("monitor: no /usr/bin/chromium (scripts/bootstrap.sh installs it): page cost skipped")
        return {"render": render}
    overhead = bench_overhead(work, overhead_n)
    browser = statistics.median(overhead["browser_cpu_ms_per_image"])
    print(f"monitor: pipeline with an open auto-refreshing page: median "
          f"{statistics.median(overhead['without_page_img_s']):.1f} -> "
          f"{statistics.median(overhead['with_page_img_s']):.1f} img/s "
          f"({overhead['cost_pct']:.1f}%; runs without the page differ by "
          f"{overhead['noise_pct']:.0f}%); Chromium used {browser:.2f} ms CPU/image")  # fmt: skip
    return {"render": render, "overhead": overhead}
