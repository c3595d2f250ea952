"""Header-only extraction on real Pillow-made bytes (an in-memory range reader)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagemeta.extract import (
    PREFIX_START,
    BlobFacts,
    ImageMetadata,
    ImageRejected,
    read_header,
)
from tests.images import jpeg_declaring, jpeg_with_app1, png_declaring, save


class Reader:
    """An in-memory PrefixSource that reports facts the way storage would."""

    def __init__(self, data: bytes, facts: BlobFacts | None = None):
        self.data, self.calls, self.bytes = data, [], 0
        self._facts = facts or BlobFacts(len(data), '"0x8D"', "2026-11-25T00:00:00Z")

    def read(self, offset: int, count: int) -> bytes:
        self.calls.append((offset, count))
        chunk = self.data[offset : offset + count]
        self.bytes += len(chunk)
        return chunk

    def facts(self) -> BlobFacts:
        return self._facts


def extract(data: bytes, name: str = "x.jpg") -> tuple[ImageMetadata, Reader]:
    reader = Reader(data)
    return read_header(reader, name), reader


def exif_bytes(**tags: object) -> bytes:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "EOS R5", 6
    exif.get_ifd(0x8769)[0x9003] = "2026:11:24 10:30:00"
    return exif.tobytes()


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (save(Image.new("RGB", (1, 1)), "JPEG"), (1, 1, "JPEG", "RGB")),
        (save(Image.new("RGB", (640, 480)), "JPEG", progressive=True), (640, 480, "JPEG", "RGB")),
        (save(Image.new("CMYK", (30, 20)), "JPEG"), (30, 20, "JPEG", "CMYK")),
        (save(Image.new("L", (7, 9)), "JPEG"), (7, 9, "JPEG", "L")),
        (save(Image.new("RGBA", (320, 200)), "PNG"), (320, 200, "PNG", "RGBA")),
        (save(Image.new("RGB", (64, 48)), "PNG", interlace=1), (64, 48, "PNG", "RGB")),
        (save(Image.new("I;16", (25, 26)), "PNG"), (25, 26, "PNG", "I;16")),
        (save(Image.new("P", (17, 19)), "PNG", transparency=0), (17, 19, "PNG", "P")),
        (save(Image.new("P", (33, 17)), "GIF"), (33, 17, "GIF", "P")),
        (jpeg_declaring(12000, 7000), (12000, 7000, "JPEG", "RGB")),
        (png_declaring(9000, 9000), (9000, 9000, "PNG", "RGB")),  # just under the limit
        (png_declaring(65535, 1), (65535, 1, "PNG", "RGB")),
    ],
)
def test_dimensions_format_and_mode_come_from_the_header(data: bytes, expect: tuple) -> None:
    meta, reader = extract(data)
    assert (meta.Width, meta.Height, meta.Format, meta.ColorMode) == expect
    assert reader.bytes <= PREFIX_START


def test_animated_gif_reports_the_canvas() -> None:
    buf = io.BytesIO()
    frames = [Image.new("P", (40, 30), i) for i in range(5)]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=40)
    meta, _ = extract(buf.getvalue(), "a.gif")
    assert (meta.Width, meta.Height, meta.Format) == (40, 30, "GIF")


def test_exif_fields_when_present_and_absent() -> None:
    with_exif, _ = extract(save(Image.new("RGB", (40, 30)), "JPEG", exif=exif_bytes()))
    assert (with_exif.CameraMake, with_exif.CameraModel, with_exif.Orientation) == (
        "Canon",
        "EOS R5",
        6,
    )
    assert with_exif.DateTimeOriginal == "2026:11:24 10:30:00"
    plain, _ = extract(save(Image.new("RGB", (40, 30)), "JPEG"))
    assert (plain.CameraMake, plain.Orientation, plain.DateTimeOriginal) == (None, None, None)


def test_big_app_segments_grow_the_prefix_geometrically() -> None:
    data = jpeg_with_app1(200_000)
    meta, reader = extract(data)
    assert (meta.Width, meta.Height) == (321, 123)
    assert reader.calls[0] == (0, PREFIX_START)
    assert len(reader.calls) >= 2  # had to grow
    assert meta.BytesRead == reader.bytes < len(data) + 1


def test_big_icc_profile_pushes_sof_past_64k() -> None:
    icc = b"\0" * 150_000
    data = save(Image.new("RGB", (99, 77)), "JPEG", icc_profile=icc)
    meta, reader = extract(data)
    assert (meta.Width, meta.Height) == (99, 77)
    assert reader.bytes > PREFIX_START


def test_format_comes_from_content_not_extension() -> None:
    meta, _ = extract(save(Image.new("RGB", (9, 9)), "PNG"), "really.gif")
    assert meta.Format == "PNG"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("zero.jpg", b"", "empty file"),
        ("text.jpg", b"hello, not an image\n" * 20, "not a JPEG, PNG or GIF"),
        ("truncated.jpg", save(Image.new("RGB", (64, 48)), "JPEG")[:200], "unreadable JPEG header"),
        ("truncated.png", save(Image.new("RGB", (64, 48)), "PNG")[:20], "unreadable PNG header"),
        ("bomb.png", png_declaring(60_000, 60_000), "decompression bomb"),
        ("bomb-between-1x-2x.png", png_declaring(10_000, 10_000), "decompression bomb"),
        ("empty-canvas.png", png_declaring(0, 5), "unreadable PNG header"),
        ("bmp.jpg", save(Image.new("RGB", (4, 4)), "BMP"), "not a JPEG, PNG or GIF"),
        ("webp.png", save(Image.new("RGB", (4, 4)), "WEBP"), "not a JPEG, PNG or GIF"),
        ("x" * 10_000 + ".jpg", save(Image.new("RGB", (4, 4)), "JPEG"), "limit is 1024"),
    ],
)
def test_hostile_inputs_are_rejected_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as err:
        extract(data, name)
    assert reason in err.value.reason


def test_unicode_and_quotes_in_names_are_kept_verbatim() -> None:
    name = 'ünïcødé/it\'s "quoted" 写真 100%#.jpg'
    meta, _ = extract(save(Image.new("RGB", (3, 2)), "JPEG"), name)
    assert meta.FileName == name


def test_size_kb_rounds_up() -> None:
    meta, _ = extract(save(Image.new("RGB", (1, 1)), "GIF"), "t.gif")
    assert meta.FileSizeKB == 1


def test_size_etag_and_date_come_from_storage_facts() -> None:
    """Guards issue 12 item 1: the row records what storage reported, nothing else."""
    data = save(Image.new("RGB", (5, 4)), "PNG")
    reader = Reader(data, BlobFacts(3_000_000, '"0xREAL"', "2026-11-20T08:00:00Z"))
    meta = read_header(reader, "a.png")
    assert (meta.FileSizeKB, meta.BlobETag, meta.UploadedOn) == (
        2930,
        '"0xREAL"',
        "2026-11-20T08:00:00Z",
    )


def test_what_header_only_reading_detects_in_a_cut_file() -> None:
    """The README's claim, pinned: a file cut inside its header is rejected; one cut after
    the header (compressed pixel data missing) is stored with the dimensions the header
    declares, since the pixels are never read."""
    jpeg = save(Image.new("RGB", (640, 480)), "JPEG", quality=95)
    sof, sos = jpeg.index(b"\xff\xc0"), jpeg.index(b"\xff\xda")
    for cut in (sof + 10, sos + 2):  # inside the frame header, inside the scan header
        with pytest.raises(ImageRejected, match="unreadable JPEG header"):
            extract(jpeg[:cut])
    first_third, _ = extract(jpeg[: len(jpeg) // 3])  # samples' truncated-body.jpg case
    assert sos < len(jpeg) // 3
    assert (first_third.Width, first_third.Height, first_third.Format) == (640, 480, "JPEG")
    png = save(Image.new("RGB", (64, 48)), "PNG")
    idat = png.index(b"IDAT") - 4  # the first IDAT chunk: where the pixel data begins
    for cut in (20, idat + 4):  # inside IHDR, inside the IDAT chunk's own header
        with pytest.raises(ImageRejected, match="unreadable PNG header"):
            extract(png[:cut], "x.png")
    no_pixels, _ = extract(png[: idat + 8], "x.png")  # IDAT's header, none of its data
    assert (no_pixels.Width, no_pixels.Height) == (64, 48)
