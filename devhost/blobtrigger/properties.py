"""Blob properties as the real host hands them to a function (Azure.Storage.Blobs names)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from azure.storage.blob import BlobProperties


def quoted_etag(etag: str) -> str:
    """ETags with their quotes, as Get Blob Properties returns them (listings may drop them)."""
    return etag if etag.startswith('"') else f'"{etag}"'


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def blob_properties_dict(props: BlobProperties) -> dict[str, Any]:
    """BlobProperties serialised with the real host's (Azure.Storage.Blobs) PascalCase names."""
    settings = props.content_settings
    md5 = settings.content_md5
    return {
        "ContentLength": props.size,
        "Length": props.size,
        "ContentType": settings.content_type,
        "ContentEncoding": settings.content_encoding,
        "ContentLanguage": settings.content_language,
        "ContentDisposition": settings.content_disposition,
        "CacheControl": settings.cache_control,
        "ContentHash": base64.b64encode(bytes(md5)).decode() if md5 else None,
        "ETag": props.etag,
        "LastModified": _iso(props.last_modified),
        "CreatedOn": _iso(props.creation_time),
        "BlobType": str(getattr(props.blob_type, "value", props.blob_type)).removesuffix("Blob"),
        "Metadata": dict(props.metadata or {}),
    }
