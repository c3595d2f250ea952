"""Request ledger: every storage request per image, by kind, from Azurite's own `--debug` log.

A dedicated run (debug logging slows Azurite, so it is never a throughput run): N images are
uploaded, devhost starts, the clock stops at the last row, and each request Azurite logged
after the uploads is classified by service, method and path. Nothing in devhost is
instrumented, so the count includes the activity's ranged read and every empty poll.

`REAL` is what DurableTask.AzureStorage + the WebJobs blob trigger issue for the same
2-activity orchestration, read from their source (see the README's ledger for the lines).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

SETUP = "setup: queues, tables, containers (once per run)"
_LINE = re.compile(
    r"(Blob|Queue|Table)StorageContextMiddleware: RequestMethod=(\w+) RequestURL=(\S+) "
    r"RequestHeaders:(\{.*?\}) ClientIP"
)


@dataclass(frozen=True)
class Request:
    service: str  # Blob | Queue | Table
    method: str
    path: str  # unquoted, without the account
    query: str
    headers: dict[str, str]


def parse(lines: Iterable[str]) -> Iterator[Request]:
    for line in lines:
        m = _LINE.search(line)
        if not m:
            continue
        url = urlsplit(m.group(3))
        path = unquote(url.path).split("/", 2)[-1]  # drop "/devstoreaccount1/"
        try:
            headers = {k.lower(): str(v) for k, v in json.loads(m.group(4)).items()}
        except ValueError:
            headers = {}
        yield Request(m.group(1), m.group(2), path, url.query, headers)


def _queue_role(name: str) -> str:
    if name.startswith("azure-webjobs-blobtrigger"):
        return "blob-trigger queue"
    if "-control-" in name:
        return "control queue"
    if name.endswith("-workitems"):
        return "work-item queue"
    return f"queue {name}"


def classify(r: Request) -> str:  # noqa: PLR0911 - one return per kind
    """A stable, human-readable kind for one request."""
    container, _, rest = r.path.partition("/")
    if r.service == "Queue":
        if not rest:
            return SETUP
        verb = {"GET": "receive", "POST": "send", "DELETE": "delete", "PUT": "update"}
        what = "peek" if "peekonly" in r.query else verb.get(r.method, r.method)
        return f"{_queue_role(container)}: {what}"
    if r.service == "Table":
        if container == "Tables":
            return SETUP
        if container.startswith("$batch"):
            return "History: $batch (history rows + sentinel)"
        table = re.sub(r"\(.*$", "", container)
        role = "Instances" if table.endswith("Instances") else (
            "History" if table.endswith("History") else table)  # fmt: skip
        verb = {"GET": "read/query", "POST": "insert", "PUT": "update (PUT or MERGE)",
                "PATCH": "update (PUT or MERGE)", "MERGE": "update (PUT or MERGE)",
                "DELETE": "delete"}  # fmt: skip
        return f"{role}: {verb.get(r.method, r.method)}"
    if container == "azure-webjobs-hosts":
        if rest.startswith("blobreceipts/"):
            if "comp=lease" in r.query:
                return "receipt: lease acquire/release"
            if r.method == "PUT":
                return "receipt: set metadata (complete)" if "comp=metadata" in r.query else (
                    "receipt: create (If-None-Match *)")  # fmt: skip
            return "receipt: GET" if r.method in ("GET", "HEAD") else f"receipt: {r.method}"
        if rest.startswith("blobscaninfo/"):
            return f"scan cursor: {r.method}"
        return SETUP
    if "comp=list" in r.query:
        return "container listing (scan)"
    if rest == "taskhub.json":  # {hub}-leases/taskhub.json: read once at start, as the
        return SETUP  # real BlobPartitionLeaseManager.GetOrCreateTaskHubInfoAsync does
    if r.method == "GET" and rest:
        rng = r.headers.get("x-ms-range", r.headers.get("range", ""))
        end = rng.rsplit("-", 1)[-1] if rng else ""
        if end.isdigit() and int(end) < 4 * 2**20:
            return "image blob: ranged read (ExtractMetadata)"
        return "image blob: download (trigger binding)"
    if r.method == "HEAD" and rest:
        return "image blob: properties"
    return SETUP  # containers, taskhub.json


def ledger(requests: Iterable[Request], images: int) -> dict[str, float]:
    """Requests per image by kind (the images' own uploads excluded)."""
    counts = Counter(
        classify(r)
        for r in requests
        if not (r.service == "Blob" and r.method == "PUT" and r.path.startswith("images-input/"))
    )
    return {k: v / images for k, v in sorted(counts.items())}


def read_ledger(debug_log: Path, images: int, *, skip_bytes: int = 0) -> dict[str, float]:
    with debug_log.open(encoding="utf-8", errors="replace") as f:
        f.seek(skip_bytes)
        return ledger(parse(f), images)


# What the real stack issues per image for the same orchestration (2 activities, no retries,
# default settings: no extended sessions, ExecutionStarted de-duplication on, Instances-table
# ETags off), read from source. Queue receives are batched (control 32, blob-trigger 16), so
# their share per image depends on load, as devhost's does: given here as "≤ 1" per batch.
REAL: dict[str, tuple[float | None, str]] = {
    "blob-trigger queue: receive": (None, "QueueListener polls, batches of 16"),
    "container listing (scan)": (None, "ScanBlobScanLogHybridPollingStrategy, a page of "
                                       "5,000 per poll"),
    "scan cursor: GET": (None, "StorageBlobScanInfoManager, per poll"),
    "scan cursor: PUT": (None, "StorageBlobScanInfoManager, per poll that found blobs"),
    "setup: queues, tables, containers (once per run)": (None, "CreateIfNotExists at start"),
    "control queue: receive": (None, "ControlQueue.GetMessagesAsync polls, batches of 32"),
    "image blob: properties": (3, "BlobTriggerExecutor FetchPropertiesOrNullIfNotExist; "
                                  "BlobQueueTriggerExecutor GetBlobReferenceFromServer; "
                                  "BlobCausalityReader.GetWriterAsync"),
    "receipt: GET": (2, "BlobTriggerExecutor TryReadAsync before create and under the lease"),
    "receipt: create (If-None-Match *)": (1, "BlobReceiptManager.TryCreateAsync"),
    "receipt: lease acquire/release": (2, "TryAcquireLeaseAsync, ReleaseLeaseAsync"),
    "receipt: set metadata (complete)": (1, "MarkCompletedAsync (before the function runs)"),
    "blob-trigger queue: send": (1, "BlobTriggerQueueWriter.EnqueueAsync"),
    "blob-trigger queue: delete": (1, "QueueListener on success"),
    "image blob: download (trigger binding)": (1, "the InputStream binding"),
    "Instances: read/query": (3, "app status check (GetStateAsync); CreateTaskOrchestration"
                                 "Async FetchInstanceStatusAsync; DedupeExecutionStarted"
                                 "MessagesAsync"),
    "Instances: insert": (1, "SetNewExecutionAsync InsertEntity (Pending)"),
    "Instances: update (PUT or MERGE)": (3, "UpdateStateAsync -> UpdateInstanceTableAsync, "
                                            "one per episode"),
    "History: read/query": (3, "ScheduleOrchestrationStatePrefetch GetHistoryEventsAsync, "
                               "one per episode (no extended sessions)"),
    "History: $batch (history rows + sentinel)": (3, "UploadHistoryBatch, one per episode"),
    "control queue: send": (3, "ExecutionStarted; two TaskCompleted (CompleteTaskActivity"
                               "WorkItemAsync)"),
    "control queue: delete": (3, "one per consumed message"),
    "work-item queue: send": (2, "CommitOutboundQueueMessages, one per TaskScheduled"),
    "work-item queue: receive": (2, "WorkItemQueue.GetMessageAsync takes one message (+ polls)"),
    "work-item queue: delete": (2, "CompleteTaskActivityWorkItemAsync"),
    "image blob: ranged read (ExtractMetadata)": (1, "the app's own read"),
}  # fmt: skip


def format_ledger(devhost: dict[str, float], floor: dict[str, float] | None = None) -> list[str]:
    """Side by side per kind: devhost (measured), the protocol floor (its own count) and the
    real stack (from source; "polls" where the count depends on load and back-off)."""
    kinds = sorted(set(devhost) | set(REAL))
    width = max(len(k) for k in kinds)
    lines = [f"{'kind':<{width}}  devhost    floor  DurableTask/WebJobs"]
    for k in kinds:
        real = REAL.get(k, (0.0, ""))[0]
        fl = f"{floor.get(k, 0.0):7.2f}" if floor is not None else "      -"
        rs = "  polls" if real is None else f"{real:7.0f}"
        lines.append(f"{k:<{width}}  {devhost.get(k, 0.0):7.2f}  {fl}  {rs}")
    total_real = sum(v for v, _ in REAL.values() if v is not None)
    fl = f"{sum(floor.values()):7.2f}" if floor is not None else "      -"
    lines.append(
        f"{'total':<{width}}  {sum(devhost.values()):7.2f}  {fl}  {total_real:7.0f} + polls"
    )
    return lines
