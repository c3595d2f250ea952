"""Issue 12 item 5 and issue 20 items 4-5: bounded work per image whatever the header holds.

Before issue 12: a 15 MB PNG of ~1.3 M empty private chunks took 8.7 s and +201 MB in
ExtractMetadata and was stored as a row; 15 MB iTXt / 12 MB APP2 headers cost +119 MB / +48 MB.
Before issue 20: 511 iCCP chunks, 511 zTXt chunks without a keyword or 511 iTXt chunks that are
not UTF-8 (never counted against Pillow's text memory) cost 0.3-0.7 s each and were stored; a
JPEG with 65,535 EXIF entries made Pillow parse 787 KB of EXIF at open and print 65,535
warnings. Now the header structure is walked with count, byte, per-kind and inflation bounds
before Pillow runs, EXIF past 64 KiB never reaches Pillow, and Pillow's warnings become one
line. These tests pin the bounds structurally (bytes read, whether Pillow ran, what Pillow
inflated and parsed, the reason); the CPU/memory figures are measured by
`python -m bench --only hostile`, not asserted here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image, PngImagePlugin

from imagemeta import extract
from imagemeta.activities import extract_metadata
from imagemeta.blobref import INPUT_CONTAINER
from imagemeta.extract import BlobFacts, ImageRejected, read_header
from imagemeta.prescan import MAX_EXIF_BYTES, MAX_HEADER_BYTES, MAX_INFLATED_BYTES
from tests.reliability.corpus import corpus
from tests.security.hostile_files import (
    BASE_JPEG_SIZE,
    BASE_PNG_SIZE,
    HOSTILE,
    JUST_UNDER,
    generated,
    jpeg_exif_entries,
    png_private_chunks,
)

REASONS = {
    "png-1.3M-private-chunks.png": "PNG header has more than 512 chunks",
    "png-15MB-iTXt.png": "PNG iTXt chunk of 15728640 bytes",
    "png-zTXt-inflation.png": "inflate to more than 4 MiB",
    "jpeg-12MB-APP2.jpg": "the limit is 2 MiB of metadata",
    "jpeg-1M-COM-segments.jpg": "JPEG header has more than 512 marker segments",
    "jpeg-15MB-junk.jpg": "bytes of junk between segments",
    "gif-15MB-comment-subblocks.gif": "GIF header has more than 16384 data sub-blocks",
    "png-511-iCCP.png": "PNG header has more than 4 iCCP chunks",
    "png-511-zTXt-no-keyword.png": "inflate to more than 4 MiB",
    "png-511-iTXt-not-utf8.png": "inflate to more than 4 MiB",
    "png-3-iCCP-2-zTXt.png": "inflate to more than 4 MiB",
    "png-digit-type-then-1.3M-chunks.png": "PNG header has more than 512 chunks",
    "jpeg-zero-length-then-1M-COM.jpg": "JPEG header has more than 512 marker segments",
}
EXPECT = {
    "ok-png-500-private-chunks.png": (64, 48, "PNG"),
    "ok-png-1.9MB-iTXt.png": (64, 48, "PNG"),
    "ok-jpeg-1.9MB-APP2.jpg": (321, 123, "JPEG"),
    "ok-gif-16000-comment-subblocks.gif": (16, 16, "GIF"),
    "ok-png-4-iCCP-of-1MiB.png": (64, 48, "PNG"),
    "ok-jpeg-65535-entry-EXIF.jpg": (*BASE_JPEG_SIZE, "JPEG"),
}


class CountingSource:
    def __init__(self, data: bytes):
        self.data, self.read_bytes = data, 0

    def read(self, offset: int, count: int) -> bytes:
        chunk = self.data[offset : offset + count]
        self.read_bytes += len(chunk)
        return chunk

    def facts(self) -> BlobFacts:
        return BlobFacts(len(self.data), '"0x1"', None)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {name: build() for name, build in {**HOSTILE, **JUST_UNDER}.items()}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_header_is_rejected_within_the_bounds(
    files: dict[str, bytes], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards: at most 2 MiB read, and Pillow not even started: the walk already knows (since
    issue 20 also for compressed chunks, which it inflates against one budget)."""
    opened: list[int] = []
    real_open = extract._open_header
    monkeypatch.setattr(extract, "_open_header", lambda b: opened.append(len(b)) or real_open(b))
    source = CountingSource(files[name])
    with pytest.raises(ImageRejected) as err:
        read_header(source, name)
    assert REASONS[name] in err.value.reason
    assert source.read_bytes <= MAX_HEADER_BYTES
    assert opened == []


