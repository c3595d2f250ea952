"""Hostile image files from issue 12 item 5, built from real bytes (shared with bench.hostile).

Each is a valid image whose header holds something that costs a naive reader time or memory
before the image data: Pillow walks (and keeps) all of it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from PIL import Image, JpegImagePlugin, PngImagePlugin

from imagemeta.prescan import (
    JPEG_KIND_LIMITS,
    MAX_SEGMENTS,
    PNG_KIND_LIMITS,
    scan_jpeg,
    scan_png,
)
from tests.images import png_chunk, save

MB = 1024 * 1024
BASE_PNG_SIZE = (64, 48)
BASE_JPEG_SIZE = (321, 123)
_BOMB = zlib.compress(b"\0" * (MB - 64), 9)  # ~1 KB that inflates to just under 1 MiB


def _ifd_entries(size: int, little: bool = True) -> bytes:
    """A TIFF header + one IFD filling `size` bytes, every entry claiming 256 MB of data."""
    order = "<" if little else ">"
    count = max(1, min(65_535, (size - 14) // 12))
    entries = b"".join(struct.pack(order + "HHLL", i, 7, 0x10000000, 8) for i in range(count))
    return b"II*\0" + struct.pack("<LH", 8, count) + entries + b"\0\0\0\0"


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


def png_compressed(kinds: list[bytes]) -> bytes:
    """Compressed chunks of ~1 KB, each inflating to ~1 MiB: the forms issue 20 item 4 found
    uncounted (iCCP; zTXt without a keyword; iTXt that is not UTF-8)."""
    head, tail = _png_parts()
    bodies = {
        b"iCCP": b"icc\0\0" + _BOMB,
        b"zTXt": b"\0\0" + _BOMB,
        b"iTXt": b"k\xff\0\1\0\0\0" + zlib.compress(b"\xff" * (MB - 64), 9),
    }
    return head + b"".join(png_chunk(k, bodies[k]) for k in kinds) + tail


def png_digit_type_bypass(total: int = 15 * MB) -> bytes:
    """A chunk type with a digit (\\w to Pillow, not alphabetic), then 1.3 M private chunks:
    a walk that stopped at the odd type let Pillow walk the rest unbounded."""
    head, tail = _png_parts()
    chunk = png_chunk(b"prVt", b"")
    return head + png_chunk(b"a1b_", b"") + chunk * (total // len(chunk)) + tail


def jpeg_zero_length_bypass(count: int = 1_000_000) -> bytes:
    """An APP0 whose length field is 0 (Pillow reads it as empty and goes on), then a
    million COM segments: a walk that stopped at the bad length let Pillow walk them all."""
    jpeg = save(Image.new("RGB", (32, 32)), "JPEG")
    return jpeg[:2] + b"\xff\xe0\x00\x00" + b"\xff\xfe\x00\x02" * count + jpeg[2:]


def jpeg_exif_entries(entries: int = 65_535) -> bytes:
    """Issue 20 item 5: EXIF of `entries` IFD entries (787 KB for 65,535) split over APP1
    segments, every entry one Pillow warning; Pillow joins the segments and parses at open."""
    jpeg = save(Image.new("RGB", BASE_JPEG_SIZE, (9, 9, 9)), "JPEG")
    exif = b"Exif\0\0" + _ifd_entries(14 + 12 * entries)
    segments, pos, first = b"", 0, True
    while pos < len(exif):
        n = 65_533 if first else 65_533 - 6
        body = exif[pos : pos + n] if first else b"Exif\0\0" + exif[pos : pos + n]
        segments += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
        pos, first = pos + n, False
    return jpeg[:2] + segments + jpeg[2:]


HOSTILE = {
    "png-1.3M-private-chunks.png": png_private_chunks,
    "png-15MB-iTXt.png": png_itxt,
    "png-zTXt-inflation.png": png_ztxt_inflation,
    "jpeg-12MB-APP2.jpg": jpeg_app2,
    "jpeg-1M-COM-segments.jpg": jpeg_tiny_segments,
    "jpeg-15MB-junk.jpg": jpeg_junk,
    "gif-15MB-comment-subblocks.gif": gif_comment_subblocks,
    "png-511-iCCP.png": lambda: png_compressed([b"iCCP"] * 511),
    "png-511-zTXt-no-keyword.png": lambda: png_compressed([b"zTXt"] * 511),
    "png-511-iTXt-not-utf8.png": lambda: png_compressed([b"iTXt"] * 511),
    "png-3-iCCP-2-zTXt.png": lambda: png_compressed([b"iCCP"] * 3 + [b"zTXt"] * 2),
    "png-digit-type-then-1.3M-chunks.png": png_digit_type_bypass,
    "jpeg-zero-length-then-1M-COM.jpg": jpeg_zero_length_bypass,
}
"""Issue 12's three cases first-class, the other ways to make Pillow walk a big header, and
issue 20's: compressed chunks that escaped the text-memory count, and two ways past the walk."""

