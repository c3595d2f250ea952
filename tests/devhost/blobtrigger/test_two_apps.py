"""Two apps with blob triggers on one Azurite at the same time each get every one of their blobs.

Regression: the host id used to be the machine name alone, so both apps shared
`azure-webjobs-blobtrigger-{hostId}`, each completed the other's messages as "function not
found", and 4 of 6 images were never processed. The real local host id is
`{machine}-{hash of the script root}` (azure-functions-host ScriptHostIdProvider.cs L34-70), and
BlobQueueTriggerExecutor.cs (ExecuteAsync) logs FunctionNotFound before completing a message
for a function it does not have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e
CODE = """import os, azure.functions as func
def main(blob: func.InputStream) -> None:
    with open(os.environ["PROBE_LOG"], "a") as fh:
        fh.write(blob.name + "\\n")
"""


def make_app(root: Path, function: str, container: str, log: Path) -> Path:
    (root / function).mkdir(parents=True)
    binding = {"name": "blob", "type": "blobTrigger", "direction": "in",
               "path": f"{container}/{{name}}", "connection": "AzureWebJobsStorage"}  # fmt: skip
    (root / function / "function.json").write_text(json.dumps({"bindings": [binding]}))
    (root / function / "__init__.py").write_text(CODE)
    bundle = {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    (root / "host.json").write_text(json.dumps({"version": "2.0", "extensionBundle": bundle}))
    (root / "requirements.txt").write_text("azure-functions\nazure-functions-durable<2\n")
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", "PROBE_LOG": str(log)}
    (root / "local.settings.json").write_text(json.dumps({"Values": values}))
    return root


def test_two_apps_on_one_azurite_each_get_all_their_blobs(
    azurite: Azurite, tmp_path: Path, unique_name: str
) -> None:
    names = [f"img-{i}.png" for i in range(6)]
    apps = {}
    for tag in ("alpha", "beta"):
        log = tmp_path / f"{tag}.log"
        log.touch()
        app = make_app(tmp_path / tag, f"{tag.capitalize()}Probe", f"{unique_name}-{tag}", log)
        apps[tag] = (app, log)
    hosts = [
        DevhostProcess(
            app_dir=app,
            storage_connection_string=azurite.connection_string,
            log_path=tmp_path / f"{app.name}-devhost.log",
        )
        for app, _ in apps.values()
    ]
    for h in hosts:
        h.start()
    try:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        for tag in apps:
            container = service.get_container_client(f"{unique_name}-{tag}")
            for n in names:
                container.upload_blob(n, b"x", overwrite=True)
        expected = {tag: sorted(f"{unique_name}-{tag}/{n}" for n in names) for tag in apps}

        def seen() -> dict[str, list[str]]:
            return {tag: sorted(set(log.read_text().split())) for tag, (_, log) in apps.items()}

        wait_until(lambda: seen() == expected, timeout=60, interval=0.5,
                   message=lambda: f"blobs seen so far: {seen()}")  # fmt: skip
    finally:
        for h in hosts:
            h.stop()
    for h in hosts:
        assert "FunctionNotFound" not in Path(h.log_path).read_text()
