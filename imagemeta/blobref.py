"""The small reference to a blob version that travels through the orchestration.

Only this reference crosses the durable boundary, never the image bytes: queue messages and
history rows stay small, and an activity reads exactly the bytes it needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")


def is_supported_name(blob_name: str) -> bool:
    """The trigger's filter: only these extensions start an orchestration (case-insensitive)."""
    return blob_name.lower().endswith(SUPPORTED_EXTENSIONS)


def quoted_etag(etag: str) -> str:
    """ETags as the service returns them in headers: with their quotes (listings drop them)."""
    etag = etag.strip()
    if etag.startswith('"') or etag.startswith("W/"):
        return etag
    return f'"{etag}"'


@dataclass(frozen=True)
class BlobRef:
    container: str
    name: str  # path inside the container, subfolders included
    uri: str
    length: int
    etag: str  # quoted
    contentType: str | None = None
    lastModified: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlobRef:
        return cls(
            container=str(data["container"]),
            name=str(data["name"]),
            uri=str(data.get("uri") or ""),
            length=int(data.get("length") or 0),
            etag=quoted_etag(str(data["etag"])),
            contentType=data.get("contentType"),
            lastModified=data.get("lastModified"),
        )

    @property
    def instance_id(self) -> str:
        """Deterministic per blob version: a re-fired trigger maps to the same orchestration."""
        key = f"{self.container}/{self.name}\n{self.etag}".encode()
        return "img-" + hashlib.sha256(key).hexdigest()[:32]


def _first(props: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if props.get(key) not in (None, ""):
            return props[key]
    return None


def blobref_from_trigger(
    full_name: str, uri: str | None, length: int | None, properties: dict[str, Any] | None
) -> BlobRef:
    """Build the reference from what a blobTrigger InputStream carries.

    `full_name` is "container/path/in/container" (InputStream.name). The host serialises blob
    properties with PascalCase names; both the older (Length) and newer (ContentLength) SDK
    spellings are accepted.
    """
    container, _, name = full_name.partition("/")
    if not name:
        raise ValueError(f"blob name without a container: {full_name!r}")
    props = properties or {}
    size = length if length is not None else _first(props, "ContentLength", "Length")
    etag = _first(props, "ETag", "Etag", "etag")
    if etag is None:
        raise ValueError(f"blob {full_name!r} arrived without an ETag in its properties")
    last_modified = _first(props, "LastModified", "Last-Modified")
    return BlobRef(
        container=container,
        name=name,
        uri=uri or "",
        length=int(size or 0),
        etag=quoted_etag(str(etag)),
        contentType=_first(props, "ContentType", "Content-Type"),
        lastModified=str(last_modified) if last_modified is not None else None,
    )
