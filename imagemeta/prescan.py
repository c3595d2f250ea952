"""Bounded walk of the header structure (PNG chunks, JPEG marker segments, GIF blocks).

Pillow's header parsers walk everything that precedes the image data, in Python, one chunk or
segment at a time, and keep much of it (PNG private chunks, every JPEG APP segment). A file can
put millions of tiny chunks or megabytes of metadata there: 1.3 M empty PNG chunks cost 8.7 s
and 200 MB in Pillow. This module walks the same structure first, with the same skipping rules
as Pillow 13's plugins, but only reads lengths, and stops at a segment count and a byte cap.
Pillow then runs only on a header the walk has bounded.

Counting segments and bytes is not enough, because some kinds cost Pillow more than their
bytes: a compressed PNG chunk (iCCP, zTXt, iTXt) inflates up to 1 MiB each, a JPEG SOF or DQT
segment becomes one Python object per 3 or 65 bytes, a Photoshop APP13 segment one dict entry
per 12 bytes, and Pillow joins every EXIF APP1 segment into one blob it parses at open. So
the walk also caps the count (and, where it matters, the bytes) of each kind, inflates every
compressed PNG chunk against one budget, and reports the EXIF segments past the app's EXIF
limit so the caller can keep them from Pillow (`pillow_view`).

The walk is a bound, not a validator: structure it cannot follow is left to Pillow, which then
fails (or not) exactly as it would have on the whole file. Where it stops, Pillow stops too:
a walk that gave up earlier than Pillow would let Pillow run unbounded past it.
"""

from __future__ import annotations

import re
import struct
import zlib
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
MAX_INFLATED_BYTES = 4 * 1024 * 1024
"""What every compressed PNG chunk before the image data may inflate to, together: real
files carry an ICC profile (a few KB, rarely 1-2 MB) and a few compressed text chunks."""
MAX_TEXT_CHUNK = 1024 * 1024
"""Pillow inflates at most this much per chunk (PngImagePlugin.MAX_TEXT_CHUNK), then fails."""
MAX_EXIF_BYTES = 64 * 1024
"""The app's EXIF limit: one JPEG APP1 segment's worth, as every camera writes it."""

PNG_KIND_LIMITS = {b"iCCP": 4, b"zTXt": 64, b"iTXt": 64, b"tEXt": 256, b"eXIf": 4, b"acTL": 4}
"""Chunks of one kind before the image data. iCCP, eXIf and acTL may appear once by the
spec (4 leaves room for sloppy encoders); text chunks number a handful in real files. Other
kinds cost Pillow no more than their bytes and are bounded by MAX_SEGMENTS alone."""
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_STOP = {b"IDAT", b"IEND", b"fdAT"}  # Pillow's PNG parser stops at the first of these
_PNG_CHUNK_TYPE = re.compile(rb"\w\w\w\w").fullmatch  # PngImagePlugin.is_cid: \w is [A-Za-z0-9_]
_PNG_COMPRESSED = {b"iCCP", b"zTXt", b"iTXt"}
_INFLATE_STEP = 64 * 1024

