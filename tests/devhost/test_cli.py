"""`python -m devhost upload`: the README's upload command against a real Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT


def _upload(app_dir: Path, cs: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "devhost", "upload", "--app-dir", str(app_dir)]
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        env={**os.environ, "AzureWebJobsStorage": cs},
    )


def test_upload_defaults_to_the_apps_blob_trigger_container(
    azurite: Azurite, tmp_path: Path, unique_name: str
) -> None:
    app = tmp_path / "app"
    (app / "Probe").mkdir(parents=True)
    binding = {
        "name": "b",
        "type": "blobTrigger",
        "direction": "in",
        "path": f"{unique_name}/{{n}}",
    }
    (app / "Probe" / "function.json").write_text(json.dumps({"bindings": [binding]}))
    (app / "host.json").write_text(json.dumps({"version": "2.0"}))
    files = tmp_path / "files"
    (files / "sub").mkdir(parents=True)
    (files / "a.png").write_bytes(b"a")
    (files / "sub" / "b.gif").write_bytes(b"bb")

    done = _upload(app, azurite.connection_string, str(files), "--prefix", "p")
    assert done.returncode == 0, done.stderr
    assert "2 file(s) uploaded" in done.stdout
    container = BlobServiceClient.from_connection_string(
        azurite.connection_string
    ).get_container_client(unique_name)
    assert sorted(b.name for b in container.list_blobs()) == ["p/a.png", "p/sub/b.gif"]

    (app / "Other").mkdir()
    (app / "Other" / "function.json").write_text(
        json.dumps({"bindings": [{**binding, "path": "another/{n}"}]})
    )
    ambiguous = _upload(app, azurite.connection_string, str(files))
    assert ambiguous.returncode == 2
    assert "--container" in ambiguous.stderr
