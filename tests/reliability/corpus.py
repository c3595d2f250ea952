"""A hostile/odd image corpus with the outcome each file must have.

Deliberate cases carry their exact expected dimensions (or a rejection). Random mutations
(truncations, bit flips) use an oracle that reads the *whole* file with Pillow's header
parser: the pipeline, which reads a ranged prefix inside an orchestration, must agree with it.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from dataclasses import dataclass

from PIL import Image

from tests.images import png_declaring, save


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expect: tuple[int, int, str] | None  # (width, height, format) or None = rejected
    category: str


def oracle(data: bytes) -> tuple[int, int, str] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "GIF"])
            return im.size[0], im.size[1], str(im.format)
        except Exception:
            return None


def gif_with_screen(width: int, height: int) -> bytes:
    """A 1x1 GIF image inside a logical screen of width x height."""
    base = bytearray(save(Image.new("P", (1, 1)), "GIF"))
    base[6:10] = struct.pack("<HH", width, height)
    return bytes(base)


def jpeg_with_app_segment(size: int) -> bytes:
    """A JPEG with a giant APP15 segment (chained 64 KB segments) before SOF."""
    jpeg = save(Image.new("RGB", (321, 123), (9, 9, 9)), "JPEG")
    segments = b""
    remaining = size
    while remaining > 0:
        n = min(remaining, 65533)
        segments += b"\xff\xef" + struct.pack(">H", n + 2) + b"\0" * n
        remaining -= n
    return jpeg[:2] + segments + jpeg[2:]


def deliberate() -> list[Case]:
    rgb = Image.new("RGB", (64, 48), (200, 10, 10))
    jpeg = save(rgb, "JPEG")
    png = save(rgb, "PNG")
    gif = save(rgb.convert("P"), "GIF")
    anim = io.BytesIO()
    frames = [Image.new("P", (40, 30), i) for i in range(4)]
    frames[0].save(anim, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    palette_trns = Image.new("P", (17, 19))
    cases = [
        Case("zero.jpg", b"", None, "zero bytes"),
        Case("zero.png", b"", None, "zero bytes"),
        Case("text.jpg", b"hello, I am not a JPEG\n" * 10, None, "not an image"),
        Case("html.gif", b"<html><body>GIF89a</body></html>", None, "not an image"),
        Case("png-named.jpg", png, (64, 48, "PNG"), "wrong extension"),
        Case("png-named.gif", png, (64, 48, "PNG"), "wrong extension"),
        Case("jpeg-named.png", jpeg, (64, 48, "JPEG"), "wrong extension"),
        Case("gif-named.jpeg", gif, (64, 48, "GIF"), "wrong extension"),
        Case("one.png", save(Image.new("RGB", (1, 1)), "PNG"), (1, 1, "PNG"), "tiny"),
        Case("one.gif", save(Image.new("P", (1, 1)), "GIF"), (1, 1, "GIF"), "tiny"),
        Case("one.jpg", save(Image.new("RGB", (1, 1)), "JPEG"), (1, 1, "JPEG"), "tiny"),
        Case(
            "wide.png", save(Image.new("L", (65535, 1)), "PNG"), (65535, 1, "PNG"), "extreme size"
        ),
        Case("bomb.png", png_declaring(60000, 60000), None, "decompression bomb"),
        Case("bomb-1x-2x.png", png_declaring(15000, 15000), None, "decompression bomb"),
        Case("huge-screen.gif", gif_with_screen(65535, 65535), None, "decompression bomb"),
        Case("bogus-screen.gif", gif_with_screen(0, 0), oracle(gif_with_screen(0, 0)), "bogus"),
        Case(
            "cmyk.jpg",
            save(Image.new("CMYK", (30, 20)), "JPEG"),
            (30, 20, "JPEG"),
            "color modes",
        ),
        Case(
            "sixteen-bit.png",
            save(Image.new("I;16", (25, 26)), "PNG"),
            (25, 26, "PNG"),
            "color modes",
        ),
        Case(
            "palette-trns.png",
            save(palette_trns, "PNG", transparency=0),
            (17, 19, "PNG"),
            "color modes",
        ),
        Case("animated.gif", anim.getvalue(), (40, 30, "GIF"), "animation"),
        Case(
            "progressive.jpg",
            save(rgb, "JPEG", progressive=True),
            (64, 48, "JPEG"),
            "encodings",
        ),
        Case("interlaced.png", save(rgb, "PNG", interlace=1), (64, 48, "PNG"), "encodings"),
        Case("big-app.jpg", jpeg_with_app_segment(300_000), (321, 123, "JPEG"), "giant APP"),
        Case("polyglot.gif", gif + b"<?php echo 1; ?>" + png, (64, 48, "GIF"), "polyglot"),
        Case("polyglot.png", png + jpeg, (64, 48, "PNG"), "polyglot"),
        Case("zip-in.jpg", b"PK\x03\x04" + jpeg, None, "polyglot"),
    ]
    names = [
        "ünïcødé 写真.jpg",
        'it\'s "quoted".png',
        "spaces in name .gif",
        "100% real.jpg",
        "hash#tag.png",
        "deep/a/b/c/d/e/f/g/nested.gif",
        "semi;colon&amp.jpg",
        "'; DROP TABLE ImageMetadata;--.png",
    ]
    sources = [jpeg, png, gif]
    fmts = ["JPEG", "PNG", "GIF"]
    for i, name in enumerate(names):
        cases.append(Case(name, sources[i % 3], (64, 48, fmts[i % 3]), "odd names"))
    return cases


def mutations(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    out: list[Case] = []
    for i in range(count):
        fmt = ("JPEG", "PNG", "GIF")[i % 3]
        size = (rng.randint(1, 300), rng.randint(1, 300))
        mode = "P" if fmt == "GIF" else "RGB"
        data = save(Image.new(mode, size, 7), fmt)
        ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif"}[fmt]
        if i % 2 == 0:
            cut = rng.randint(0, max(0, len(data) - 1))
            data, category = data[:cut], "truncated"
        else:
            buf = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randint(0, min(len(buf) - 1, 40))
                buf[pos] ^= 1 << rng.randint(0, 7)
            data, category = bytes(buf), "bit-flipped header"
        out.append(Case(f"mut/{category.split()[0]}-{i:03d}.{ext}", data, oracle(data), category))
    return out


def corpus(seed: int = 20261124, mutated: int = 180) -> list[Case]:
    return deliberate() + mutations(seed, mutated)