# JPEG markers Pillow reads without a length field (JpegImagePlugin.MARKER handler None).
_JPEG_NO_LENGTH = {0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)}
_JPEG_SOS = 0xDA
_JPEG_SOF = {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xDE}
_JPEG_DQT = 0xDB
_JPEG_APP1 = 0xE1
_JPEG_APP13 = 0xED
_EXIF_ID = b"Exif\0\0"
_EXIF_MASK = b"Exif\0-"  # what a masked identifier reads as: a plain APP1 to Pillow
_SOF_MAX_LENGTH = 8 + 3 * 255  # Lf = 8 + 3 x Nf (ITU T.81 B.2.2), Nf <= 255
JPEG_KIND_LIMITS: dict[str, tuple[int, int]] = {
    "SOF": (4, 4 * _SOF_MAX_LENGTH),
    "DQT": (16, 16 * (2 + 4 * 129)),
    "APP13": (8, 8 * 65_535),
}
"""(segments, bytes) of one kind before the first scan, for the kinds Pillow turns into many
Python objects: SOF (one tuple per 3 bytes; a real frame header is at most 773 bytes and
there is one), DQT (a list per 65-byte table; at most 4 tables a segment), Photoshop APP13
(a dict entry per 12-byte resource; real files have one or two). Every other kind costs
Pillow no more than its bytes and is bounded by MAX_SEGMENTS and MAX_HEADER_BYTES alone."""


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
    Pillow) within the buffer; `exif_masked` holds the offsets of EXIF APP1 identifiers past
    the EXIF limit, which `pillow_view` hides from Pillow.
    """

    needed: int
    complete: bool
    segments: int
    exif_masked: tuple[int, ...] = ()


def pillow_view(buf: bytes, walk: Scan) -> bytes:
    """The bytes to give Pillow: `buf`, with EXIF segments past the EXIF limit no longer
    EXIF (their identifier rewritten), so Pillow's join-and-parse at open sees at most
    MAX_EXIF_BYTES. The image is still read; its EXIF fields come from the first segment."""
    if not walk.exif_masked:
        return buf
    view = bytearray(buf)
    for offset in walk.exif_masked:
        view[offset : offset + len(_EXIF_MASK)] = _EXIF_MASK
    return bytes(view)


def _over(kind: str, what: str, limit: int) -> HeaderTooLarge:
    return HeaderTooLarge(f"{kind} header has more than {limit} {what} before the image data")


def _bytes_over(kind: str, needed: int) -> HeaderTooLarge:
    return HeaderTooLarge(
        f"{kind} header runs to byte {needed} before the image data; the limit is "
        f"{MAX_HEADER_BYTES // (1024 * 1024)} MiB of metadata"
    )


def _inflated(data: bytes, cap: int) -> int:
    """Bytes zlib produces from `data` before it ends, fails or reaches `cap`: the work
    Pillow's _safe_zlib_decompress does on it. A failing step is counted in full."""
    inflater = zlib.decompressobj()
    produced, pending = 0, data
    try:
        while pending and produced < cap:
            out = inflater.decompress(pending, min(_INFLATE_STEP, cap - produced))
            produced += len(out)
            pending = inflater.unconsumed_tail
            if inflater.eof or not out:
                break
    except zlib.error:
        produced += _INFLATE_STEP
    return min(produced, cap)


def _png_compressed_payload(kind: bytes, body: bytes) -> bytes:
    """The part of an iCCP/zTXt/iTXt chunk Pillow inflates (PngStream.chunk_*), or b""."""
    if kind == b"iCCP":
        i = body.find(b"\0")
        return body[i + 2 :] if i + 1 < len(body) and body[i + 1] == 0 else b""
    _keyword, sep, rest = body.partition(b"\0")
    if kind == b"zTXt":
        return rest[1:] if sep and rest[:1] == b"\0" else b""
    if len(rest) < 2 or rest[0] == 0 or rest[1] != 0:  # iTXt: inflated when flag 1, method 0
        return b""
    parts = rest[2:].split(b"\0", 2)
    return parts[2] if len(parts) == 3 else b""


def scan_png(buf: bytes | bytearray) -> Scan:
    """Chunks from the signature to the first IDAT/IEND/fdAT (Pillow reads up to its head)."""
    pos, segments, inflated = len(_PNG_SIGNATURE), 0, 0
    kinds: dict[bytes, int] = {}
    while True:
        if pos + 8 > len(buf):
            return Scan(pos + 8, False, segments)
        length, kind = struct.unpack_from(">I4s", buf, pos)
        if kind in _PNG_STOP or not _PNG_CHUNK_TYPE(kind):
            return Scan(pos + 8, True, segments)  # image data, or a broken chunk for Pillow
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _over("PNG", "chunks", MAX_SEGMENTS)
        kinds[kind] = kinds.get(kind, 0) + 1
        limit = PNG_KIND_LIMITS.get(kind, MAX_SEGMENTS)
        if kinds[kind] > limit:
            raise _over("PNG", f"{kind.decode('ascii')} chunks", limit)
        end = pos + 12 + length
        if end + 8 > MAX_HEADER_BYTES:
            chunk = kind.decode("ascii")
            raise HeaderTooLarge(
                f"PNG {chunk} chunk of {length} bytes: the header runs to byte {end + 8} before "
                f"the image data; the limit is {MAX_HEADER_BYTES // (1024 * 1024)} MiB of metadata"
            )
        if kind in _PNG_COMPRESSED and end <= len(buf):
            payload = _png_compressed_payload(kind, bytes(buf[pos + 8 : end - 4]))
            cap = min(MAX_TEXT_CHUNK, MAX_INFLATED_BYTES - inflated + 1)
            inflated += _inflated(payload, cap) if payload else 0
            if inflated > MAX_INFLATED_BYTES:
                raise HeaderTooLarge(
                    f"PNG compressed chunks (iCCP, zTXt, iTXt) inflate to more than "
                    f"{MAX_INFLATED_BYTES // (1024 * 1024)} MiB before the image data"
                )
        pos = end


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