JUST_UNDER = {
    "ok-png-500-private-chunks.png": lambda: png_private_chunks(500 * 12),
    "ok-png-1.9MB-iTXt.png": lambda: png_itxt(1_900_000),
    "ok-jpeg-1.9MB-APP2.jpg": lambda: jpeg_app2(1_900_000),
    "ok-gif-16000-comment-subblocks.gif": lambda: gif_comment_subblocks(32_000),
    "ok-png-4-iCCP-of-1MiB.png": lambda: png_compressed([b"iCCP"] * 4),
    "ok-jpeg-65535-entry-EXIF.jpg": jpeg_exif_entries,
}
"""The largest headers still accepted: legitimate files up to the bounds keep working, and
their cost is the worst an accepted image can cost."""


# --- Generated: every PNG chunk type and JPEG marker Pillow 13 handles (issue 20 item 4) ----
# The kinds come from Pillow's own tables (PngStream.chunk_* handlers, JpegImagePlugin.MARKER),
# so a Pillow upgrade that handles a new kind is walked too. Each kind gets the body that costs
# Pillow most per byte (compressed chunks that inflate to 1 MiB, EXIF/MPF IFDs whose every
# entry warns, SOF component lists, DQT tables, Photoshop resources), in three shapes:
# "max" (as many ~4 KB segments as the bounds accept: the kind's own cap, or the total
# minus the base image's own segments), "over" (one more: must be refused before Pillow) and
# "big" (the largest segments, ~1.9 MB together). Dimensions stay the base image's, so an
# accepted file must report them.

SHAPES = ("max", "over", "big")
SMALL = 4_000
BIG_TOTAL = 1_900_000


