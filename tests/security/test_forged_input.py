"""Issue 12 item 1: forged orchestration inputs (what anyone with the Durable HTTP API can send).

Before: `POST .../orchestrators/OrchestratorFunction/x` with
`{"container":"private-other","name":"secret-doc.png","etag":<real>,"length":999999999,
"lastModified":"1999-01-01T00:00:00Z"}` gave 202 and a row `secret-doc.png, 976563 KB,
1999-01-01`. These tests pin that a forged start can at worst re-process a real blob version
of the watched container, and that the row then holds only what storage says.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient
from PIL import Image

from imagemeta import db
from imagemeta.activities import extract_metadata, store_metadata
from imagemeta.blobref import INPUT_CONTAINER, BlobRef, blobref_from_trigger
from tests.harness import Pipeline
from tests.images import save
from tests.waiting import wait_until

SECRET = save(Image.new("RGB", (40, 30), (1, 2, 3)), "PNG")
FORGED_DATE = "1999-01-01T00:00:00Z"
FORGED_LENGTH = 999_999_999


def _container(cs: str, name: str) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(cs).get_container_client(name)
    if not client.exists():
        client.create_container()
    return client


def _rows(sql: str) -> list[dict[str, Any]]:
    return db.fetch_rows(sql)


@pytest.fixture
def env(
    storage_connection_string: str, sqlite_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    monkeypatch.setenv("SqlConnectionString", sqlite_connection_string)
    db.migrate(sqlite_connection_string)
    yield sqlite_connection_string


def test_activity_refuses_another_container_even_with_its_real_etag(
    env: str, storage_connection_string: str, unique_name: str
) -> None:
    """Guards: ExtractMetadata never reads outside images-input (the issue's exact probe)."""
    other = _container(storage_connection_string, "private-other")
    etag = other.get_blob_client(f"{unique_name}/secret-doc.png").upload_blob(SECRET)["etag"]
    forged = {
        "container": "private-other",
        "name": f"{unique_name}/secret-doc.png",
        "etag": etag,
        "length": FORGED_LENGTH,
        "lastModified": FORGED_DATE,
    }
    out = extract_metadata(forged)
    assert out["rejected"] is True
    assert "not the watched container 'images-input'" in out["reason"]


@pytest.mark.parametrize(
    "name",
    [
        "../private-other/secret-doc.png",
        "x/../../private-other/secret-doc.png",
        "./secret-doc.png",
        "..\\private-other\\secret-doc.png",
    ],
)
def test_activity_refuses_names_that_climb_out_of_the_container(
    env: str, storage_connection_string: str, name: str
) -> None:
    """Guards: "." / ".." segments (which URL normalisation may collapse) and backslashes
    never reach a read, so a name cannot be made to address a blob in another container."""
    other = _container(storage_connection_string, "private-other")
    etag = other.get_blob_client("secret-doc.png").upload_blob(SECRET, overwrite=True)["etag"]
    out = extract_metadata({"container": INPUT_CONTAINER, "name": name, "etag": etag})
    assert out["rejected"] is True
    assert out["reason"].startswith("invalid blob reference: name ")


def test_forged_length_and_date_never_reach_the_row(
    env: str, storage_connection_string: str, unique_name: str
) -> None:
    """Guards: a forged start on a real images-input blob re-processes that version; the row
    holds storage's size and Last-Modified, not the input's."""
    blob = _container(storage_connection_string, INPUT_CONTAINER).get_blob_client(
        f"{unique_name}/real.png"
    )
    blob.upload_blob(SECRET)
    props = blob.get_blob_properties()
    forged = BlobRef(INPUT_CONTAINER, blob.blob_name, "", FORGED_LENGTH, props.etag).to_dict()
    forged["lastModified"] = FORGED_DATE
    out = extract_metadata(forged)
    assert out["rejected"] is False
    assert store_metadata(out["metadata"]) == "stored"
    (row,) = _rows(env)
    assert row["FileSizeKB"] == (len(SECRET) + 1023) // 1024
    assert row["UploadedOn"].strftime("%Y-%m-%dT%H:%M:%S") == props.last_modified.strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    assert row["BlobETag"] == props.etag


def test_forged_etag_for_a_version_that_does_not_exist_is_rejected(
    env: str, storage_connection_string: str, unique_name: str
) -> None:
    """Guards: If-Match on the ETag: a made-up version cannot be invented into a row."""
    blob = _container(storage_connection_string, INPUT_CONTAINER).get_blob_client(
        f"{unique_name}/real.png"
    )
    blob.upload_blob(SECRET)
    out = extract_metadata(
        {"container": INPUT_CONTAINER, "name": blob.blob_name, "etag": '"0x8DEADBEEF"'}
    )
    assert out == {
        "rejected": True,
        "reason": "blob was overwritten or deleted after the trigger fired",
    }
    assert _rows(env) == []


# --- through the pipeline: devhost's Durable HTTP API, Azurite, SQLite over ODBC -------------


@pytest.fixture(scope="module")
def pipeline(pipeline_factory: Callable[..., Pipeline]) -> Pipeline:
    return pipeline_factory()


def _start(pipeline: Pipeline, instance_id: str, body: object) -> int:
    url = (
        f"{pipeline.devhost.base_url}/runtime/webhooks/durabletask/orchestrators/"
        f"OrchestratorFunction/{instance_id}"
    )
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def _wait(pipeline: Pipeline, instance_id: str, timeout: float = 60) -> dict[str, Any]:
    def terminal() -> dict[str, Any] | None:
        status = pipeline.devhost.get_json(f"/durabletask/instances/{instance_id}")
        ended = status and status.get("runtimeStatus") in {"Completed", "Failed", "Terminated"}
        return status if ended else None

    return wait_until(
        terminal,
        timeout=timeout,
        interval=0.3,
        message=lambda: f"{instance_id} not terminal: {pipeline.devhost.log_tail()}",
    )


@pytest.mark.e2e
def test_issue_probe_through_the_http_api_makes_no_row(pipeline: Pipeline) -> None:
    """Guards the issue's probe end to end: 202, then a completed "rejected" instance, no row."""
    other = _container(pipeline.azurite.connection_string, "private-other")
    etag = other.get_blob_client("secret-doc.png").upload_blob(SECRET, overwrite=True)["etag"]
    forged = {
        "container": "private-other",
        "name": "secret-doc.png",
        "etag": etag,
        "length": FORGED_LENGTH,
        "lastModified": FORGED_DATE,
    }
    assert _start(pipeline, "x", forged) == 202
    status = _wait(pipeline, "x")
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "rejected"
    assert "not the watched container" in status["output"]["reason"]
    for garbage in ("12345", [1, 2], {"name": 5}):
        iid = f"garbage-{type(garbage).__name__}"
        assert _start(pipeline, iid, garbage) == 202
        out = _wait(pipeline, iid)
        assert (out["runtimeStatus"], out["output"]["status"]) == ("Completed", "rejected")
    assert [r for r in pipeline.rows() if "secret-doc" in r["FileName"]] == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("iid", "body"),
    [
        ("undecodable-x", "x"),  # a JSON string: the host stores its value, x, as the input text
        ("undecodable-module", {"__class__": "X", "__module__": "no.such.module", "__data__": 1}),
        ("undecodable-class", {"__class__": "JSONDecoder", "__module__": "json", "__data__": {}}),
    ],
)
def test_undecodable_start_completes_as_rejected_not_failed(
    pipeline: Pipeline, iid: str, body: object
) -> None:
    """Guards issue 20 item 9 through devhost's Durable HTTP API: a start body the SDK's
    decoder raises on ended Failed (and was offered to restart-failed); now it completes as
    "rejected" with the decoder's error, and no activity runs."""
    assert _start(pipeline, iid, body) == 202
    status = _wait(pipeline, iid)
    assert status["runtimeStatus"] == "Completed", pipeline.devhost.log_tail()
    assert status["output"]["status"] == "rejected"
    assert "not decodable" in status["output"]["reason"]
    history = pipeline.devhost.get_json(f"/durabletask/instances/{iid}?showHistory=true")
    events = [e.get("EventType") for e in history.get("historyEvents") or []]
    assert events and not {"TaskScheduled", "TaskCompleted", "TaskFailed"} & set(events)


