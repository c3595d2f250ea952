"""Every use of a private Azure SDK internal in devhost, each with the public call behind it.

The host's hot storage requests (history `$batch`, the Instances row's reads and writes, the
Durable and blob-trigger queues' messages, the blob trigger's listing and receipts) skip the
SDK's model layer and per-request pipeline: each builds the request its public call would
build and sends it on the client's own aiohttp session under an account SAS (`_private.send`).
Measured by `python -m bench.micro` (client CPU per call) and the pipeline bench (devhost CPU
per image); `docs/performance.md` has the figures.

Why it is safe: a shortcut runs only against the SDK versions it was written for (the pins in
`_private`, which tests/devhost/test_sdkshortcuts.py checks against requirements*.txt), and any
outcome of a shortcut but its success, an error of whatever type included, is followed by the
public call, so a changed internal costs speed, never a wrong result, and failures surface as
the public call's own exceptions. `_private` holds every line that touches an SDK internal.
"""

from devhost.sdkshortcuts._private import PINNED, account_sas, versions_match
from devhost.sdkshortcuts.blobs import (
    PAGE_SIZE,
    ListedBlob,
    acquire_lease,
    create_if_missing,
    download_if_match,
    list_blobs,
    parse_page,
    release_lease,
    set_metadata,
)
from devhost.sdkshortcuts.queues import (
    delete_message,
    parse_messages,
    receive_messages,
    send_message,
)
from devhost.sdkshortcuts.tables import (
    Op,
    all_parts_succeeded,
    batch_body,
    create_entity,
    find_entity,
    insert_batch,
    replace_entity,
    transaction,
    upsert_batch,
)

__all__ = [
    "PAGE_SIZE",
    "PINNED",
    "ListedBlob",
    "Op",
    "account_sas",
    "acquire_lease",
    "all_parts_succeeded",
    "batch_body",
    "create_entity",
    "create_if_missing",
    "delete_message",
    "download_if_match",
    "find_entity",
    "insert_batch",
    "list_blobs",
    "parse_messages",
    "parse_page",
    "receive_messages",
    "release_lease",
    "replace_entity",
    "send_message",
    "set_metadata",
    "transaction",
    "upsert_batch",
    "versions_match",
]
