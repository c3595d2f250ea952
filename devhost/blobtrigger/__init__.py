"""Blob trigger for devhost: container scan, receipts, retries and poison like the real host."""

from devhost.blobtrigger.listener import (
    POISON_QUEUE,
    BlobTriggerListener,
    blob_properties_dict,
    host_queue_name,
    target_from_binding,
)
from devhost.blobtrigger.paths import BlobPath, parse_blob_path

__all__ = [
    "POISON_QUEUE",
    "BlobPath",
    "BlobTriggerListener",
    "blob_properties_dict",
    "host_queue_name",
    "parse_blob_path",
    "target_from_binding",
]
