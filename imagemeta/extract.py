"""Header-only metadata extraction: read a growing prefix of the blob, never decode pixels.

Pillow's `Image.open` is lazy: it parses the header and stops. We feed it the smallest prefix
that works (64 KiB covers almost every camera JPEG, PNG and GIF) and grow the prefix only when
the header runs past it (e.g. a JPEG whose EXIF/ICC blocks push SOF beyond 64 KiB), up to
2 MiB. Before Pillow runs, `prescan` walks the chunk/segment structure with a count and byte
bound, so the work per image is bounded whatever the header holds. Only the JPEG, PNG and GIF
plugins are allowed to run.

What the row records about the blob (size, ETag, Last-Modified) comes from storage's reply to
the ranged read, never from the orchestration input: the input only names the blob version.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TextIO

import PIL
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from imagemeta.blobref import INPUT_CONTAINER, MAX_NAME_LENGTH, BlobRef
from imagemeta.contract import (
    EXIF_TEXT_LIMITS,
    ImageMetadata,
    InvalidMetadata,
    check_metadata,
)
from imagemeta.prescan import (
    MAX_EXIF_BYTES,
    MAX_HEADER_BYTES,
    MAX_INFLATED_BYTES,
    HeaderTooLarge,
    Scan,
    pillow_view,
    scan,
)
from imagemeta.textsafe import escape_text

__all__ = ["ImageMetadata", "ImageRejected", "read_header"]  # ImageMetadata: the contract's

log = logging.getLogger(__name__)

PREFIX_START = 64 * 1024
PREFIX_GROWTH = 4
PREFIX_CAP = MAX_HEADER_BYTES
FORMATS = ("JPEG", "PNG", "GIF")
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 178_956_970  # Pillow's default bomb guard
# Decompressed PNG text (zTXt/iTXt) Pillow may hold per image: 64 MiB by default; 2 MiB of
# compressed header could otherwise inflate to that. Pillow documents this module setting.
# The pre-scan's inflation budget (every compressed chunk, iCCP included) is the same figure.
PngImagePlugin.MAX_TEXT_MEMORY = min(PngImagePlugin.MAX_TEXT_MEMORY, MAX_INFLATED_BYTES)
_PILLOW_DIR = str(Path(PIL.__file__).parent) + os.sep  # unresolved, as warnings names files
# warnings.catch_warnings swaps process-wide state: header reads take turns so two threads'
# swaps never interleave (a lost restore would leave the filter on for the whole process).
# They hold the GIL for nearly all of it anyway.
_PILLOW_LOCK = threading.Lock()

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


@dataclass(frozen=True)
class BlobFacts:
    """What storage says about the blob version, from the ranged read's response headers."""

    length: int
    etag: str
    last_modified: str | None


class PrefixSource(Protocol):
    """Ranged reads of one blob version."""

    def read(self, offset: int, count: int) -> bytes:
        """Up to `count` bytes from `offset` (fewer at the end of the blob)."""
        ...

    def facts(self) -> BlobFacts:
        """Size/ETag/Last-Modified as storage reported them on the first read."""
        ...


class ImageRejected(Exception):
    """The content is not an image this pipeline accepts. Permanent: retrying cannot help."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def size_kb(length: int) -> int:
    """Kilobytes, rounded up: a 1-byte file is 1 KB, not 0."""
    return (length + 1023) // 1024


def sniff_format(prefix: bytes) -> str | None:
    for signature, fmt in _SIGNATURES.items():
        if prefix.startswith(signature):
            return fmt
    return None


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean_text(value: object, limit: int) -> str | None:
    """EXIF text as the contract takes it: control and bidi characters dropped, trimmed."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = _UNPRINTABLE.sub("", value).strip()
    return text[:limit].strip() or None


def _exif_fields(im: Image.Image) -> dict[str, Any]:
    """EXIF already present in the parsed header.

    getexif() only when the header holds EXIF: a PNG without it would load (decode) the image
    to look for more. For a JPEG, Pillow parsed it at open already and getexif() returns that.
    """
    raw = im.info.get("exif")
    if not isinstance(raw, bytes | bytearray) or not raw or len(raw) > MAX_EXIF_BYTES + 6:
        return {}  # absent, or bigger than any camera writes: not worth a Python-level parse
    try:
        exif = im.getexif()
        orientation = exif.get(_TAG_ORIENTATION)
        sub = exif.get_ifd(_EXIF_IFD)
        return {
            "Orientation": orientation if orientation in range(1, 9) else None,
            "CameraMake": _clean_text(exif.get(_TAG_MAKE), EXIF_TEXT_LIMITS["CameraMake"]),
            "CameraModel": _clean_text(exif.get(_TAG_MODEL), EXIF_TEXT_LIMITS["CameraModel"]),
            "DateTimeOriginal": _clean_text(
                sub.get(_TAG_DATETIME_ORIGINAL), EXIF_TEXT_LIMITS["DateTimeOriginal"]
            ),
        }
    except Exception:
        return {}


