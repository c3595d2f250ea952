"""`python -m devhost upload` as the README runs it, in a subprocess against a real Azurite.

It used to upload one file and crash: ContainerClient.upload_blob returns a BlobClient, not
the response headers (found by mypy --strict, now in `make lint`). Then it re-uploaded every
sample on each run (a new blob version, so a new row, for files nobody changed), sent
samples/README.md to the trigger too, and counted files as bytes in its progress bar."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT
from imagemeta.blobref import SUPPORTED_EXTENSIONS

SAMPLES = REPO_ROOT / "samples"


def upload(cs: str, *args: str) -> subprocess.CompletedProcess[str]:
    """From the repository root, so the app's local.settings.json applies, as in the README;
    the account key through the environment (devhost refuses it on argv)."""
    return subprocess.run(
        [sys.executable, "-m", "devhost", "upload", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "AzureWebJobsStorage": cs},
    )  # fmt: skip


def sample_files() -> list[str]:
    return sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file())


def test_upload_skips_other_extensions_and_unchanged_files(
    azurite: Azurite, unique_name: str
) -> None:
    cs = azurite.connection_string
    every = sample_files()
    images = [n for n in every if n.lower().endswith(SUPPORTED_EXTENSIONS)]
    others = sorted(set(every) - set(images))
    assert images and others == ["README.md", "notes.txt"]

    first = upload(cs, str(SAMPLES), "--container", unique_name, "--prefix", "run1")
    assert first.returncode == 0, first.stderr
    assert f"skipped {len(others)} file(s) not ending in .jpg,.jpeg,.png,.gif" in first.stdout
    assert "--all uploads them" in first.stdout
    assert sorted(re.findall(r"uploaded \S+?/run1/(\S+) \(", first.stdout)) == images
    assert f"{len(images)}/{len(images)} files" in first.stdout  # the bar counts files...
    assert "kB" in first.stdout  # ...and bytes, not "8/8 bytes"
    assert f"{len(images)} file(s) uploaded" in first.stdout
    container = BlobServiceClient.from_connection_string(cs).get_container_client(unique_name)
    blobs = {b.name: b for b in container.list_blobs()}
    assert sorted(blobs) == [f"run1/{n}" for n in images]
    for n in images:
        assert blobs[f"run1/{n}"].size == (SAMPLES / n).stat().st_size

    again = upload(cs, str(SAMPLES), "--container", unique_name, "--prefix", "run1")
    assert again.returncode == 0, again.stderr
    assert "0 file(s) uploaded" in again.stdout
    assert f"{len(images)} unchanged (same Content-MD5 as the blob" in again.stdout
    after = {b.name: b.etag for b in container.list_blobs()}
    assert after == {name: b.etag for name, b in blobs.items()}  # no new versions

    forced = upload(cs, str(SAMPLES), "--container", unique_name, "--prefix", "run1",
                    "--force", "--all")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert f"{len(every)} file(s) uploaded" in forced.stdout
    assert "skipped" not in forced.stdout
    newest = {b.name: b.etag for b in container.list_blobs()}
    assert sorted(newest) == [f"run1/{n}" for n in every]
    assert all(newest[name] != etag for name, etag in after.items())


def test_the_apps_upload_extensions_are_the_ones_it_processes() -> None:
    """local.settings.json tells devhost which files the app takes; imagemeta decides it."""
    values = json.loads((REPO_ROOT / "local.settings.json").read_text())["Values"]
    assert tuple(values["DEVHOST_UPLOAD_EXTENSIONS"].split(",")) == SUPPORTED_EXTENSIONS


def test_help_lists_no_hidden_command() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "devhost", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "SUPPRESS" not in shown and "worker" not in shown
    assert "{start,status,upload,restart-failed,monitor}" in shown


def test_a_changed_file_is_uploaded_again(
    azurite: Azurite, unique_name: str, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(b"one")
    cs = azurite.connection_string
    assert upload(cs, str(tmp_path), "--container", unique_name).returncode == 0
    (tmp_path / "a.png").write_bytes(b"two")
    changed = upload(cs, str(tmp_path), "--container", unique_name)
    assert changed.returncode == 0, changed.stderr
    assert "1 file(s) uploaded" in changed.stdout and "unchanged" not in changed.stdout
