"""Header-only metadata extraction: read a growing prefix of the blob, never decode pixels.

Pillow's `Image.open` is lazy: it parses the header and stops. We feed it the smallest prefix
that works (64 KiB covers almost every camera JPEG, PNG and GIF) and grow the prefix x4 only
when the header runs past it (e.g. a JPEG whose EXIF/ICC blocks push SOF beyond 64 KiB), up to
a cap. Only the JPEG, PNG and GIF plugins are allowed to run.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from PIL import Image, UnidentifiedImageError

from imagemeta.blobref import BlobRef

PREFIX_START = 64 * 1024
PREFIX_GROWTH = 4
PREFIX_CAP = 16 * 1024 * 1024
MAX_NAME_LENGTH = 1024  # Azure's own limit for blob names; also the FileName column width
FORMATS = ("JPEG", "PNG", "GIF")
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 178_956_970  # Pillow's default bomb guard

_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}
_EXIF_IFD = 0x8769
_TAG_ORIENTATION = 0x0112
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_TAG_DATETIME_ORIGINAL = 0x9003

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")

RangeReader = Callable[[int, int], bytes]
"""read(offset, count) -> up to `count` bytes of the blob starting at `offset`."""


class ImageRejected(Exception):
    """The content is not an image this pipeline accepts. Permanent: retrying cannot help."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageMetadata:
    FileName: str
    FileSizeKB: int
    Width: int
    Height: int
    Format: str
    ColorMode: str
    BlobETag: str
    UploadedOn: str | None = None  # the blob's Last-Modified (ISO 8601 UTC)
    Orientation: int | None = None
    DateTimeOriginal: str | None = None
    CameraMake: str | None = None
    CameraModel: str | None = None
    BytesRead: int = 0  # how much of the blob the header parse needed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageMetadata:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


def size_kb(length: int) -> int:
    """Kilobytes, rounded up: a 1-byte file is 1 KB, not 0."""
    return (length + 1023) // 1024


def sniff_format(prefix: bytes) -> str | None:
    for signature, fmt in _SIGNATURES.items():
        if prefix.startswith(signature):
            return fmt
    return None


def _clean_text(value: object, limit: int = 64) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()
    return text[:limit] or None


def _exif_fields(im: Image.Image) -> dict[str, Any]:
    """EXIF already present in the parsed header. Never calls getexif() on PNG (it would load)."""
    raw = im.info.get("exif")
    if not isinstance(raw, bytes | bytearray) or not raw:
        return {}
    try:
        exif = Image.Exif()
        exif.load(bytes(raw))
        orientation = exif.get(_TAG_ORIENTATION)
        sub = exif.get_ifd(_EXIF_IFD)
        return {
            "Orientation": orientation if isinstance(orientation, int) else None,
            "CameraMake": _clean_text(exif.get(_TAG_MAKE)),
            "CameraModel": _clean_text(exif.get(_TAG_MODEL)),
            "DateTimeOriginal": _clean_text(sub.get(_TAG_DATETIME_ORIGINAL), 32),
        }
    except Exception:
        return {}


def _open_header(prefix: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # Between 1x and 2x MAX_IMAGE_PIXELS Pillow only warns; we reject by our own check.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(prefix), formats=list(FORMATS))


def read_header(read: RangeReader, ref: BlobRef) -> ImageMetadata:
    """Parse the image header of `ref` through `read`; raise ImageRejected when unusable."""
    if len(ref.name) > MAX_NAME_LENGTH:
        raise ImageRejected(f"file name is {len(ref.name)} characters; the limit is 1024")
    if ref.length <= 0:
        raise ImageRejected("empty file (0 bytes)")
    buf = bytearray()
    want = min(PREFIX_START, ref.length)
    at_end = False
    while True:
        if want > len(buf):
            before = len(buf)
            chunk = read(before, want - before)
            buf += chunk
            at_end = len(chunk) < want - before  # shorter than its recorded length
        if not buf:
            raise ImageRejected("empty file (0 bytes)")
        sniffed = sniff_format(bytes(buf[:8]))
        if sniffed is None and len(buf) >= 8:
            raise ImageRejected("not a JPEG, PNG or GIF image (unrecognised file signature)")
        try:
            im = _open_header(bytes(buf))
            width, height = im.size
            fmt = str(im.format)
            mode = im.mode
            exif = _exif_fields(im)
            break
        except Image.DecompressionBombError as exc:
            raise ImageRejected(f"decompression bomb: {exc}") from exc
        except (
            UnidentifiedImageError,
            SyntaxError,
            OSError,
            ValueError,
            EOFError,
            IndexError,
        ) as e:
            complete = at_end or len(buf) >= ref.length
            if complete or len(buf) >= PREFIX_CAP:
                where = "file" if complete else f"first {len(buf) // 1024} KiB"
                kind = sniffed or "image"
                detail = _OBJECT_REPR.sub("data", str(e)) or type(e).__name__
                raise ImageRejected(f"unreadable {kind} header in the {where}: {detail}") from e
            want = min(len(buf) * PREFIX_GROWTH, PREFIX_CAP, ref.length)
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image declares an empty canvas ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds the "
            f"{MAX_PIXELS} pixel limit"
        )
    return ImageMetadata(
        FileName=ref.name,
        FileSizeKB=size_kb(ref.length),
        Width=width,
        Height=height,
        Format=fmt,
        ColorMode=mode,
        BlobETag=ref.etag,
        UploadedOn=ref.lastModified,
        BytesRead=len(buf),
        **exif,
    )


@lru_cache(maxsize=8)
def _blob_service(connection_string: str) -> Any:
    """One client (and HTTP connection pool) per storage account per worker process."""
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - keep tests light

    return BlobServiceClient.from_connection_string(connection_string)


def extract_from_blob(connection_string: str, ref: BlobRef) -> ImageMetadata:
    """Ranged reads of exactly this blob version (If-Match on the ETag).

    A blob overwritten or deleted since the trigger fired is rejected: the new version has
    its own trigger, and the old bytes no longer exist.
    """
    from azure.core import MatchConditions  # noqa: PLC0415
    from azure.core.exceptions import (  # noqa: PLC0415
        ResourceModifiedError,
        ResourceNotFoundError,
    )

    blob = _blob_service(connection_string).get_blob_client(ref.container, ref.name)

    def read(offset: int, count: int) -> bytes:
        try:
            return blob.download_blob(
                offset=offset,
                length=count,
                etag=ref.etag,
                match_condition=MatchConditions.IfNotModified,
                max_concurrency=1,
            ).readall()
        except ResourceModifiedError as exc:
            raise ImageRejected("blob was overwritten or deleted after the trigger fired") from exc
        except ResourceNotFoundError as exc:
            raise ImageRejected("blob no longer exists") from exc

    return read_header(read, ref)