@contextmanager
def _pillow_quietly(name: str) -> Iterator[None]:
    """Pillow's warnings during one header read become one summary line at most.

    Pillow warns once per malformed EXIF/MPF entry ("Tag data larger than file. Skipping tag
    N"): a 64 KiB IFD holds ~5,400 entries, each a line on the worker's stderr on every
    upload of the file. Warnings from other code pass through unchanged.
    """
    seen: list[str] = []  # Pillow's warning texts: the first is kept, the rest only counted
    try:
        with _PILLOW_LOCK, warnings.catch_warnings():
            passthrough = warnings.showwarning

            def show(  # noqa: PLR0917 - warnings.showwarning's signature
                message: Warning | str,
                category: type[Warning],
                filename: str,
                lineno: int,
                file: TextIO | None = None,
                line: str | None = None,
            ) -> None:
                if filename.startswith(_PILLOW_DIR):
                    seen.append("" if seen else str(message))
                else:
                    passthrough(message, category, filename, lineno, file, line)

            warnings.filterwarnings("always", module=r"PIL(\.|$)")
            # Between 1x and 2x MAX_IMAGE_PIXELS Pillow only warns; we reject by our own check.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.showwarning = show
            yield
    finally:
        if seen:
            log.warning(
                "%s: Pillow reported %d problem(s) in the header, e.g. %s",
                escape_text(name, 200),
                len(seen),
                escape_text(seen[0], 120),
            )


def _open_header(prefix: bytes) -> Image.Image:
    return Image.open(io.BytesIO(prefix), formats=list(FORMATS))


def _grow(source: PrefixSource, buf: bytes, want: int) -> tuple[bytes, bool]:
    """Read up to `want` bytes in total; True when the blob ended before that."""
    chunk = source.read(len(buf), want - len(buf))
    return buf + chunk, len(chunk) < want - len(buf)


def _unreadable(kind: str, where: str, exc: Exception) -> ImageRejected:
    detail = _OBJECT_REPR.sub("data", str(exc)) or type(exc).__name__
    return ImageRejected(f"unreadable {kind} header in the {where}: {detail}")


def _bounded_want(fmt: str, buf: bytes, total: int, complete: bool) -> tuple[int | None, Scan]:
    """Prefix size to read next when the header runs past `buf` (None when Pillow can run),
    and the walk, which says what of `buf` Pillow may see.

    Raises ImageRejected when the header exceeds a bound (count, bytes, or the prefix cap),
    also for a file that fitted in one read: the bounds hold whatever the file size.
    """
    try:
        walk = scan(fmt, buf)
    except HeaderTooLarge as exc:
        raise ImageRejected(exc.reason) from exc
    if walk.complete or complete:
        return None, walk
    if len(buf) >= PREFIX_CAP:
        raise ImageRejected(
            f"{fmt} header runs past the first {PREFIX_CAP // (1024 * 1024)} MiB "
            f"({walk.segments} segments and no image data yet)"
        )
    return min(max(walk.needed, len(buf) * PREFIX_GROWTH), PREFIX_CAP, total), walk


