"""Bounded walk of the header structure (PNG chunks, JPEG marker segments, GIF blocks).

Pillow's header parsers walk everything that precedes the image data, in Python, one chunk or
segment at a time, and keep much of it (PNG private chunks, every JPEG APP segment). A file can
put millions of tiny chunks or megabytes of metadata there: 1.3 M empty PNG chunks cost 8.7 s
and 200 MB in Pillow. This module walks the same structure first, with the same skipping rules
as Pillow 13's plugins, but only reads lengths, and stops at a segment count and a byte cap.
Pillow then runs only on a header the walk has bounded.

The walk is a bound, not a validator: structure it cannot follow is left to Pillow, which then
fails (or not) exactly as it would have on the whole file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_HEADER_BYTES = 2 * 1024 * 1024
"""Bytes before the image data. Camera JPEGs carry ~64 KB of EXIF, large ICC profiles and
extended XMP a few hundred KB; 2 MiB keeps Pillow's copies of it well under 20 MB."""
MAX_SEGMENTS = 512
"""PNG chunks / JPEG marker segments / GIF extension blocks before the image data (real
files: < 50)."""
MAX_GIF_SUBBLOCKS = 16_384
"""GIF data sub-blocks before the first image (each <= 255 bytes; XMP in GIF uses ~1 per
60 bytes of packet)."""
MAX_STRAY_BYTES = 64 * 1024
"""Junk and fill bytes between JPEG segments or GIF blocks, which Pillow skips one at a time."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_STOP = {b"IDAT", b"IEND"}  # Pillow's PNG parser stops at the first of these
# JPEG markers Pillow reads without a length field (JpegImagePlugin.MARKER handler None).
_JPEG_NO_LENGTH = {0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)}
_JPEG_SOS = 0xDA


class HeaderTooLarge(Exception):
    """The header exceeds a bound: a permanent rejection, with the reason for the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Scan:
    """How much of the file Pillow's header parse will read.

    `needed` is the offset the walk must see next (more than the buffer when the header runs
    past it); `complete` says the walk reached the image data (or structure it leaves to
    Pillow) within the buffer.
    """

    needed: int
    complete: bool
    segments: int


def _over(kind: str, what: str, limit: int) -> HeaderTooLarge:
    return HeaderTooLarge(f"{kind} header has more than {limit} {what} before the image data")


def _bytes_over(kind: str, needed: int) -> HeaderTooLarge:
    return HeaderTooLarge(
        f"{kind} header runs to byte {needed} before the image data; the limit is "
        f"{MAX_HEADER_BYTES // (1024 * 1024)} MiB of metadata"
    )


def scan_png(buf: bytes | bytearray) -> Scan:
    """Chunks from the signature to the first IDAT/IEND (Pillow reads up to its 8-byte head)."""
    pos, segments = len(_PNG_SIGNATURE), 0
    while True:
        if pos + 8 > len(buf):
            return Scan(pos + 8, False, segments)
        length, kind = struct.unpack_from(">I4s", buf, pos)
        if kind in _PNG_STOP or not kind.isalpha():
            return Scan(pos + 8, True, segments)  # image data, or a broken chunk for Pillow
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _over("PNG", "chunks", MAX_SEGMENTS)
        pos += 12 + length
        if pos + 8 > MAX_HEADER_BYTES:
            chunk = kind.decode("latin-1")
            raise HeaderTooLarge(
                f"PNG {chunk} chunk of {length} bytes: the header runs to byte {pos + 8} before "
                f"the image data; the limit is {MAX_HEADER_BYTES // (1024 * 1024)} MiB of metadata"
            )


def _skip_junk(buf: bytes | bytearray, pos: int, stray: int) -> tuple[int, int]:
    """Position of the last 0xFF before a marker byte (or the buffer end), junk counted."""
    ff = buf.find(b"\xff", pos)
    if ff < 0:
        ff = len(buf)
    stray += ff - pos
    pos = ff
    while pos + 1 < len(buf) and buf[pos + 1] == 0xFF:  # fill bytes (Pillow: one per step)
        pos += 1
        stray += 1
    if stray > MAX_STRAY_BYTES:
        raise _over("JPEG", "bytes of junk between segments", MAX_STRAY_BYTES)
    return pos, stray


def scan_jpeg(buf: bytes | bytearray) -> Scan:
    """Marker segments from SOI to the end of the first SOS segment, as Pillow walks them."""
    pos, segments, stray = 2, 0, 0
    n = len(buf)
    while True:
        pos, stray = _skip_junk(buf, pos, stray)
        if pos + 1 >= n:
            return Scan(pos + 2, False, segments)
        marker = buf[pos + 1]
        if marker == 0x00:  # escaped 0xFF: junk to Pillow too
            pos += 2
            stray += 2
            continue
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _over("JPEG", "marker segments", MAX_SEGMENTS)
        if marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        if pos + 4 > n:
            return Scan(pos + 4, False, segments)
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        end = pos + 2 + length
        if end > MAX_HEADER_BYTES:
            raise _bytes_over("JPEG", end)
        if marker == _JPEG_SOS:
            return Scan(end, end <= n, segments)
        if length < 2:
            return Scan(pos + 4, True, segments)  # broken length: Pillow decides
        pos = end


def _skip_gif_extension(buf: bytes | bytearray, pos: int, subblocks: int) -> tuple[int, int]:
    """Position after an extension's sub-blocks (past the buffer when they run on)."""
    pos += 2  # introducer + label
    while pos < len(buf):
        size = buf[pos]
        pos += 1 + size
        if size == 0:
            break
        subblocks += 1
        if subblocks > MAX_GIF_SUBBLOCKS:
            raise _over("GIF", "data sub-blocks", MAX_GIF_SUBBLOCKS)
        if pos > MAX_HEADER_BYTES:
            raise _bytes_over("GIF", pos)
    return pos, subblocks


def scan_gif(buf: bytes | bytearray) -> Scan:
    """Blocks from the screen descriptor to the first image's LZW code size byte."""
    n = len(buf)
    if n < 13:
        return Scan(13, False, 0)
    flags = buf[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    segments = subblocks = stray = 0
    while True:
        if pos >= n:
            return Scan(pos + 1, False, segments)
        tag = buf[pos]
        if tag == 0x3B:  # trailer: Pillow reports "no image"
            return Scan(pos + 1, True, segments)
        if tag == 0x2C:  # image descriptor (+ local colour table) + LZW minimum code size
            if pos + 10 > n:
                return Scan(pos + 10, False, segments)
            local = buf[pos + 9]
            end = pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            if end > MAX_HEADER_BYTES:
                raise _bytes_over("GIF", end)
            return Scan(end, end <= n, segments)
        if tag != 0x21:  # Pillow skips unknown bytes one at a time
            stray += 1
            pos += 1
            if stray > MAX_STRAY_BYTES:
                raise _over("GIF", "stray bytes", MAX_STRAY_BYTES)
            continue
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _over("GIF", "extension blocks", MAX_SEGMENTS)
        pos, subblocks = _skip_gif_extension(buf, pos, subblocks)


def scan(fmt: str, buf: bytes | bytearray) -> Scan:
    """Dispatch on the sniffed format; raises HeaderTooLarge when a bound is exceeded."""
    if fmt == "PNG":
        return scan_png(buf)
    if fmt == "JPEG":
        return scan_jpeg(buf)
    return scan_gif(buf)