def test_bounds_hold_for_a_file_that_fits_in_the_first_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards: a 7 KB PNG of 600 empty chunks is read whole at once, and still never reaches
    Pillow: the bounds are on the structure, not only on the bytes read."""
    monkeypatch.setattr(extract, "_open_header", lambda _b: pytest.fail("Pillow ran"))
    data = png_private_chunks(600 * 12)
    assert len(data) < extract.PREFIX_START
    with pytest.raises(ImageRejected, match="more than 512 chunks"):
        read_header(CountingSource(data), "small.png")


@pytest.mark.parametrize("name", sorted(JUST_UNDER))
def test_headers_just_under_the_bounds_still_work(files: dict[str, bytes], name: str) -> None:
    """Guards: the bounds do not reject legitimate big headers (EXIF/ICC/XMP-heavy files)."""
    meta = read_header(CountingSource(files[name]), name)
    assert (meta.Width, meta.Height, meta.Format) == EXPECT[name]


class PillowWork:
    """What Pillow did during a header read: the buffers it was given, what each run inflated
    (PngImagePlugin._safe_zlib_decompress) and the EXIF it parsed (Image.Exif.load)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[int] = []
        self.inflated: list[int] = []
        self.exif: list[int] = []
        real_open, real_inflate = extract._open_header, PngImagePlugin._safe_zlib_decompress
        real_exif = Image.Exif.load

        def open_header(buf: bytes) -> Image.Image:
            self.opened.append(len(buf))
            self.inflated.append(0)
            return real_open(buf)

        def inflate(data: bytes) -> bytes:
            out = real_inflate(data)
            self.inflated[-1] += len(out)
            return out

        def exif_load(exif: Image.Exif, data: bytes) -> None:
            self.exif.append(len(data))
            real_exif(exif, data)

        monkeypatch.setattr(extract, "_open_header", open_header)
        monkeypatch.setattr(PngImagePlugin, "_safe_zlib_decompress", inflate)
        monkeypatch.setattr(Image.Exif, "load", exif_load)


def _read_quietly(data: bytes, name: str) -> tuple[Any, list[warnings.WarningMessage]]:
    """read_header's outcome (metadata or ImageRejected) and the warnings that escaped it."""
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        try:
            return read_header(CountingSource(data), name), escaped
        except ImageRejected as exc:
            return exc, escaped