def read_header(source: PrefixSource, name: str) -> ImageMetadata:
    """Parse the image header of blob `name` through `source`; raise ImageRejected if unusable.

    Work is bounded: at most MAX_HEADER_BYTES are read, and Pillow runs only after `prescan`
    has checked the chunk/segment structure it is about to walk.
    """
    if len(name) > MAX_NAME_LENGTH:
        raise ImageRejected(f"file name is {len(name)} characters; the limit is 1024")
    buf = source.read(0, PREFIX_START)
    facts = source.facts()
    total = facts.length
    if total <= 0 or not buf:
        raise ImageRejected("empty file (0 bytes)")
    at_end = len(buf) >= total
    sniffed = sniff_format(buf[:8])
    if sniffed is None and len(buf) >= 8:
        raise ImageRejected("not a JPEG, PNG or GIF image (unrecognised file signature)")
    kind = sniffed or "image"
    while True:
        complete = at_end or len(buf) >= total
        want, walk = _bounded_want(sniffed, buf, total, complete) if sniffed else (None, None)
        if want is not None:
            buf, at_end = _grow(source, buf, want)
            continue
        try:
            with _pillow_quietly(name):
                im = _open_header(pillow_view(buf, walk) if walk else buf)
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
            if complete or len(buf) >= PREFIX_CAP:
                where = "file" if complete else f"first {len(buf) // 1024} KiB"
                raise _unreadable(kind, where, e) from e
            buf, at_end = _grow(source, buf, min(len(buf) * PREFIX_GROWTH, PREFIX_CAP, total))
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image declares an empty canvas ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            f"decompression bomb: {width}x{height} = {width * height} pixels exceeds the "
            f"{MAX_PIXELS} pixel limit"
        )
    meta = ImageMetadata(
        FileName=name,
        FileSizeKB=size_kb(total),
        Width=width,
        Height=height,
        Format=fmt,
        ColorMode=mode,
        BlobETag=facts.etag,
        UploadedOn=facts.last_modified,
        BytesRead=len(buf),
        **exif,
    )
    try:
        return check_metadata(meta)  # the same contract StoreMetadata checks its input against
    except InvalidMetadata as exc:
        raise ImageRejected(f"header outside what the pipeline stores: {exc.reason}") from exc


@lru_cache(maxsize=8)
def _blob_service(connection_string: str) -> Any:
    """One client (and HTTP connection pool) per storage account per worker process."""
    from azure.storage.blob import BlobServiceClient  # noqa: PLC0415 - keep tests light

    return BlobServiceClient.from_connection_string(connection_string)


def _iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class BlobPrefixSource:
    """Ranged reads of exactly one blob version of the watched container (If-Match ETag).

    Size, ETag and Last-Modified are taken from the first response (Content-Range and
    headers), so a forged reference cannot put a length or date into a row.
    """

    def __init__(self, connection_string: str, name: str, etag: str):
        self._blob = _blob_service(connection_string).get_blob_client(INPUT_CONTAINER, name)
        self._etag = etag
        self._facts: BlobFacts | None = None

    def read(self, offset: int, count: int) -> bytes:
        from azure.core import MatchConditions  # noqa: PLC0415
        from azure.core.exceptions import (  # noqa: PLC0415
            HttpResponseError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )

        match = {"etag": self._etag, "match_condition": MatchConditions.IfNotModified}
        try:
            try:
                download = self._blob.download_blob(
                    offset=offset, length=count, max_concurrency=1, **match
                )
            except HttpResponseError as exc:
                if offset != 0 or getattr(exc, "error_code", None) != "InvalidRange":
                    raise
                # A range on a 0-byte blob is 416: its properties still say what it is.
                self._remember(self._blob.get_blob_properties(**match), None)
                return b""
            data: bytes = download.readall()
        except ResourceModifiedError as exc:
            raise ImageRejected("blob was overwritten or deleted after the trigger fired") from exc
        except ResourceNotFoundError as exc:
            raise ImageRejected("blob no longer exists") from exc
        self._remember(download.properties, download.properties.content_range)
        return data

    def _remember(self, props: Any, content_range: str | None) -> None:
        """Facts from the first response: the total size is after the '/' of Content-Range."""
        if self._facts is not None:
            return
        total = props.size
        if content_range and "/" in content_range:
            total = int(content_range.rsplit("/", 1)[1])
        self._facts = BlobFacts(
            length=int(total),
            etag=str(props.etag or self._etag),
            last_modified=_iso_utc(props.last_modified),
        )

    def facts(self) -> BlobFacts:
        if self._facts is None:
            raise RuntimeError("facts() before the first read")
        return self._facts


def extract_from_blob(connection_string: str, ref: BlobRef) -> ImageMetadata:
    """Header metadata of this blob version of the watched container.

    A blob overwritten or deleted since the trigger fired is rejected: the new version has
    its own trigger, and the old bytes no longer exist. A reference naming another container
    is refused before any read.
    """
    if ref.container != INPUT_CONTAINER:
        raise ImageRejected(
            f"container {ref.container!r} is not the watched container {INPUT_CONTAINER!r}"
        )
    return read_header(BlobPrefixSource(connection_string, ref.name, ref.etag), ref.name)
