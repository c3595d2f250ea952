"""Fault suite: the real pipeline (Azurite + devhost + SQLite ODBC) under hostile input and faults.

Every test ends by checking the two things users care about: exactly one correct row per
readable blob version, and every orchestration in a terminal state that says what happened.
Figures (convergence time, restarts, outage lengths, peak memory) are printed, not asserted.
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess
from devhost.recovery import restart_failed
from tests.harness import Pipeline, image_bytes
from tests.reliability.corpus import corpus
from tests.waiting import wait_until

pytestmark = pytest.mark.reliability


def _peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    peak = 0
    while not stop.is_set():
        try:
            proc = psutil.Process(pid)
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            pass
        stop.wait(0.2)
    out.append(peak)


def test_hostile_corpus_rows_and_rejections(pipeline_factory: Callable[..., Pipeline]) -> None:
    p = pipeline_factory()
    cases = corpus()
    assert len(cases) >= 200
    assert p.devhost.process is not None
    stop, peak = threading.Event(), []
    sampler = threading.Thread(target=_peak_rss, args=(p.devhost.process.pid, stop, peak))
    sampler.start()
    started = time.monotonic()
    etags = p.upload_many({c.name: c.data for c in cases})
    done = p.wait_terminal(set(etags.items()), timeout=600)
    stop.set()
    sampler.join()

    assert p.devhost.process.poll() is None, "devhost died"
    statuses = {name: inst["runtimeStatus"] for (name, _), inst in done.items()}
    assert set(statuses.values()) == {"Completed"}, {
        n: s for n, s in statuses.items() if s != "Completed"
    }
    outputs = {name: inst["output"] for (name, _), inst in done.items()}
    rows = {r["FileName"]: r for r in p.rows()}
    wrong: list[str] = []
    for c in cases:
        out = outputs[c.name]
        if c.expect is None:
            if out["status"] != "rejected" or not out.get("reason") or c.name in rows:
                wrong.append(f"{c.name}: expected rejection, got {out} / row={c.name in rows}")
        else:
            row = rows.get(c.name)
            got = None if row is None else (row["Width"], row["Height"], row["Format"])
            if out["status"] != "stored" or got != c.expect:
                wrong.append(f"{c.name}: expected {c.expect}, got {out['status']} {got}")
    assert wrong == []
    assert len(rows) == sum(1 for c in cases if c.expect is not None)
    by_cat: dict[str, list[int]] = {}
    for c in cases:
        by_cat.setdefault(c.category, [0, 0])[c.expect is None] += 1
    print(f"\nhostile corpus: {len(cases)} files in {time.monotonic() - started:.1f} s, "
          f"{len(rows)} rows, peak devhost RSS {peak[0] / 2**20:.0f} MiB")  # fmt: skip
    for cat, (ok, rej) in sorted(by_cat.items()):
        print(f"  {cat:22s} stored {ok:3d}  rejected {rej:3d}")
    assert peak[0] < 1024 * 2**20, "devhost memory is not bounded"


def test_duplicate_triggers_never_double_a_row(pipeline_factory: Callable[..., Pipeline]) -> None:
    p = pipeline_factory()
    etag = p.upload("dup/one.png", image_bytes("PNG", (11, 12)))
    p.wait_terminal({("dup/one.png", etag)})
    svc = BlobServiceClient.from_connection_string(p.azurite.connection_string)
    hosts = svc.get_container_client("azure-webjobs-hosts")

    def trigger_runs() -> int:  # the log is appended to across restarts
        return p.devhost.log_tail(100000).count("Executed 'Functions.BlobTriggerClient'")

    def restart_and_refire() -> None:
        """Forget that the blob was ever seen (receipts, scan cursor), restart, and wait until
        the re-fired trigger has run to its end (it finds the instance and starts nothing)."""
        p.devhost.stop()
        for b in hosts.list_blobs():
            if b.name.startswith(("blobreceipts/", "blobscaninfo/")):
                hosts.delete_blob(b.name)
        before = trigger_runs()
        p.devhost.start()
        wait_until(
            lambda: trigger_runs() > before,
            timeout=60,
            interval=0.3,
            message=lambda: "the trigger did not re-fire\n" + p.devhost.log_tail(),
        )

    for attempt in range(3):
        restart_and_refire()
        duplicates = p.devhost.log_tail(100000).count("Duplicate trigger for dup/one.png")
        assert duplicates >= attempt + 1, p.devhost.log_tail()  # what the trigger decided
        p.wait_terminal({("dup/one.png", etag)})  # any orchestration it started has ended
        rows = [r for r in p.rows() if r["FileName"] == "dup/one.png"]
        assert len(rows) == 1, f"attempt {attempt}: {len(rows)} rows"

    new = p.upload("dup/one.png", image_bytes("PNG", (13, 14)))
    p.wait_terminal({("dup/one.png", new)})
    rows = sorted((r["Width"], r["Height"]) for r in p.rows() if r["FileName"] == "dup/one.png")
    assert rows == [(11, 12), (13, 14)]


def test_repeated_sigkill_during_backlog(pipeline_factory: Callable[..., Pipeline]) -> None:
    p = pipeline_factory()
    n = 300
    items = {f"k9/{i:04d}.png": image_bytes("PNG", (i + 1, 3)) for i in range(n)}
    etags = p.upload_many(items)
    rng = random.Random(9)
    kills = 0
    started = time.monotonic()

    def rows_reach(count: float) -> None:
        wait_until(
            lambda: len(p.rows()) >= count,
            timeout=180,
            interval=0.1,
            message=lambda: f"{len(p.rows())} of {n} rows, waiting for {count:.0f}",
        )

    for fraction in (0.15, 0.4, 0.7):
        rows_reach(n * fraction)
        time.sleep(rng.uniform(0, 0.5))  # a random point in the work, not a wait
        if len(p.rows()) >= n:
            break
        p.devhost.kill()
        kills += 1
        p.devhost.start()
    done = p.wait_terminal(set(etags.items()), timeout=600)
    print(f"\nkill -9: {kills} SIGKILLs survived, {n} images converged in "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    assert kills >= 2
    assert {i["runtimeStatus"] for i in done.values()} == {"Completed"}
    rows = p.rows()
    assert sorted(r["FileName"] for r in rows) == sorted(items)
    assert {r["FileName"]: r["Width"] for r in rows} == {n: int(n[3:7]) + 1 for n in items}


def test_storage_outage_recovers_by_itself(pipeline_factory: Callable[..., Pipeline]) -> None:
    p = pipeline_factory()
    items = {f"outage/{i:03d}.gif": image_bytes("GIF", (i + 1, 2), "P") for i in range(80)}
    etags = p.upload_many(items)
    wait_until(
        lambda: len(p.rows()) >= 10,
        timeout=120,
        interval=0.1,
        message=lambda: f"{len(p.rows())} rows before the outage",
    )
    outage = 15.0
    p.azurite.stop()
    time.sleep(outage)
    assert p.devhost.process is not None and p.devhost.process.poll() is None, "devhost died"
    p.azurite.start()
    started = time.monotonic()
    done = p.wait_terminal(set(etags.items()), timeout=600)
    print(f"\nstorage outage: {outage:.0f} s survived; converged "
          f"{time.monotonic() - started:.1f} s after storage returned")  # fmt: skip
    assert {i["runtimeStatus"] for i in done.values()} == {"Completed"}
    assert sorted(r["FileName"] for r in p.rows()) == sorted(items)


def _sqlite_path(sql: str) -> Path:
    return Path(sql.split("Database=", 1)[1].split(";", 1)[0])


def test_sql_outage_fails_visibly_then_restart_failed_completes(
    pipeline_factory: Callable[..., Pipeline],
) -> None:
    p = pipeline_factory()
    lock = sqlite3.connect(_sqlite_path(p.sql), isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # the database is unavailable to everyone else
    hold = 90.0
    try:
        items = {f"sqlout/{i:02d}.jpg": image_bytes("JPEG", (i + 10, 5)) for i in range(20)}
        etags = p.upload_many(items)
        done = p.wait_terminal(set(etags.items()), timeout=hold + 300)
        failed_during = [k for k, v in done.items() if v["runtimeStatus"] == "Failed"]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert failed_during, "no orchestration failed while the database was locked"
    for key in failed_during:
        assert "StoreMetadata" in json.dumps(done[key].get("output"))
    assert p.rows() == []

    restarted = restart_failed(p.devhost.base_url)
    assert {r.instance_id for r in restarted} == {done[k]["instanceId"] for k in failed_during}

    def all_completed() -> dict[tuple[str, str], dict[str, Any]] | None:
        # restarted instances go Failed -> Pending/Running -> Completed
        done = p.wait_terminal(set(etags.items()), timeout=300)
        return done if all(v["runtimeStatus"] == "Completed" for v in done.values()) else None

    done = wait_until(
        all_completed, timeout=300, interval=1, message="restarted instances did not complete"
    )
    assert {v["runtimeStatus"] for v in done.values()} == {"Completed"}
    assert sorted(r["FileName"] for r in p.rows()) == sorted(items)
    print(f"\nSQL outage: {len(failed_during)} of {len(items)} failed visibly after retries; "
          f"all {len(items)} stored once after restart-failed")  # fmt: skip


def test_poison_blob_lands_on_the_poison_queue(tmp_path: Path, azurite_fresh: Azurite) -> None:
    cs = azurite_fresh.connection_string
    svc = BlobServiceClient.from_connection_string(cs)
    svc.create_container("poison-test")
    host = DevhostProcess(
        app_dir=REPO_ROOT / "tests" / "apps" / "poison_app",
        storage_connection_string=cs,
        env={"AzureWebJobsStorage": cs},
        log_path=tmp_path / "devhost.log",
    ).start()
    try:
        etag = svc.get_blob_client("poison-test", "bad.png").upload_blob(b"x")["etag"]
        poison = QueueClient.from_connection_string(cs, "webjobs-blobtrigger-poison")
        msgs = wait_until(
            lambda: [json.loads(base64.b64decode(m.content)) for m in poison.peek_messages(32)],
            timeout=120,
            interval=0.5,
            message=lambda: "nothing on the poison queue\n" + host.log_tail(),
            ignore=(ResourceNotFoundError,),  # the queue is created on the first poison message
        )
        assert msgs == [
            {
                "Type": "BlobTrigger",
                "FunctionId": "Host.Functions.AlwaysFails",
                "BlobType": "BlockBlob",
                "ContainerName": "poison-test",
                "BlobName": "bad.png",
                "ETag": etag,
            }
        ]
        assert host.process is not None and host.process.poll() is None
        assert host.log_tail(10000).count("Functions.AlwaysFails' (Failed") == 3
    finally:
        host.stop()
