"""ExtractMetadata against real blobs in Azurite: ranged reads, If-Match, prefix size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from imagemeta.activities import extract_metadata
from imagemeta.blobref import INPUT_CONTAINER, BlobRef
from imagemeta.extract import PREFIX_START, extract_from_blob
from tests.images import jpeg_declaring, jpeg_with_app1, png_declaring, save

MB = 1024 * 1024


@dataclass
class Blobs:
    """The watched container (the only one ExtractMetadata reads) and a per-test name prefix."""

    client: ContainerClient
    prefix: str

    def upload(self, name: str, data: bytes) -> BlobRef:
        blob = self.client.get_blob_client(f"{self.prefix}/{name}")
        etag = blob.upload_blob(data, overwrite=True, max_concurrency=4)["etag"]
        return BlobRef(INPUT_CONTAINER, blob.blob_name, "", len(data), etag, None, None)

    def delete(self, name: str) -> None:
        self.client.delete_blob(f"{self.prefix}/{name}")


@pytest.fixture
def container(storage_connection_string: str, unique_name: str) -> Iterator[Blobs]:
    service = BlobServiceClient.from_connection_string(storage_connection_string)
    client = service.get_container_client(INPUT_CONTAINER)  # private: no public access
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    yield Blobs(client, unique_name)


def upload(container: Blobs, name: str, data: bytes) -> BlobRef:
    return container.upload(name, data)


@pytest.mark.parametrize(
    ("name", "data", "expect"),
    [
        ("tiny.gif", save(Image.new("P", (1, 1)), "GIF"), (1, 1, "GIF")),
        (
            "photo.jpg",
            save(Image.new("RGB", (800, 600), (5, 90, 200)), "JPEG", quality=90),
            (800, 600, "JPEG"),
        ),
        (
            "progressive.jpg",
            save(Image.new("RGB", (300, 200)), "JPEG", progressive=True),
            (300, 200, "JPEG"),
        ),
        ("interlaced.png", save(Image.new("RGB", (64, 48)), "PNG", interlace=1), (64, 48, "PNG")),
        ("sub/dir/wide.png", save(Image.new("L", (20000, 1)), "PNG"), (20000, 1, "PNG")),
        ("named.gif", save(Image.new("RGB", (9, 9)), "PNG"), (9, 9, "PNG")),
    ],
)
def test_dimensions_from_real_blobs(
    container: Blobs,
    storage_connection_string: str,
    name: str,
    data: bytes,
    expect: tuple,
) -> None:
    meta = extract_from_blob(storage_connection_string, upload(container, name, data))
    assert (meta.Width, meta.Height, meta.Format) == expect
    assert meta.BytesRead == min(len(data), PREFIX_START)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("big.png", png_declaring(8000, 6000, padding=50 * MB)),
        ("big.jpg", jpeg_declaring(8000, 6000, trailing=50 * MB)),
    ],
)
def test_a_50mb_image_costs_one_64k_ranged_read(
    container: Blobs, storage_connection_string: str, name: str, data: bytes
) -> None:
    assert len(data) > 50 * MB
    meta = extract_from_blob(storage_connection_string, upload(container, name, data))
    assert (meta.Width, meta.Height) == (8000, 6000)
    assert meta.BytesRead == PREFIX_START
    assert meta.FileSizeKB == (len(data) + 1023) // 1024


def test_sof_past_64k_grows_the_prefix(container: Blobs, storage_connection_string: str) -> None:
    data = jpeg_with_app1(300_000) + b"\0" * (5 * MB)
    meta = extract_from_blob(storage_connection_string, upload(container, "exif-heavy.jpg", data))
    assert (meta.Width, meta.Height) == (321, 123)
    assert PREFIX_START < meta.BytesRead <= 16 * PREFIX_START  # 64K -> 256K -> 1M, not 5 MB


def test_overwritten_blob_is_rejected_not_misread(
    container: Blobs, storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = upload(container, "changing.png", save(Image.new("RGB", (5, 5)), "PNG"))
    upload(container, "changing.png", save(Image.new("RGB", (6, 6)), "PNG"))
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    out = extract_metadata(old.to_dict())
    assert out == {
        "rejected": True,
        "reason": "blob was overwritten or deleted after the trigger fired",
    }
    container.delete("changing.png")
    assert extract_metadata(old.to_dict())["rejected"] is True


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("zero.jpg", b"", "empty file"),
        ("text.jpg", b"plain text pretending to be a jpeg\n" * 5, "not a JPEG, PNG or GIF"),
        ("truncated.png", save(Image.new("RGB", (64, 48)), "PNG")[:30], "unreadable PNG header"),
        ("png-as.gif", b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "unreadable PNG header"),
        ("bomb.png", png_declaring(50_000, 50_000), "decompression bomb"),
        ("ünï 'quoted' \"name\".jpg", b"GIF89a", "unreadable GIF header"),
    ],
)
def test_hostile_blobs_are_rejected_through_the_activity(
    container: Blobs,
    storage_connection_string: str,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    data: bytes,
    reason: str,
) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    out = extract_metadata(upload(container, name, data).to_dict())
    assert out["rejected"] is True
    assert reason in out["reason"]


def test_size_and_date_in_the_row_are_what_storage_reports(
    container: Blobs, storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards issue 12 item 1: length/lastModified in the input are ignored, not recorded."""
    data = save(Image.new("RGB", (8, 6)), "PNG") + b"\0" * 300_000
    real = upload(container, "sized.png", data)
    props = container.client.get_blob_client(real.name).get_blob_properties()
    forged = {**real.to_dict(), "length": 999_999_999, "lastModified": "1999-01-01T00:00:00Z"}
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    meta = extract_metadata(forged)["metadata"]
    assert meta["FileSizeKB"] == (len(data) + 1023) // 1024
    assert meta["UploadedOn"] == props.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["BlobETag"] == props.etag
