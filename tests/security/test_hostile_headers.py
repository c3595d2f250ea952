"""Issue 12 item 5: bounded work per image whatever the header holds.

Before: a 15 MB PNG of ~1.3 M empty private chunks took 8.7 s and +201 MB in ExtractMetadata
and was stored as a row; 15 MB iTXt / 12 MB APP2 headers cost +119 MB / +48 MB. Now the header
structure is walked with a count and byte bound before Pillow runs. These tests pin the bounds
structurally (bytes read, whether Pillow ran, the reason); the CPU/memory figures are measured
by `python -m bench --only hostile`, not asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from imagemeta import extract
from imagemeta.activities import extract_metadata
from imagemeta.blobref import INPUT_CONTAINER
from imagemeta.extract import BlobFacts, ImageRejected, read_header
from imagemeta.prescan import MAX_HEADER_BYTES
from tests.reliability.corpus import corpus
from tests.security.hostile_files import HOSTILE, JUST_UNDER, png_private_chunks

REASONS = {
    "png-1.3M-private-chunks.png": "PNG header has more than 512 chunks",
    "png-15MB-iTXt.png": "PNG iTXt chunk of 15728640 bytes",
    "png-zTXt-inflation.png": "Too much memory used in text chunks",
    "jpeg-12MB-APP2.jpg": "the limit is 2 MiB of metadata",
    "jpeg-1M-COM-segments.jpg": "JPEG header has more than 512 marker segments",
    "jpeg-15MB-junk.jpg": "bytes of junk between segments",
    "gif-15MB-comment-subblocks.gif": "GIF header has more than 16384 data sub-blocks",
}
PILLOW_NEVER_RUNS = set(REASONS) - {"png-zTXt-inflation.png"}  # the pre-scan alone rejects
EXPECT = {
    "ok-png-500-private-chunks.png": (64, 48, "PNG"),
    "ok-png-1.9MB-iTXt.png": (64, 48, "PNG"),
    "ok-jpeg-1.9MB-APP2.jpg": (321, 123, "JPEG"),
    "ok-gif-16000-comment-subblocks.gif": (16, 16, "GIF"),
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
    """Guards: at most 2 MiB read, and Pillow not even started when the walk already knows."""
    opened: list[int] = []
    real_open = extract._open_header
    monkeypatch.setattr(extract, "_open_header", lambda b: opened.append(len(b)) or real_open(b))
    source = CountingSource(files[name])
    with pytest.raises(ImageRejected) as err:
        read_header(source, name)
    assert REASONS[name] in err.value.reason
    assert source.read_bytes <= MAX_HEADER_BYTES
    if name in PILLOW_NEVER_RUNS:
        assert opened == []
    else:  # zTXt: the walk allows it, Pillow's text-memory limit (lowered to 4 MiB) rejects
        assert opened and all(n <= MAX_HEADER_BYTES for n in opened)


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
