"""ExtractMetadata's output contract: one definition, checked on both sides of the boundary.

ExtractMetadata checks its own output against it (a header that yields something outside it
is a rejection, not a row), and StoreMetadata checks its input against it before any SQL:
StoreMetadata can be invoked on its own (the host's admin API, `POST
/admin/functions/StoreMetadata`), and a forged input there must write nothing. Every bound
below is one the extractor can actually produce, so a real image never fails it.

This module imports nothing heavier than the blob-name rules: the store side does not need
Pillow to validate.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import datetime
from typing import Any

from imagemeta.blobref import ETAG_PATTERN, InvalidReference, check_blob_name
from imagemeta.prescan import MAX_HEADER_BYTES
from imagemeta.textsafe import escape_text

CONFIGURATION_ERROR = "configurationError"
"""StoreMetadata's answer `{CONFIGURATION_ERROR: reason}` when SqlConnectionString is wrong:
the orchestrator fails on it at once instead of retrying (imagemeta.activities)."""
FORMATS = ("JPEG", "PNG", "GIF", "MPO")
"""Pillow's format names for what Image.open(formats=["JPEG", "PNG", "GIF"]) returns; a JPEG
with a multi-picture (MPF) index comes back as MPO."""
COLOR_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"})
"""Every mode Pillow 13's JPEG, PNG and GIF plugins set while reading a header (a test derives
the PNG part from PngImagePlugin._MODES)."""
MAX_INT_COLUMN = 2**31 - 1  # FileSizeKB, Width, Height are SQL INT
MAX_PIXELS = 89_478_485  # Pillow 13's Image.MAX_IMAGE_PIXELS: extract's bomb limit (test-pinned)
MAX_SIDE = {"JPEG": 65_535, "MPO": 65_535, "GIF": 65_535, "PNG": MAX_INT_COLUMN}
"""JPEG and GIF store each side in 16 bits; PNG in 31."""
EXIF_TEXT_LIMITS = {"DateTimeOriginal": 32, "CameraMake": 64, "CameraModel": 64}
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Text fields the row stores: no C0/C1 control characters, no bidirectional controls.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class InvalidMetadata(ValueError):
    """Input that ExtractMetadata cannot have produced. Permanent: nothing is stored."""

    def __init__(self, reason: str):
        super().__init__(f"not ExtractMetadata output: {reason}")
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
    def from_dict(cls, data: object) -> ImageMetadata:
        """The checked reading of a dict that crossed the durable boundary."""
        return parse_metadata(data)


_FIELDS = {f.name for f in fields(ImageMetadata)}
_REQUIRED = {f.name for f in fields(ImageMetadata) if f.default is MISSING}


def _shown(value: object) -> str:
    """A value for an error message: quoted, escaped, at most 40 characters of it."""
    if isinstance(value, str):
        return f"'{escape_text(value, 40)}'"
    return escape_text(repr(value), 40)


def _int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidMetadata(f"{name} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidMetadata(f"{name} is {value}; it must be {low}-{high}")
    return value


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidMetadata(f"{name} must be a string, not {type(value).__name__}")
    if not value or len(value) > limit:
        raise InvalidMetadata(f"{name} is {len(value)} characters; it must be 1-{limit}")
    if _UNPRINTABLE.search(value):
        raise InvalidMetadata(f"{name} contains control characters: {_shown(value)}")
    return value


def check_metadata(meta: ImageMetadata) -> ImageMetadata:
    """`meta` when every field is within the contract; raises InvalidMetadata otherwise."""
    if not isinstance(meta.FileName, str) or not meta.FileName:
        raise InvalidMetadata("FileName must be a non-empty string")
    try:  # the blob-name rules the reference was checked against, nothing stricter
        check_blob_name(meta.FileName)
    except InvalidReference as exc:
        raise InvalidMetadata(f"FileName: {exc.reason}") from exc
    _int("FileSizeKB", meta.FileSizeKB, 1, MAX_INT_COLUMN)
    if meta.Format not in FORMATS:
        raise InvalidMetadata(f"Format {_shown(meta.Format)} is not one of {', '.join(FORMATS)}")
    side = MAX_SIDE[meta.Format]
    width = _int("Width", meta.Width, 1, side)
    height = _int("Height", meta.Height, 1, side)
    if width * height > MAX_PIXELS:
        raise InvalidMetadata(f"{width}x{height} exceeds the {MAX_PIXELS} pixel limit")
    if meta.ColorMode not in COLOR_MODES:
        raise InvalidMetadata(f"ColorMode {_shown(meta.ColorMode)} is not a Pillow header mode")
    if not ETAG_PATTERN.match(_text("BlobETag", meta.BlobETag, 64)):
        raise InvalidMetadata(f"BlobETag {_shown(meta.BlobETag)} is not an ETag")
    if meta.UploadedOn is not None:
        _timestamp(meta.UploadedOn)
    if meta.Orientation is not None:
        _int("Orientation", meta.Orientation, 1, 8)
    for name, limit in EXIF_TEXT_LIMITS.items():
        value = getattr(meta, name)
        if value is not None:
            _text(name, value, limit)
    _int("BytesRead", meta.BytesRead, 0, MAX_HEADER_BYTES)
    return meta


def _timestamp(value: object) -> None:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise InvalidMetadata(f"UploadedOn {_shown(value)} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidMetadata(f"UploadedOn {_shown(value)} is not a date") from exc


def parse_metadata(data: object) -> ImageMetadata:
    """The input of StoreMetadata as ExtractMetadata produced it, or InvalidMetadata."""
    if not isinstance(data, dict):
        raise InvalidMetadata(f"input must be a JSON object, not {type(data).__name__}")
    unknown = sorted(escape_text(k, 40) for k in data if k not in _FIELDS)
    if unknown:
        raise InvalidMetadata(f"unexpected fields: {', '.join(unknown[:5])}")
    missing = sorted(_REQUIRED - set(data))
    if missing:
        raise InvalidMetadata(f"missing fields: {', '.join(missing)}")
    return check_metadata(ImageMetadata(**data))
