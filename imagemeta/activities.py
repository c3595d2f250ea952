"""The two activities' logic, called by the thin function folders.

Both take and return plain dicts (what crosses the durable boundary as JSON). Inputs are
validated again here, not only in the orchestrator: an activity must be safe on its own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from imagemeta.blobref import BlobRef, InvalidReference
from imagemeta.contract import CONFIGURATION_ERROR, InvalidMetadata, parse_metadata
from imagemeta.extract import ImageRejected, extract_from_blob
from imagemeta.store import StoreConfigError, store_for
from imagemeta.textsafe import escape_text

log = logging.getLogger(__name__)

STORAGE_SETTING = "AzureWebJobsStorage"  # the trigger binding's `connection`
SQL_SETTING = "SqlConnectionString"


class MissingSetting(RuntimeError):
    """An app setting the activity needs is not set (configuration, never retried)."""


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSetting(f"app setting {name} is not set")
    return value


def extract_metadata(ref_data: Any) -> dict[str, Any]:
    """{"rejected": False, "metadata": {...}} or {"rejected": True, "reason": "..."}.

    An invalid reference is a rejection, not an exception: retrying cannot make it valid.
    """
    try:
        ref = BlobRef.from_dict(ref_data)
    except InvalidReference as exc:
        log.warning("rejected an invalid blob reference: %s", escape_text(exc.reason, 300))
        return {"rejected": True, "reason": f"invalid blob reference: {exc.reason}"}
    try:
        meta = extract_from_blob(_setting(STORAGE_SETTING), ref)
    except ImageRejected as exc:
        log.warning(
            "rejected %s/%s: %s",
            escape_text(ref.container),
            escape_text(ref.name),
            escape_text(exc.reason, 300),
        )
        return {"rejected": True, "reason": exc.reason}
    return {"rejected": False, "metadata": meta.to_dict()}


def store_metadata(meta_data: Any) -> str | dict[str, str]:
    """'stored' or 'duplicate'; raises TransientStoreError/StoreError for the retry policy.

    A wrong SqlConnectionString (not set, or naming an ODBC driver or data source this machine
    does not have) is returned as `{"configurationError": reason}` instead of raised: the
    Python SDK's RetryOptions retries every exception alike (it has no handler predicate),
    and five attempts cannot install a driver, so the orchestrator fails at once on it.

    The input must be ExtractMetadata's output (imagemeta.contract): StoreMetadata can be run
    on its own through the host's admin API, so anything else raises InvalidMetadata before
    any SQL, and the invocation fails with the field and the bound it broke.
    """
    try:
        meta = parse_metadata(meta_data)
    except InvalidMetadata as exc:
        log.error("StoreMetadata refused its input, nothing stored: %s", exc.reason)
        raise
    try:
        return store_for(_setting(SQL_SETTING)).insert(meta)
    except (StoreConfigError, MissingSetting) as exc:
        log.error("StoreMetadata: configuration error, nothing stored: %s", exc)
        return {CONFIGURATION_ERROR: str(exc)}
