"""ExtractMetadata's output contract is one definition: what extract produces always passes it,
and the bounds StoreMetadata enforces are ones extract can reach (issue 20 item 3)."""

from __future__ import annotations

from PIL import Image, PngImagePlugin

from imagemeta import contract
from imagemeta.contract import ImageMetadata, parse_metadata
from imagemeta.extract import BlobFacts, ImageRejected, read_header
from tests.images import save
from tests.reliability.corpus import corpus
from tests.unit.test_extract import Reader


def test_every_accepted_corpus_image_round_trips_through_the_contract() -> None:
    """Guards the shared definition: the store side accepts exactly what the extract side
    emits for the deliberate and mutated corpus (every mode, format and EXIF shape in it)."""
    accepted = 0
    for case in corpus(mutated=300):
        try:
            meta = read_header(Reader(case.data), case.name)
        except ImageRejected:
            continue
        assert parse_metadata(meta.to_dict()) == meta
        accepted += 1
    assert accepted > 50


def test_exif_text_is_cleaned_to_fit_the_contract_not_rejected() -> None:
    """A camera string with control or bidi characters, or an orientation outside 1-8, is
    cleaned on the extract side: the image is still stored, the row holds inert text."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Can\x1b[31mon\x00", 0
    exif[0x0110] = b"\xe2\x80\xaeR5" + b"x" * 80  # U+202E in UTF-8; Pillow reads it as Latin-1
    data = save(Image.new("RGB", (8, 8)), "JPEG", exif=exif.tobytes())
    meta = read_header(Reader(data), "cam.jpg")
    assert (meta.CameraMake, meta.Orientation) == ("Can[31mon", None)
    assert meta.CameraModel == "\xe2\xaeR5" + "x" * 60  # C1 \x80 dropped
    assert parse_metadata(meta.to_dict()) == meta


def test_a_header_outside_the_contract_is_a_rejection() -> None:
    """FileSizeKB is an SQL INT: a blob over 2 TiB cannot be stored, so extract rejects it
    instead of failing the INSERT five times."""
    data = save(Image.new("RGB", (8, 8)), "PNG")
    reader = Reader(data, BlobFacts(2**41 + 1, '"0x1"', None))
    try:
        read_header(reader, "huge.png")
    except ImageRejected as exc:
        assert "FileSizeKB is 2147483649" in exc.reason
    else:
        raise AssertionError("accepted a FileSizeKB the column cannot hold")


def test_contract_bounds_are_pillows() -> None:
    """The modes and pixel limit are Pillow 13's own (a Pillow upgrade that adds a PNG mode
    fails here rather than in production)."""
    png_modes = {mode for mode, _raw in PngImagePlugin._MODES.values()}
    assert png_modes | {"CMYK"} | {"P", "L", "RGB", "RGBA"} == contract.COLOR_MODES
    assert Image.MAX_IMAGE_PIXELS == contract.MAX_PIXELS
    assert ImageMetadata.__dataclass_fields__.keys() >= {"FileName", "BlobETag", "BytesRead"}
