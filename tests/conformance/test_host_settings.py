"""host.json settings end to end: a live devhost on the test app with Durable and HTTP settings
set, one of them through an `AzureFunctionsJobHost__` app setting (issue 19 item 8).

- storageProvider.partitionCount: that many control queues (AzureStorageOrchestrationService.cs
  L123) and instances still complete through them;
- extensions.http.routePrefix (HttpOptions.RoutePrefix), set as the app setting
  AzureFunctionsJobHost__extensions__http__routePrefix (HostJsonFileConfigurationSource.cs
  loads host.json under AzureFunctionsJobHost; the environment source overrides it);
- a set key devhost does not honour gets its one line at start, an unset one none.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueServiceClient

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from tests.conformance.conftest import APP
from tests.waiting import wait_until

HUB = "ConfHostSettings"
HOST_JSON = {
    "version": "2.0",
    "healthMonitor": {"enabled": False},
    "extensionBundle": {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    },
    "extensions": {
        "http": {"routePrefix": "api"},
        "durableTask": {
            "hubName": HUB,
            "maxConcurrentOrchestratorFunctions": 1,
            "maxConcurrentActivityFunctions": 2,
            "storageProvider": {"partitionCount": 2, "controlQueueBatchSize": 4},
        },
    },
}


@pytest.fixture(scope="module")
def proc(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevhostProcess]:
    root = tmp_path_factory.mktemp("host_settings")
    app = root / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "host.json").write_text(json.dumps(HOST_JSON))
    found = DevhostProcess(
        app_dir=app,
        storage_connection_string=azurite.connection_string,
        log_path=root / "log",
        env={"AzureFunctionsJobHost__extensions__http__routePrefix": "custom"},
    )
    found.start()
    yield found
    found.stop()


def post(url: str, value: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, json.dumps(value).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def test_instances_complete_through_the_configured_partitions_and_route_prefix(
    proc: DevhostProcess, azurite: Azurite
) -> None:
    assert post(f"{proc.base_url}/api/orchestrators/Chain", ["Oslo"])[0] == 404
    ids = []
    for city in ("Oslo", "Lima", "Pune", "Kyiv"):
        status, body = post(f"{proc.base_url}/custom/orchestrators/Chain", [city])
        assert status == 202, body
        ids.append(body["id"])

    def done() -> bool:
        rows = [proc.get_json(f"/runtime/webhooks/durabletask/instances/{i}") for i in ids]
        return all(r["runtimeStatus"] == "Completed" for r in rows)

    wait_until(done, timeout=120, message=proc.log_tail)
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    names = sorted(q.name for q in queues.list_queues(name_starts_with=HUB.lower()))
    assert names == [f"{HUB.lower()}-control-00", f"{HUB.lower()}-control-01",
                     f"{HUB.lower()}-workitems"]  # fmt: skip


def test_start_names_each_set_key_devhost_does_not_honour_once(proc: DevhostProcess) -> None:
    log = Path(str(proc.log_path)).read_text(errors="replace")
    assert "owns all 2 control partitions" in log
    lines = [line for line in log.splitlines() if "host.json healthMonitor" in line]
    assert len(lines) == 1 and lines[0].startswith("Not as in Azure: host.json healthMonitor")
    assert "applicationInsights" not in log  # announced when set; not set here: nothing said
