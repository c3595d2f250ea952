"""The Durable team's perf scenarios (test/PerfTests/Python in
Azure/azure-functions-durable-extension) under devhost, beside Microsoft's published targets.

The app is bench/apps/durableperf (written here in the same shapes). Each scenario gets a
fresh Azurite and a fresh devhost, is started through its HTTP starter as the Durable team's
driver does, and is timed from the starter's request to the moment the driver sees the last
instance finish (polled every 0.25 s through the Durable HTTP API). CPU is the process-tree
CPU of devhost and of Azurite over that window; peak RSS is devhost's process tree. Episodes
and the fan-in tail (last activity completion → ExecutionCompleted) are read from the parent's
History rows afterwards, outside the timed window.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from azure.data.tables import TableServiceClient

from bench.pipeline import RssSampler, cpu_seconds
from bench.sections import fresh_azurite
from devhost.azurite import Azurite
from devhost.durabletask.azurestorage.names import escape_key
from devhost.process import REPO_ROOT, DevhostProcess

APP = REPO_ROOT / "bench" / "apps" / "durableperf"
HUB = "PerfHub"  # the app's host.json
SEQUENTIAL = 100  # activities per SequentialOrchestrator

# Microsoft's published maximum throughput for the Azure Storage provider, one orchestration
# instance on one A1 VM with extended sessions ("Performance targets",
# https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#performance-targets).
TARGETS = {
    "sequential": "5 activities/s per instance",
    "fanout": "fan-out 100 activities/s, fan-in 150 responses/s per instance",
    "many": "5 activities/s per instance (sequential)",
    "suborch": "-",
}
DEFAULT = "sequential,fanout:100,fanout:1000,fanout:5000,many:10,suborch:10"


@dataclass
class Scenario:
    kind: str  # sequential | fanout | many | suborch
    count: int  # fan-out width, instances, or sub-orchestrations

    @property
    def label(self) -> str:
        return self.kind if self.kind == "sequential" else f"{self.kind} {self.count:,}"

    @property
    def activities(self) -> int:
        return self.count if self.kind == "fanout" else self.count * SEQUENTIAL

    @property
    def starter(self) -> tuple[str, int]:
        """(HTTP starter, body)."""
        return {
            "sequential": ("ManyInstances", 1),
            "many": ("ManyInstances", self.count),
            "fanout": ("FanOutFanIn", self.count),
            "suborch": ("SubOrchestrationFanOutFanIn", self.count),
        }[self.kind]


def parse_scenarios(spec: str) -> list[Scenario]:
    out = []
    for part in filter(None, spec.split(",")):
        kind, _, count = part.partition(":")
        if kind not in TARGETS:
            raise SystemExit(f"unknown durable scenario {kind!r} (one of {', '.join(TARGETS)})")
        out.append(Scenario(kind, int(count or 1)))
    return out


@dataclass
class PerfResult:
    scenario: str
    activities: int
    seconds: float
    activities_per_s: float
    devhost_cpu_s: float
    azurite_cpu_s: float
    devhost_cpu_ms_per_activity: float
    azurite_cpu_ms_per_activity: float
    devhost_peak_rss_mib: float
    azurite_peak_rss_mib: float
    episodes: int | None  # the parent's episodes (OrchestratorStarted rows)
    fan_in_tail_s: float | None  # last TaskCompleted -> ExecutionCompleted (parent)
    target: str


def _ids(kind: str, reply: Any, body: bytes) -> list[str]:
    if kind in ("sequential", "many"):
        return [line for line in body.decode().splitlines() if line]
    return [str(reply["id"])]


def _post(url: str, data: bytes) -> tuple[Any, bytes]:
    req = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(req, timeout=600) as resp:
        raw = resp.read()
    try:
        return json.loads(raw), raw
    except ValueError:
        return None, raw


def _wait_done(host: DevhostProcess, ids: list[str], timeout: float) -> None:
    pending = list(ids)
    deadline = time.monotonic() + timeout
    while pending:
        try:
            status = host.get_json(f"/durabletask/instances/{pending[-1]}")
        except OSError:  # a long replay holds devhost's loop: ask again
            status = None
        state = (status or {}).get("runtimeStatus")
        if state in ("Completed", "Failed", "Terminated"):
            if state != "Completed":
                raise RuntimeError(f"{pending[-1]} ended {state}: {status.get('output')}")
            pending.pop()
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} instances unfinished: {host.log_tail()}")
        time.sleep(0.25)


def _parse_ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def history_figures(az: Azurite, instance_id: str) -> tuple[int, float | None]:
    """(episodes, fan-in tail seconds) of one instance, from its History rows."""
    table = TableServiceClient.from_connection_string(az.connection_string).get_table_client(
        f"{HUB}History"
    )
    pk = escape_key(instance_id).replace("'", "''")
    episodes, last_done, completed = 0, None, None
    for row in table.query_entities(
        f"PartitionKey eq '{pk}'", select=["EventType", "_Timestamp", "Timestamp"]
    ):
        kind = row.get("EventType")
        stamp = _parse_ts(row.get("_Timestamp")) or _parse_ts(row.get("Timestamp"))
        if kind == "OrchestratorStarted":
            episodes += 1
        elif kind in ("TaskCompleted", "SubOrchestrationInstanceCompleted") and stamp:
            last_done = max(last_done, stamp) if last_done else stamp
        elif kind == "ExecutionCompleted":
            completed = stamp
    tail = (completed - last_done).total_seconds() if completed and last_done else None
    return episodes, tail


def run_scenario(sc: Scenario, work: Path, timeout: float = 3600) -> PerfResult:
    tag = f"durable-{sc.kind}-{sc.count}"
    with fresh_azurite(work, tag) as (az, _sql):
        host = DevhostProcess(
            app_dir=APP,
            storage_connection_string=az.connection_string,
            env={"AzureWebJobsStorage": az.connection_string},
            log_path=work / tag / "devhost.log",
        ).start()
        try:
            assert host.process is not None and az.process is not None
            az_pid = az.process.pid
            time.sleep(1.0)  # let start-up work (queue and table creation) settle
            dev0, az0 = cpu_seconds(host.process.pid), cpu_seconds(az_pid)
            with RssSampler(host.process.pid) as rss, RssSampler(az_pid) as az_rss:
                starter, body = sc.starter
                t0 = time.time()
                reply, raw = _post(f"{host.base_url}/api/{starter}", str(body).encode())
                ids = _ids(sc.kind, reply, raw)
                _wait_done(host, ids, timeout)
                seconds = time.time() - t0
                dev1, az1 = cpu_seconds(host.process.pid), cpu_seconds(az_pid)
            episodes, tail = (
                history_figures(az, ids[0]) if sc.kind in ("fanout", "suborch") else (None, None)
            )
        finally:
            host.stop()
    n = sc.activities
    return PerfResult(
        scenario=sc.label,
        activities=n,
        seconds=seconds,
        activities_per_s=n / seconds,
        devhost_cpu_s=dev1 - dev0,
        azurite_cpu_s=az1 - az0,
        devhost_cpu_ms_per_activity=(dev1 - dev0) * 1000 / n,
        azurite_cpu_ms_per_activity=(az1 - az0) * 1000 / n,
        devhost_peak_rss_mib=rss.peak / 2**20,
        azurite_peak_rss_mib=az_rss.peak / 2**20,
        episodes=episodes,
        fan_in_tail_s=tail,
        target=TARGETS[sc.kind],
    )


def goals(results: list[PerfResult]) -> list[str]:
    """The issue's goals, from whichever scenarios ran."""
    by = {r.scenario: r for r in results}
    lines = []
    f1, f5 = by.get("fanout 1,000"), by.get("fanout 5,000")
    if f1:
        ok = "met" if f1.activities_per_s >= 100 else "NOT met"
        lines.append(f"fan-out 1,000 ≥ 100 activities/s: {f1.activities_per_s:.1f} ({ok})")
    if f1 and f5:
        wall = f5.seconds / f1.seconds
        cpu = (f5.devhost_cpu_s + f5.azurite_cpu_s) / (f1.devhost_cpu_s + f1.azurite_cpu_s)
        ok = "met" if wall <= 6 else "NOT met"
        lines.append(
            f"fan-out 5,000 cost ≤ 6× fan-out 1,000: wall {wall:.1f}×, CPU {cpu:.1f}× ({ok})"
        )
    if f5:
        ok = "met" if f5.devhost_peak_rss_mib <= 150 else "NOT met"
        lines.append(
            f"fan-out 5,000 devhost peak RSS ≤ 150 MiB: {f5.devhost_peak_rss_mib:.0f} MiB ({ok})"
        )
    return lines