GENERATED = generated()
_STOPS_THE_WALK = ("-IDAT-", "-IEND-", "-fdAT-", "-SOS-")  # Pillow stops there too


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_every_chunk_kind_and_marker_is_handled_within_the_bounds(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards items 4-5 for every PNG chunk type and JPEG marker Pillow 13 handles (from its
    own tables), each repeated up to and past its bounds and at its largest: the image is
    extracted with its real size or rejected with a reason; Pillow sees at most 2 MiB,
    inflates at most 4 MiB and parses at most 64 KiB of EXIF per run; no warning escapes and
    at most one log line is written. One past a bound is refused before Pillow runs."""
    work = PillowWork(monkeypatch)
    with caplog.at_level(logging.INFO, logger="imagemeta"):
        out, escaped = _read_quietly(GENERATED[name](), name)
    if isinstance(out, ImageRejected):
        assert out.reason
    else:
        size = BASE_PNG_SIZE if name.endswith(".png") else BASE_JPEG_SIZE
        assert (out.Width, out.Height) == size
    assert all(n <= MAX_HEADER_BYTES for n in work.opened)
    assert all(n <= MAX_INFLATED_BYTES for n in work.inflated), work.inflated
    assert all(n <= MAX_EXIF_BYTES + 6 for n in work.exif), work.exif
    assert [str(w.message) for w in escaped] == []
    assert len(caplog.records) <= 1
    if name.endswith(("-over.png", "-over.jpg")) and not any(s in name for s in _STOPS_THE_WALK):
        assert isinstance(out, ImageRejected) and work.opened == [], name


def test_exif_past_the_limit_never_reaches_pillow_and_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards item 5: 65,535 EXIF entries in 787 KB of APP1 segments. Before: Pillow joined
    and parsed all of it at open (0.5 s) and printed 65,535 warnings. Now only the first
    segment (<= 64 KiB) is EXIF to Pillow, the image is still read, and Pillow's warnings
    become one log line naming the file (escaped)."""
    work = PillowWork(monkeypatch)
    data = jpeg_exif_entries()
    assert len(data) > 780_000
    with caplog.at_level(logging.INFO, logger="imagemeta"):
        out, escaped = _read_quietly(data, "cam/\u202egpj.exif.jpg")
    assert (out.Width, out.Height, out.Format) == (*BASE_JPEG_SIZE, "JPEG")
    assert work.exif and max(work.exif) <= MAX_EXIF_BYTES + 6
    assert escaped == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert "Pillow reported" in line and "Skipping tag" in line
    assert "\u202e" not in line and "cam/\\u202egpj.exif.jpg" in line


def test_other_warnings_still_pass_while_pillow_is_quiet() -> None:
    """Guards the other side: only Pillow's warnings are summarised; a warning raised by other
    code during a header read reaches the normal machinery."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with extract._pillow_quietly("x.png"):
            warnings.warn("not from Pillow", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["not from Pillow"]


def test_bounds_agree_with_pillow_on_the_whole_file_for_the_corpus() -> None:
    """Guards: the pre-scan is a bound, not a second parser: on the hostile/mutated corpus it
    accepts and rejects exactly what Pillow's header parse of the whole file does."""
    disagree = []
    for case in corpus(mutated=600):
        try:
            meta = read_header(CountingSource(case.data), case.name)
            got: tuple[int, int, str] | None = (meta.Width, meta.Height, meta.Format)
        except ImageRejected:
            got = None
        if got != case.expect:
            disagree.append((case.name, got, case.expect))
    assert disagree == []


# --- the same files through ExtractMetadata against real Azurite -------------------------------


@pytest.fixture
def container(storage_connection_string: str) -> Iterator[ContainerClient]:
    client = BlobServiceClient.from_connection_string(
        storage_connection_string
    ).get_container_client(INPUT_CONTAINER)
    if not client.exists():
        client.create_container()
    yield client


def _run_activity(
    container: ContainerClient, name: str, data: bytes, unique: str
) -> dict[str, object]:
    blob = container.get_blob_client(f"{unique}/{name}")
    etag = blob.upload_blob(data, overwrite=True, max_concurrency=4)["etag"]
    return extract_metadata({"container": INPUT_CONTAINER, "name": blob.blob_name, "etag": etag})


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_blob_is_rejected_by_the_activity(
    container: ContainerClient,
    storage_connection_string: str,
    files: dict[str, bytes],
    name: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Guards: the issue's probes (real bytes, real ranged reads) end as rejections, not rows."""
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    out = _run_activity(container, name, files[name], unique_name)
    assert out["rejected"] is True
    assert REASONS[name] in str(out["reason"])


@pytest.mark.parametrize("name", sorted(JUST_UNDER))
def test_big_but_legal_header_is_extracted_by_the_activity(
    container: ContainerClient,
    storage_connection_string: str,
    files: dict[str, bytes],
    name: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    out = _run_activity(container, name, files[name], unique_name)
    meta = out["metadata"]
    assert isinstance(meta, dict)
    assert (meta["Width"], meta["Height"], meta["Format"]) == EXPECT[name]
    assert meta["BytesRead"] <= MAX_HEADER_BYTES
    assert meta["FileSizeKB"] == (len(files[name]) + 1023) // 1024
