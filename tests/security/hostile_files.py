"""Hostile image files from issue 12 item 5, built from real bytes (shared with bench.hostile).

Each is a valid image whose header holds something that costs a naive reader time or memory
before the image data: Pillow walks (and keeps) all of it.
"""

from __future__ import annotations

import struct
import zlib

from PIL import Image

from tests.images import png_chunk, save

MB = 1024 * 1024


def _png_parts(size: tuple[int, int] = (64, 48)) -> tuple[bytes, bytes]:
    """(signature + IHDR, IDAT + IEND) of a real PNG, to put chunks between."""
    png = save(Image.new("RGB", size, (10, 20, 30)), "PNG")
    idat = png.index(b"IDAT") - 4
    return png[:idat], png[idat:]


def png_private_chunks(total: int = 15 * MB) -> bytes:
    """~1.3 M empty private ancillary chunks before IDAT (12 bytes each)."""
    head, tail = _png_parts()
    chunk = png_chunk(b"prVt", b"")
    return head + chunk * (total // len(chunk)) + tail


def png_itxt(total: int = 15 * MB) -> bytes:
    """One uncompressed iTXt chunk of `total` bytes before IDAT."""
    head, tail = _png_parts()
    text = b"XML:com.adobe.xmp\0\0\0\0\0"
    return head + png_chunk(b"iTXt", text + b"a" * (total - len(text))) + tail


def png_ztxt_inflation(chunks: int = 400, inflated: int = MB - 1) -> bytes:
    """zTXt chunks of ~1 KB that each inflate to ~1 MB (Pillow keeps the text)."""
    head, tail = _png_parts()
    body = b"Comment\0\0" + zlib.compress(b"\0" * inflated, 9)
    return head + png_chunk(b"zTXt", body) * chunks + tail


def jpeg_app2(total: int = 12 * MB) -> bytes:
    """Chained 64 KB APP2 (ICC_PROFILE) segments before SOF, `total` bytes of them."""
    jpeg = save(Image.new("RGB", (321, 123), (9, 9, 9)), "JPEG")
    n = 65533 - 14
    count = -(-total // n)
    segs = [
        b"\xff\xe2" + struct.pack(">H", n + 16) + b"ICC_PROFILE\0" + bytes([i % 255 + 1, 255])
        for i in range(count)
    ]
    body = b"\0" * n
    return jpeg[:2] + b"".join(s + body for s in segs) + jpeg[2:]


def jpeg_tiny_segments(count: int = 1_000_000) -> bytes:
    """A million empty COM segments (4 bytes each) before SOF."""
    jpeg = save(Image.new("RGB", (32, 32)), "JPEG")
    return jpeg[:2] + b"\xff\xfe\x00\x02" * count + jpeg[2:]


def jpeg_junk(total: int = 15 * MB) -> bytes:
    """Junk bytes between SOI and the first segment (Pillow skips them one at a time)."""
    jpeg = save(Image.new("RGB", (32, 32)), "JPEG")
    app0_end = 4 + struct.unpack_from(">H", jpeg, 4)[0]  # after SOI + the JFIF segment
    return jpeg[:app0_end] + b"\x00" * total + jpeg[app0_end:]


def gif_comment_subblocks(total: int = 15 * MB) -> bytes:
    """One comment extension of 1-byte sub-blocks (Pillow reads each with two reads)."""
    gif = save(Image.new("P", (16, 16)), "GIF")
    flags = gif[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    comment = b"\x21\xfe" + b"\x01c" * (total // 2) + b"\x00"
    return gif[:start] + comment + gif[start:]


HOSTILE = {
    "png-1.3M-private-chunks.png": png_private_chunks,
    "png-15MB-iTXt.png": png_itxt,
    "png-zTXt-inflation.png": png_ztxt_inflation,
    "jpeg-12MB-APP2.jpg": jpeg_app2,
    "jpeg-1M-COM-segments.jpg": jpeg_tiny_segments,
    "jpeg-15MB-junk.jpg": jpeg_junk,
    "gif-15MB-comment-subblocks.gif": gif_comment_subblocks,
}
"""The issue's three cases first-class, plus the other ways to make Pillow walk a big header."""

JUST_UNDER = {
    "ok-png-500-private-chunks.png": lambda: png_private_chunks(500 * 12),
    "ok-png-1.9MB-iTXt.png": lambda: png_itxt(1_900_000),
    "ok-jpeg-1.9MB-APP2.jpg": lambda: jpeg_app2(1_900_000),
    "ok-gif-16000-comment-subblocks.gif": lambda: gif_comment_subblocks(32_000),
}
"""The largest headers still accepted: legitimate files up to the bounds keep working, and
their cost is the worst an accepted image can cost."""
