"""Benchmark inputs: real images made with Pillow, and large files made cheaply.

Large images are a small real image followed by filler bytes: the header is all a reader that
honours header-only I/O touches, so the filler's content does not matter but its size does for
any reader that downloads the whole blob.
"""

from __future__ import annotations

import io
import random

from PIL import Image


def small_image(i: int) -> tuple[str, bytes]:
    """A varied, realistic small image (~5-40 KB): rotating formats and sizes."""
    rng = random.Random(i)
    fmt = ("JPEG", "PNG", "GIF")[i % 3]
    w, h = rng.randint(64, 640), rng.randint(64, 480)
    img = Image.effect_noise((w, h), 40).convert("RGB")
    buf = io.BytesIO()
    if fmt == "GIF":
        img.convert("P").save(buf, format="GIF")
    elif fmt == "PNG":
        img.save(buf, format="PNG", compress_level=1)
    else:
        img.save(buf, format="JPEG", quality=80)
    ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif"}[fmt]
    return f"img-{i:06d}.{ext}", buf.getvalue()


def sized_jpeg(total_bytes: int) -> bytes:
    """A valid JPEG (4000x3000 camera size, 400x300 for the small case) padded to
    `total_bytes` after EOI."""
    size = (4000, 3000) if total_bytes >= 1_000_000 else (400, 300)
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buf, format="JPEG", quality=50)
    data = buf.getvalue()
    if total_bytes > len(data):
        data += b"\0" * (total_bytes - len(data))
    return data