def bench_durable(spec: str, work: Path) -> dict[str, Any]:
    results = []
    load0 = psutil.getloadavg()
    for sc in parse_scenarios(spec):
        r = run_scenario(sc, work)
        results.append(r)
        extra = ""
        if r.episodes is not None:
            extra = f", {r.episodes} episodes"
        if r.fan_in_tail_s is not None:
            extra += f", fan-in tail {r.fan_in_tail_s:.1f} s"
        print(
            f"durable {r.scenario:>13}: {r.activities:6d} activities in {r.seconds:6.1f} s = "
            f"{r.activities_per_s:6.1f}/s; CPU ms/activity devhost "
            f"{r.devhost_cpu_ms_per_activity:.1f} Azurite {r.azurite_cpu_ms_per_activity:.1f}; "
            f"peak RSS devhost {r.devhost_peak_rss_mib:.0f} MiB Azurite "
            f"{r.azurite_peak_rss_mib:.0f} MiB{extra} (target: {r.target})"
        )
    lines = goals(results)
    for line in lines:
        print("durable goal: " + line)
    load1 = psutil.getloadavg()
    print(f"durable: load average {load0[0]:.1f} before, {load1[0]:.1f} after")
    return {
        "results": [asdict(r) for r in results],
        "goals": lines,
        "load_before": load0,
        "load_after": load1,
    }
