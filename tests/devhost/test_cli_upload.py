"""`python -m devhost upload` as the README runs it, in a subprocess against a real Azurite.

It used to upload one file and crash: ContainerClient.upload_blob returns a BlobClient, not
the response headers (found by mypy --strict, now in `make lint`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT


def test_upload_a_folder_uploads_every_file_and_prints_each_etag(
    azurite: Azurite, unique_name: str
) -> None:
    samples = REPO_ROOT / "samples"
    expected = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*") if p.is_file())
    assert len(expected) >= 2
    proc = subprocess.run(
        [
            sys.executable, "-m", "devhost", "upload", str(samples),
            "--container", unique_name, "--prefix", "run1",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "AzureWebJobsStorage": azurite.connection_string},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ETag") == len(expected)
    assert f"{len(expected)} file(s) uploaded" in proc.stdout
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    names = sorted(b.name for b in service.get_container_client(unique_name).list_blobs())
    assert names == [f"run1/{n}" for n in expected]
    sizes = {b.name: b.size for b in service.get_container_client(unique_name).list_blobs()}
    for n in expected:
        assert sizes[f"run1/{n}"] == Path(samples / n).stat().st_size
