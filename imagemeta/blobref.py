"""The small reference to a blob version that travels through the orchestration.

Only this reference crosses the durable boundary, never the image bytes: queue messages and
history rows stay small, and an activity reads exactly the bytes it needs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")
INPUT_CONTAINER = "images-input"
"""The one container this app reads (BlobTriggerClient's path; a test keeps them equal)."""
MAX_NAME_LENGTH = 1024  # Azure's limit for blob names; also the FileName column width
MAX_PATH_SEGMENTS = 254  # Azure's limit on "/"-separated segments in a blob name
MAX_URI_LENGTH = 16 * 1024  # 1024 characters of up to 4 UTF-8 bytes, percent-encoded
MAX_CONTENT_TYPE = 255
MAX_LENGTH = 2**53  # well above Azure's largest block blob; JSON-safe integer
ETAG_PATTERN = re.compile(r'^(?:W/)?"?[!#-~]{1,64}"?$')  # printable ASCII without inner quotes
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FIELDS = ("container", "name", "uri", "length", "etag", "contentType", "lastModified")


class InvalidReference(ValueError):
    """An orchestration input that is not a blob reference this app produced. Permanent."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
    def from_dict(cls, data: object) -> BlobRef:
        """Validate an orchestration/activity input; raises InvalidReference with the reason.

        The Durable HTTP API lets anyone holding the system key start an orchestration with any
        input, so nothing here is trusted beyond its shape: the container must be the watched
        one, and length/date are informational (ExtractMetadata takes both from storage).
        """
        return parse_ref(data)

    @property
    def instance_id(self) -> str:
        """Deterministic per blob version: a re-fired trigger maps to the same orchestration."""
        key = f"{self.container}/{self.name}\n{self.etag}".encode()
        return "img-" + hashlib.sha256(key).hexdigest()[:32]


def _text(data: dict[str, Any], key: str, limit: int, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidReference(f"{key} must be a string, not {type(value).__name__}")
    if required and not value:
        raise InvalidReference(f"{key} is empty")
    if len(value) > limit:
        raise InvalidReference(f"{key} is {len(value)} characters; the limit is {limit}")
    if _CONTROL.search(value):
        raise InvalidReference(f"{key} contains control characters")
    return value


def check_blob_name(name: str) -> None:
    """Azure's blob-name rules, plus what would let a name address another container.

    A "." or ".." segment is ambiguous once the name is in a URL: RFC 3986 normalisation (by a
    client, proxy or gateway) turns `images-input/../private-other/x.png` into another
    container's blob. Against Azurite the shared-key signature (over the literal path) fails
    with 403; a bearer token (managed identity) signs no path. Such names are refused rather
    than trusted, as is "\\", which some tools treat as "/".
    """
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidReference(f"name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")
    if _CONTROL.search(name):
        raise InvalidReference("name contains control characters")
    if "\\" in name:
        raise InvalidReference("name contains a backslash")
    segments = name.split("/")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidReference(f"name has {len(segments)} path segments; the limit is 254")
    if name.startswith("/") or any(seg in (".", "..") for seg in segments):
        raise InvalidReference("name has a leading slash or a '.'/'..' path segment")
    if name.endswith((".", "/")):
        raise InvalidReference("name ends with '.' or '/'")
    if not is_supported_name(name):
        raise InvalidReference("name does not end in .jpg, .jpeg, .png or .gif")


def parse_ref(data: object) -> BlobRef:
    """The strict reading of a reference: every field typed, bounded and checked."""
    if not isinstance(data, dict):
        raise InvalidReference(f"input must be a JSON object, not {type(data).__name__}")
    unknown = sorted(str(k)[:40] for k in data if k not in _FIELDS)
    if unknown:
        raise InvalidReference(f"unexpected fields: {', '.join(unknown[:5])}")
    container = _text(data, "container", 63, required=True)
    if container != INPUT_CONTAINER:
        raise InvalidReference(
            f"container {container!r} is not the watched container {INPUT_CONTAINER!r}"
        )
    name = _text(data, "name", MAX_NAME_LENGTH, required=True) or ""
    check_blob_name(name)
    etag = _text(data, "etag", 66, required=True) or ""
    if not ETAG_PATTERN.match(etag):
        raise InvalidReference("etag is not an ETag")
    length = data.get("length", 0)
    if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= MAX_LENGTH:
        raise InvalidReference("length must be a non-negative integer")
    return BlobRef(
        container=container,
        name=name,
        uri=_text(data, "uri", MAX_URI_LENGTH, required=False) or "",
        length=length,
        etag=quoted_etag(etag),
        contentType=_text(data, "contentType", MAX_CONTENT_TYPE, required=False),
        lastModified=_text(data, "lastModified", 64, required=False),
    )


def _first(props: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if props.get(key) not in (None, ""):
            return props[key]
    return None


def _short(value: Any, limit: int) -> str | None:
    """Uploader-set strings the pipeline only carries: bounded so validation never fails."""
    return None if value is None else str(value)[:limit]


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
        contentType=_short(_first(props, "ContentType", "Content-Type"), MAX_CONTENT_TYPE),
        lastModified=str(last_modified) if last_modified is not None else None,
    )