def _post_admin(pipeline: Pipeline, function: str, payload: object) -> int:
    req = urllib.request.Request(
        f"{pipeline.devhost.base_url}/admin/functions/{function}",
        data=json.dumps({"input": payload}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


@pytest.mark.e2e
def test_forged_store_metadata_through_the_admin_api_writes_no_row(pipeline: Pipeline) -> None:
    """Guards issue 20 item 3 end to end: the issue's forged `POST /admin/functions/
    StoreMetadata` (size -5, width 99999999, a 40-character format, an escape sequence in
    ColorMode) wrote that row. Now the invocation fails with the field and the bound, the
    escape sequence reaches the log escaped, and there is no row."""
    forged = {
        "FileName": "forged/admin.jpg",
        "FileSizeKB": -5,
        "Width": 99999999,
        "Height": 10,
        "Format": "F" * 40,
        "ColorMode": "RGB\x1b[31m",
        "BlobETag": '"0xF0RGED"',
    }
    only_mode = {**forged, "FileSizeKB": 5, "Width": 10, "Format": "JPEG"}
    log = pipeline.devhost.log_path
    assert log is not None

    def failures() -> list[str]:
        lines = log.read_text(errors="replace").splitlines()
        return [ln for ln in lines if "Manual invocation of StoreMetadata failed" in ln]

    for payload in (forged, only_mode):
        before = len(failures())
        assert _post_admin(pipeline, "StoreMetadata", payload) == 202
        wait_until(
            lambda n=before: len(failures()) > n,
            timeout=60,
            message=lambda: f"no StoreMetadata failure logged:\n{pipeline.devhost.log_tail()}",
        )
    first, second = failures()[-2:]
    assert "not ExtractMetadata output: FileSizeKB is -5; it must be 1-2147483647" in first
    assert "ColorMode 'RGB\\x1b[31m' is not a Pillow header mode" in second
    assert "\x1b" not in log.read_text(errors="replace")
    assert [r for r in pipeline.rows() if r["FileName"] == "forged/admin.jpg"] == []


@pytest.mark.e2e
def test_forged_start_on_a_real_blob_records_storage_facts(pipeline: Pipeline) -> None:
    """Guards: at worst a real version is re-processed; its one row says what storage says."""
    etag = pipeline.upload("real/photo.png", SECRET)
    pipeline.wait_terminal({("real/photo.png", etag)})
    props = pipeline.container.get_blob_client("real/photo.png").get_blob_properties()
    forged = {
        "container": INPUT_CONTAINER,
        "name": "real/photo.png",
        "etag": etag,
        "length": FORGED_LENGTH,
        "lastModified": FORGED_DATE,
    }
    assert _start(pipeline, "forged-real", forged) == 202
    status = _wait(pipeline, "forged-real")
    assert status["output"]["status"] == "duplicate"  # same blob version: no second row
    rows = [r for r in pipeline.rows() if r["FileName"] == "real/photo.png"]
    assert len(rows) == 1
    assert rows[0]["FileSizeKB"] == (len(SECRET) + 1023) // 1024
    assert rows[0]["UploadedOn"].year == props.last_modified.year != 1999
    assert status["output"]["metadata"]["FileSizeKB"] == rows[0]["FileSizeKB"]


@pytest.mark.parametrize(
    "name",
    [
        "写" * 1019 + ".jpg",  # the longest legal name, 3 UTF-8 bytes per character
        "a/" * 200 + "deep.png",
        "'; DROP TABLE ImageMetadata;--.png",
        "100% real #1 ?.gif",
    ],
)
def test_validation_accepts_whatever_the_trigger_builds_for_a_legal_blob(name: str) -> None:
    """Guards the other side of item 1: the checks never reject a reference the blob trigger
    made for a legal blob (long unicode names, uploader-set content types)."""
    uri = f"https://acct.blob.core.windows.net/{INPUT_CONTAINER}/{urllib.parse.quote(name)}"
    props = {"ETag": "0x8DEC0FFEE", "ContentType": "image/" + "x" * 400, "LastModified": "x"}
    ref = blobref_from_trigger(f"{INPUT_CONTAINER}/{name}", uri, 123, props)
    assert BlobRef.from_dict(ref.to_dict()) == ref