def _jpeg_kind(marker: int) -> str | None:
    if marker in _JPEG_SOF:
        return "SOF"
    if marker == _JPEG_DQT:
        return "DQT"
    if marker == _JPEG_APP13:
        return "APP13"
    return None


class _JpegKinds:
    """Per-kind counts and the EXIF join, segment by segment."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = {}
        self.exif_bytes = 0
        self.masked: list[int] = []

    def segment(self, buf: bytes | bytearray, pos: int, marker: int, length: int) -> None:
        kind = _jpeg_kind(marker)
        if kind is not None:
            self._count(kind, length)
        if marker == _JPEG_APP1 and length >= 8 and buf[pos + 4 : pos + 10] == _EXIF_ID:
            # JpegImagePlugin.APP keeps the first segment whole and appends the rest minus
            # their identifier; segments that would take the join past the limit are masked.
            size = length - 2 if self.exif_bytes == 0 else length - 2 - len(_EXIF_ID)
            if self.masked or self.exif_bytes + size > MAX_EXIF_BYTES + len(_EXIF_ID):
                self.masked.append(pos + 4)
            else:
                self.exif_bytes += size

    def _count(self, kind: str, length: int) -> None:
        count_limit, bytes_limit = JPEG_KIND_LIMITS[kind]
        seen = self.seen.setdefault(kind, [0, 0])
        seen[0] += 1
        seen[1] += length
        if seen[0] > count_limit:
            raise _over("JPEG", f"{kind} segments", count_limit)
        if kind == "SOF" and length > _SOF_MAX_LENGTH:
            raise HeaderTooLarge(
                f"JPEG frame header (SOF) of {length} bytes; a frame header is at most "
                f"{_SOF_MAX_LENGTH} bytes"
            )
        if seen[1] > bytes_limit:
            raise HeaderTooLarge(
                f"JPEG header has more than {bytes_limit} bytes of {kind} segments before the "
                "image data"
            )


def scan_jpeg(buf: bytes | bytearray) -> Scan:
    """Marker segments from SOI to the end of the first SOS segment, as Pillow walks them."""
    pos, segments, stray = 2, 0, 0
    n = len(buf)
    kinds = _JpegKinds()
    while True:
        pos, stray = _skip_junk(buf, pos, stray)
        if pos + 1 >= n:
            return Scan(pos + 2, False, segments, tuple(kinds.masked))
        marker = buf[pos + 1]
        if marker == 0x00:  # escaped 0xFF: junk to Pillow too
            pos += 2
            stray += 2
            continue
        if marker < 0xC0:  # not in JpegImagePlugin.MARKER: Pillow stops ("no marker found")
            return Scan(pos + 2, True, segments, tuple(kinds.masked))
        segments += 1
        if segments > MAX_SEGMENTS:
            raise _over("JPEG", "marker segments", MAX_SEGMENTS)
        if marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        if pos + 4 > n:
            return Scan(pos + 4, False, segments, tuple(kinds.masked))
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        end = pos + 2 + max(length, 2)  # Pillow reads a length below 2 as an empty segment
        if end > MAX_HEADER_BYTES:
            raise _bytes_over("JPEG", end)
        kinds.segment(buf, pos, marker, length)
        if marker == _JPEG_SOS:
            return Scan(end, end <= n, segments, tuple(kinds.masked))
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
