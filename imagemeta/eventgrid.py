"""Blob reference from an Event Grid `Microsoft.Storage.BlobCreated` event (metadata only).

The optional EventGridTriggerClient (options/eventgrid/) starts orchestrations from these
events instead of a blobTrigger: the event carries the name, ETag, length and content type, so
the function never receives the blob's bytes (a v1 Python blobTrigger's InputStream holds the
whole blob in the worker). The reference is then validated and read exactly like a trigger's.
"""

from __future__ import annotations

import re
from typing import Any

from imagemeta.blobref import BlobRef, InvalidReference, quoted_etag

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<name>.+)$")


def blobref_from_event(event_type: str, subject: str, data: Any) -> BlobRef:
    """The reference for a BlobCreated event on the watched container.

    Raises InvalidReference (with the reason to log) for anything else: other event types,
    other containers, unsupported extensions, names the pipeline refuses.
    """
    if event_type != BLOB_CREATED:
        raise InvalidReference(f"event type {event_type!r} is not {BLOB_CREATED}")
    match = _SUBJECT.match(subject or "")
    if match is None:
        raise InvalidReference(f"subject {subject[:200]!r} is not a blob subject")
    if not isinstance(data, dict):
        raise InvalidReference("event data is not an object")
    etag = data.get("eTag")
    return BlobRef.from_dict(
        {
            "container": match["container"],
            "name": match["name"],
            "uri": data.get("url") or "",
            "length": data.get("contentLength") or 0,
            "etag": quoted_etag(etag) if isinstance(etag, str) else etag,
            "contentType": data.get("contentType"),
        }
    )
