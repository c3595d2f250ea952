"""The two activities' logic, called by the thin function folders.

Both take and return plain dicts (what crosses the durable boundary as JSON). Inputs are
validated again here, not only in the orchestrator: an activity must be safe on its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from imagemeta.blobref import BlobRef, InvalidReference
from imagemeta.extract import ImageMetadata, ImageRejected, extract_from_blob
from imagemeta.store import store_for

log = logging.getLogger(__name__)

STORAGE_SETTING = "AzureWebJobsStorage"  # the trigger binding's `connection`
SQL_SETTING = "SqlConnectionString"


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"app setting {name} is not set")
    return value


def extract_metadata(ref_data: Any) -> dict[str, Any]:
    """{"rejected": False, "metadata": {...}} or {"rejected": True, "reason": "..."}.

    An invalid reference is a rejection, not an exception: retrying cannot make it valid.
    """
    try:
        ref = BlobRef.from_dict(ref_data)
    except InvalidReference as exc:
        log.warning("rejected an invalid blob reference: %s", exc.reason)
        return {"rejected": True, "reason": f"invalid blob reference: {exc.reason}"}
    try:
        meta = extract_from_blob(_setting(STORAGE_SETTING), ref)
    except ImageRejected as exc:
        log.warning("rejected %s/%s: %s", ref.container, ref.name, exc.reason)
        return {"rejected": True, "reason": exc.reason}
    return {"rejected": False, "metadata": meta.to_dict()}


def store_metadata(meta_data: dict[str, Any]) -> str:
    """'stored' or 'duplicate'; raises TransientStoreError/StoreError for the retry policy."""
    meta = ImageMetadata.from_dict(meta_data)
    return store_for(_setting(SQL_SETTING)).insert(meta)