def _fit(body: bytes, size: int) -> bytes:
    return (body * (size // max(1, len(body)) + 1))[:size] if len(body) < size else body[:size]


def png_chunk_kinds() -> list[bytes]:
    handled = [n[len("chunk_") :] for n in dir(PngImagePlugin.PngStream) if n.startswith("chunk_")]
    return [*sorted(k.encode() for k in handled), b"prVt", b"a1b_"]  # private; \w not alpha


def _png_body(kind: bytes, size: int) -> bytes:
    w, h = BASE_PNG_SIZE
    bodies: dict[bytes, Callable[[], bytes]] = {
        b"IHDR": lambda: struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0),
        b"gAMA": lambda: struct.pack(">I", 45455),
        b"cHRM": lambda: struct.pack(">8I", *([31270] * 8)),
        b"sRGB": lambda: b"\0",
        b"pHYs": lambda: struct.pack(">IIB", 2835, 2835, 1),
        b"acTL": lambda: struct.pack(">II", 0, 0),  # invalid: Pillow warns for each
        b"tRNS": lambda: struct.pack(">HHH", 1, 2, 3),
        b"iCCP": lambda: b"icc\0\0" + _BOMB,
        b"zTXt": lambda: b"\0\0" + _BOMB,  # no keyword: Pillow never counted it
        b"iTXt": lambda: b"k\xff\0\1\0\0\0" + zlib.compress(b"\xff" * (MB - 64), 9),
        b"tEXt": lambda: b"Comment\0" + b"a" * (size - 8),
        b"eXIf": lambda: _ifd_entries(size),
        b"PLTE": lambda: bytes(range(256)) * 3,
        b"fcTL": lambda: struct.pack(">IIIIIHHBB", 0, w, h, 0, 0, 1, 10, 0, 0),
    }
    # IDAT/IEND/fdAT stop Pillow; private chunks are kept whole.
    return bodies.get(kind, lambda: b"\0" * size)()


def _repeat(kind_limit: int, base_segments: int, shape: str) -> int:
    most = min(kind_limit, MAX_SEGMENTS - base_segments)
    return most + 1 if shape == "over" else most


def png_generated(kind: bytes, shape: str) -> bytes:
    head, tail = _png_parts(BASE_PNG_SIZE)
    if shape != "big":
        body = _png_body(kind, SMALL)
        base = scan_png(head + tail).segments
        count = _repeat(PNG_KIND_LIMITS.get(kind, MAX_SEGMENTS), base, shape)
        return head + png_chunk(kind, body) * count + tail
    body = _png_body(kind, BIG_TOTAL)
    if kind in (b"iCCP", b"zTXt", b"iTXt"):  # one stream of incompressible bytes, 1.9 MB
        prefix = body[: body.index(b"\0") + 2] if kind != b"iTXt" else body[:7]
        body = prefix + zlib.compress(bytes(range(256)) * (BIG_TOTAL // 256), 0)
    return head + png_chunk(kind, body) + tail


def jpeg_marker_kinds() -> list[tuple[int, str]]:
    """(marker byte, name) for every marker in JpegImagePlugin.MARKER, plus two APP2 forms."""
    kinds = [(m & 0xFF, name) for m, (name, _d, _h) in sorted(JpegImagePlugin.MARKER.items())]
    return [*kinds, (0xE2, "APP2-MPF")]


def _jpeg_body(marker: int, name: str, size: int) -> bytes:
    w, h = BASE_JPEG_SIZE
    resource = b"8BIM" + struct.pack(">HBBL", 0x0404, 0, 0, 0)  # 12 bytes, empty data
    frame = b"\x08" + struct.pack(">HH", h, w) + b"\x03"
    bodies: dict[str, Callable[[], bytes]] = {
        "SOF": lambda: frame + _fit(b"\x01\x11\x00\x02\x11\x01\x03\x11\x01", size - 6),
        "DQT": lambda: _fit(b"\x00" + bytes(range(1, 65)), size),
        "APP1": lambda: b"Exif\0\0" + _ifd_entries(size - 6),
        "APP2": lambda: b"ICC_PROFILE\0\x01\x01" + b"\0" * (size - 14),
        "APP2-MPF": lambda: b"MPF\0" + _ifd_entries(size - 4),
        "APP13": lambda: b"Photoshop 3.0\0" + _fit(resource, size - 14),
        "APP0": lambda: b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * (size - 14),
        "APP14": lambda: b"Adobe\0\x64\0\0\0\0\x01" + b"\0" * (size - 12),
    }
    return bodies.get(_jpeg_kind(name), lambda: b"c" * size)()


def _jpeg_segment(marker: int, body: bytes | None) -> bytes:
    if body is None:
        return bytes((0xFF, marker))
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


_JPEG_LARGEST_ACCEPTED = {"SOF": 8 + 3 * 255 - 2, "DQT": 7 * 65}
"""Segment bodies for the "max" shape where the pre-scan bounds a segment's size: a full
frame header (255 components), seven 8-bit quantization tables."""


def _jpeg_kind(name: str) -> str:
    return "SOF" if name.startswith("SOF") or name == "DHP" else name


def _jpeg_kind_room(name: str, base: bytes) -> int:
    """How many more segments of this kind the kind's cap leaves beside the base's own."""
    kind = _jpeg_kind(name)
    if kind not in JPEG_KIND_LIMITS:
        return MAX_SEGMENTS
    own, pos = 0, 2
    while base[pos + 1] != 0xDA:  # a Pillow-written JPEG: plain segments up to SOS
        marker_name = JpegImagePlugin.MARKER[0xFF00 | base[pos + 1]][0]
        own += _jpeg_kind(marker_name) == kind
        pos += 2 + struct.unpack_from(">H", base, pos + 2)[0]
    return JPEG_KIND_LIMITS[kind][0] - own


def jpeg_generated(marker: int, name: str, shape: str) -> bytes:
    base = save(Image.new("RGB", BASE_JPEG_SIZE, (9, 9, 9)), "JPEG")
    no_length = JpegImagePlugin.MARKER.get(0xFF00 | marker, ("", "", True))[2] is None
    room = _jpeg_kind_room(name, base)
    count = _repeat(room, scan_jpeg(base).segments, shape)
    if no_length:
        segments = _jpeg_segment(marker, None) * (count if shape != "big" else 8)
    elif shape != "big":
        size = _JPEG_LARGEST_ACCEPTED.get(_jpeg_kind(name), SMALL)
        segments = _jpeg_segment(marker, _jpeg_body(marker, name, size)) * count
    else:
        body = _jpeg_body(marker, name, 65_533)
        segments = _jpeg_segment(marker, body) * min(BIG_TOTAL // 65_537, room)
    return base[:2] + segments + base[2:]


def generated() -> dict[str, Callable[[], bytes]]:
    """Name -> builder for every generated case (built lazily: ~250 files of up to 2 MB)."""
    out: dict[str, Callable[[], bytes]] = {}
    for kind in png_chunk_kinds():
        for shape in SHAPES:
            label = kind.decode("ascii")
            out[f"gen-png-{label}-{shape}.png"] = lambda k=kind, s=shape: png_generated(k, s)
    for marker, name in jpeg_marker_kinds():
        for shape in SHAPES:
            out[f"gen-jpeg-{name}-{shape}.jpg"] = lambda m=marker, n=name, s=shape: jpeg_generated(
                m, n, s
            )
    return out


BENCH_JPEG_MARKERS = (
    "SOF0", "SOF2", "DHT", "DQT", "SOS", "DRI", "APP0", "APP1", "APP2", "APP2-MPF", "APP13",
    "APP14", "APP15", "COM", "RST0", "EOI",
)  # fmt: skip
"""One marker per Pillow handler and identifier (the other SOFn/APPn/RSTn/JPGn markers take
the same code path); the test walks all of them."""


def bench_generated() -> dict[str, Callable[[], bytes]]:
    every = generated()
    keep = [n for n in every if n.startswith("gen-png-")]
    keep += [f"gen-jpeg-{m}-{s}.jpg" for m in BENCH_JPEG_MARKERS for s in SHAPES]
    return {n: every[n] for n in keep}
