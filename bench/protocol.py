"""Protocol floor: the storage requests devhost issues per image, with no host around them.

The same queues, tables, blob ranges, body sizes and batching as the pipeline (bench.ledger
counts them), driven by the tightest client this machine can run: one asyncio loop, raw
aiohttp requests authorised by one account SAS (no per-request signing, no SDK pipeline),
bodies formatted once per kind. Per image, in the pipeline's order:

  scan      listing page (5,000 blobs), receipt create (If-None-Match *), receipt lease
            acquire, trigger message send, receipt metadata (complete, under the lease), release
  trigger   receive (≤32), blob download, Instances read (the app's status check), Instances
            insert, control send (ExecutionStarted), delete
  episode×3 control receive (≤32), History $batch (4 rows + sentinel), Instances update,
            work-item send (episodes 1, 2), control delete
  activity×2 work-item receive (≤8), [ranged read + header parse | INSERT], control send, delete

Polling uses devhost's own BackoffPoller (same window, same local wake-up), so receives per
image match too. What is left out is exactly the host: no Functions SDK, replay, bindings.

Two floors, one rule apart. `Claims.AT_ONCE` (the floor the pipeline was first measured against)
claims every listed blob at once. `Claims.IN_TURN` claims them one after another, as the real
host must: ScanBlobScanLogHybridPollingStrategy.PollAndNotify awaits each blob's
BlobTriggerExecutor.ExecuteAsync (HEAD, receipt read, create, lease, read, enqueue, complete,
release: eight round trips) before the next, so a backlog reaches the functions no faster than
one claim's round trips allow, on Azure as here. devhost's claim makes five of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import quote

import aiohttp
import pyodbc
from PIL import Image

from bench.rawstorage import HUB, Raw, account_sas
from devhost.azurite import Azurite
from devhost.durabletask.azurestorage.partitions import leases_container
from devhost.queuepump import BackoffPoller
from devhost.sdkshortcuts import Op
from imagemeta.store import INSERT_SQL

PARTITIONS = 4
RECEIPTS = "azure-webjobs-hosts/blobreceipts/floor/Host.Functions.F"
_BLOB = re.compile(rb"<Name>(.*?)</Name>.*?<Etag>(.*?)</Etag>", re.S)
_MARKER = re.compile(rb"<NextMarker>(.*?)</NextMarker>")
# Body sizes measured on devhost's requests (bench.ledger, Azurite's content-length).
SIZES = {
    "control": 1165,
    "workitem": 1197,
    "trigger": 359,
    "insert": 1029,
    "update": 1330,
    "batch_row": 900,
}


def _pad(body: dict[str, Any], size: int) -> str:
    text = json.dumps(body)
    return json.dumps({**body, "pad": "x" * max(0, size - len(text) - 10)})


def _fnv1a(text: str) -> int:
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


QUEUES = [
    *(f"{HUB.lower()}-control-{p:02d}" for p in range(PARTITIONS)),
    f"{HUB.lower()}-workitems",
    "floor-blobtrigger",
]


async def create_hub(r: Raw) -> None:
    """The queues, tables and containers a host creates at start (not timed, not counted)."""
    for q in QUEUES:
        await r.call("setup", "PUT", r.url("queue", q), ok=(201, 204))
    for t in ("Instances", "History"):
        body = json.dumps({"TableName": HUB + t})
        await r.table("setup", "POST", r.url("table", "Tables"), body, ok=(201, 204, 409))
    for c in ("azure-webjobs-hosts", leases_container(HUB)):
        await r.call("setup", "PUT", r.url("blob", c, "restype=container"), ok=(201, 409))


@dataclass
class SqlSink:
    """The app's INSERT (imagemeta.store's statement) on one connection in one thread."""

    sql: str
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    _conn: pyodbc.Connection | None = None

    def _insert(self, name: str, etag: str, meta: tuple[int, int, str]) -> None:
        w, h, fmt = meta
        if self._conn is None:
            self._conn = pyodbc.connect(self.sql, autocommit=True)
        digest = hashlib.sha256(name.encode()).hexdigest()
        now = datetime.now(UTC)
        params = (name, 1, w, h, fmt, now, etag, digest, "RGB", None, None, None, None)
        self._conn.execute(INSERT_SQL, *params, digest, etag)

    async def insert(self, name: str, etag: str, meta: tuple[int, int, str]) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._insert, name, etag, meta)


class Claims(Enum):
    AT_ONCE = "at once"  # every listed blob claimed concurrently
    IN_TURN = "in turn"  # one blob after another (the real host's PollAndNotify)


@dataclass
class FloorRun:
    raw: Raw
    sink: SqlSink
    images: int
    claims: Claims = Claims.AT_ONCE
    done: int = 0
    checkpoints: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    pollers: dict[str, BackoffPoller] = field(default_factory=dict)

    def poller(self, queue: str) -> BackoffPoller:
        return self.pollers.setdefault(queue, BackoffPoller(queue, 0.5))

    async def send(self, kind: str, queue: str, body: dict[str, Any], size: int) -> None:
        await self.raw.send(kind, queue, _pad(body, size))
        self.poller(queue).wake()  # the same local wake-up devhost does

    # stage 1: the container scan
    async def scan(self) -> None:
        r, marker = self.raw, ""
        while True:
            q = "restype=container&comp=list&maxresults=5000" + (
                f"&marker={marker}" if marker else ""
            )
            page = await r.call("container listing (scan)", "GET", r.url("blob", "images-input", q))
            blobs = [(n.decode(), e.decode()) for n, e in _BLOB.findall(page)]
            if self.claims is Claims.IN_TURN:
                for n, e in blobs:
                    await self.new_blob(n, e)
            else:
                await asyncio.gather(*(self.new_blob(n, e) for n, e in blobs))
            m = _MARKER.search(page)
            marker = m.group(1).decode() if m and m.group(1) else ""
            if not marker:
                return

    async def new_blob(self, name: str, etag: str) -> None:
        r = self.raw
        receipt = f"{RECEIPTS}/{quote(etag)}/images-input/{name}"
        await r.call(
            "receipt: create (If-None-Match *)",
            "PUT",
            r.url("blob", receipt),
            headers={
                "x-ms-blob-type": "BlockBlob",
                "If-None-Match": "*",
                "x-ms-meta-Incomplete": "Incomplete",
            },
        )
        lease = str(uuid.uuid4())
        await r.call(
            "receipt: lease acquire/release",
            "PUT",
            r.url("blob", receipt, "comp=lease"),
            headers={
                "x-ms-lease-action": "acquire",
                "x-ms-lease-duration": "30",
                "x-ms-proposed-lease-id": lease,
            },
        )
        await self.send(
            "blob-trigger queue",
            "floor-blobtrigger",
            {"BlobName": name, "ETag": etag, "receipt": receipt},
            SIZES["trigger"],
        )
        await r.call(
            "receipt: set metadata (complete)",
            "PUT",
            r.url("blob", receipt, "comp=metadata"),
            headers={"x-ms-lease-id": lease},
        )
        await r.call(
            "receipt: lease acquire/release",
            "PUT",
            r.url("blob", receipt, "comp=lease"),
            headers={"x-ms-lease-action": "release", "x-ms-lease-id": lease},
        )

    async def pump(self, queue: str, kind: str, n: int, handle: Any) -> None:
        poller = self.poller(queue)
        while True:  # cancelled once the last checkpoint is counted
            got = await poller.receive(lambda c: self.raw.receive(kind, queue, c), n)
            await asyncio.gather(*(handle(m) for m in got))

    # stage 2: the blob-trigger function and the client's start
    async def trigger(self, msg: tuple[str, str, str]) -> None:
        r, body = self.raw, json.loads(html.unescape(msg[2]))
        name, etag = body["BlobName"], body["ETag"]
        await r.call(
            "image blob: download (trigger binding)",
            "GET",
            r.url("blob", f"images-input/{name}"),
            headers={"x-ms-range": "bytes=0-33554431", "If-Match": etag},
            ok=(200, 206),
        )
        pk = "i" + format(abs(hash((name, etag))), "x")
        await r.table(
            "Instances: read/query", "GET", r.entity_url(f"{HUB}Instances", pk), ok=(404,)
        )
        await r.table(
            "Instances: insert",
            "POST",
            r.url("table", f"{HUB}Instances"),
            _pad({"PartitionKey": pk, "RowKey": "", "RuntimeStatus": "Pending"}, SIZES["insert"]),
        )
        await self.send(
            "control queue",
            f"{HUB.lower()}-control-{_fnv1a(pk) % PARTITIONS:02d}",
            {"pk": pk, "ep": 1, "name": name, "etag": etag},
            SIZES["control"],
        )
        await r.delete("blob-trigger queue", "floor-blobtrigger", msg)

    # stage 3: orchestrator episodes (checkpoint: send, history, instance row, delete)
    async def episode(self, queue: str, msg: tuple[str, str, str]) -> None:
        r, body = self.raw, json.loads(html.unescape(msg[2]))
        pk, ep = body["pk"], body["ep"]
        if ep < 3:
            await self.send(
                "work-item queue",
                f"{HUB.lower()}-workitems",
                {**body, "activity": ep},
                SIZES["workitem"],
            )
        rows: list[Op] = [
            (
                "create",
                {
                    "PartitionKey": pk,
                    "RowKey": f"{4 * ep + i:016X}",
                    "Payload": "x" * SIZES["batch_row"],
                },
            )
            for i in range(4)
        ]
        sentinel = {
            "PartitionKey": pk,
            "RowKey": "sentinel",
            "ExecutionId": "e",
            "IsCheckpointComplete": True,
        }
        rows.append(("create", sentinel) if ep == 1 else ("update", sentinel))
        await r.batch(rows)
        await r.table(
            "Instances: update (PUT or MERGE)",
            "PUT",
            r.entity_url(f"{HUB}Instances", pk),
            _pad({"RuntimeStatus": "Completed" if ep == 3 else "Running"}, SIZES["update"]),
            extra={"If-Match": "*"},
        )
        await r.delete("control queue", queue, msg)
        self.checkpoints += 1

    # stage 4: the two activities
    async def activity(self, msg: tuple[str, str, str]) -> None:
        r, body = self.raw, json.loads(html.unescape(msg[2]))
        pk, name = body["pk"], body["name"]
        if body["activity"] == 1:
            data = await r.call(
                "image blob: ranged read (ExtractMetadata)",
                "GET",
                r.url("blob", f"images-input/{name}"),
                headers={"x-ms-range": "bytes=0-65535", "If-Match": body["etag"]},
                ok=(200, 206),
            )
            im = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "GIF"])
            body["meta"] = [im.width, im.height, im.format]
        else:
            meta = tuple(body["meta"])
            await self.sink.insert(name, body["etag"], meta)
            self.done += 1
            if self.done == self.images:
                self.finished.set()
        await self.send(
            "control queue",
            f"{HUB.lower()}-control-{_fnv1a(pk) % PARTITIONS:02d}",
            {**body, "ep": body["activity"] + 1},
            SIZES["control"],
        )
        await r.delete("work-item queue", f"{HUB.lower()}-workitems", msg)


@dataclass
class ProtocolResult:
    images: int
    seconds: float
    images_per_s: float
    requests_per_image: float
    by_kind: dict[str, float]
    claims: str = Claims.AT_ONCE.value


async def _run(
    azurite: Azurite, sql: str, images: int, timeout: float, claims: Claims
) -> ProtocolResult:
    conn = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=conn, auto_decompress=False) as session:
        run = FloorRun(Raw(azurite, session, account_sas()), SqlSink(sql), images, claims)
        await create_hub(run.raw)
        hub = HUB.lower()
        start = time.perf_counter()
        tasks = [
            asyncio.create_task(run.scan()),
            asyncio.create_task(
                run.pump("floor-blobtrigger", "blob-trigger queue", 32, run.trigger)
            ),
            asyncio.create_task(run.pump(f"{hub}-workitems", "work-item queue", 8, run.activity)),
        ]
        for p in range(PARTITIONS):
            q = f"{hub}-control-{p:02d}"
            tasks.append(
                asyncio.create_task(
                    run.pump(q, "control queue", 32, lambda m, q=q: run.episode(q, m))
                )
            )
        await asyncio.wait_for(run.finished.wait(), timeout)
        secs = time.perf_counter() - start
        deadline = time.monotonic() + 30  # let the last episodes checkpoint before counting
        while run.checkpoints < 3 * images and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        run.sink.pool.shutdown()
        counts = {k: v / images for k, v in sorted(run.raw.counts.items()) if k != "setup"}
        return ProtocolResult(
            images, secs, images / secs, sum(counts.values()), counts, claims.value
        )


def protocol_floor(
    azurite: Azurite,
    sql: str,
    images: int,
    timeout: float = 1800,
    claims: Claims = Claims.AT_ONCE,
) -> ProtocolResult:
    """Process `images` blobs already in `images-input` of `azurite`; rows go to `sql`."""
    return asyncio.run(_run(azurite, sql, images, timeout, claims))
