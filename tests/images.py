"""Real image bytes for tests, including cheap ways to declare huge canvases."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, padding: int = 0) -> bytes:
    """A PNG whose header declares width x height (pixels are never read), optionally
    followed by `padding` bytes in an ancillary chunk to make the file big cheaply."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pad = png_chunk(b"zzZz", b"\0" * padding) if padding else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + pad
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int, trailing: int = 0) -> bytes:
    """A small real JPEG with its SOF dimensions rewritten; `trailing` bytes after EOI."""
    data = bytearray(save(Image.new("RGB", (16, 16), (1, 2, 3)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data) + b"\0" * trailing


def jpeg_with_app1(app1_bytes: int, size: tuple[int, int] = (321, 123)) -> bytes:
    """A JPEG whose APP segments (EXIF-like APP1 chain) push SOF past `app1_bytes`."""
    jpeg = save(Image.new("RGB", size, (9, 9, 9)), "JPEG")
    segments, remaining = b"", app1_bytes
    while remaining > 0:
        n = min(remaining, 65533)
        segments += (
            b"\xff\xe1"
            + struct.pack(">H", n + 2)
            + b"Exif\0\0"[: min(6, n)]
            + b"\0" * (n - min(6, n))
        )
        remaining -= n
    return jpeg[:2] + segments + jpeg[2:]
