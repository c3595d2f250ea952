"""Blob trigger for devhost: container scan, receipts, retries and poison like the real host."""

from devhost.blobtrigger.listener import BlobTriggerListener
from devhost.blobtrigger.paths import BlobPath, parse_blob_path
from devhost.blobtrigger.properties import blob_properties_dict
from devhost.blobtrigger.targets import POISON_QUEUE, host_queue_name, target_from_binding

__all__ = [
    "POISON_QUEUE",
    "BlobPath",
    "BlobTriggerListener",
    "blob_properties_dict",
    "host_queue_name",
    "parse_blob_path",
    "target_from_binding",
]
