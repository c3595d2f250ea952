"""The Durable team's Python smoke test, run against devhost.

Azure/azure-functions-durable-extension runs `test/SmokeTests/e2e-test.ps1 -HttpStartPath
api/DurableFunctionsHttpStart` on the app `test/SmokeTests/OOProcSmokeTests/durablePy`
(.github/workflows/smoketest-python37-v4.yml). tests/apps/smoke_app is an equivalent app: the
same functions, bindings and host.json (no extension bundle: the Dockerfile builds the extension
into bin/ with `dotnet build -o bin`, so the app ships the bin/extensions.json that build writes).
This test takes the script's steps with the app left as it is: `POST /admin/host/ping` (any
HTTP error fails the script), `POST` to the starter, then `GET` the returned statusQueryGetUri
until runtimeStatus is Completed (the script polls 15 times a second apart; here the one wait
helper polls, and no wall-clock window is asserted).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.process import REPO_ROOT, DevhostProcess
from tests.waiting import wait_until

APP = REPO_ROOT / "tests" / "apps" / "smoke_app"


@pytest.fixture(scope="module")
def smoke_host(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevhostProcess]:
    log = tmp_path_factory.mktemp("smoke") / "devhost.log"
    proc = DevhostProcess(
        app_dir=APP, storage_connection_string=azurite.connection_string, log_path=log
    )
    proc.start()
    yield proc
    proc.stop()


def invoke_rest_method(method: str, url: str) -> tuple[int, Any]:
    """PowerShell's Invoke-RestMethod as the script uses it: no body, a 4xx/5xx raises."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read()
        return resp.status, json.loads(body) if body else None


def test_the_smoke_scripts_steps_pass(smoke_host: DevhostProcess) -> None:
    base = smoke_host.base_url
    status, _ = invoke_rest_method("POST", f"{base}/admin/host/ping")
    assert status == 200

    status, started = invoke_rest_method("POST", f"{base}/api/DurableFunctionsHttpStart")
    assert status == 202
    status_url = started["statusQueryGetUri"]
    assert status_url.startswith(f"{base}/runtime/webhooks/durabletask/instances/{started['id']}")

    seen: list[str] = []

    def completed() -> Any:
        _, body = invoke_rest_method("GET", status_url)
        seen.append(body["runtimeStatus"])
        assert body["runtimeStatus"] not in ("Failed", "Terminated"), body
        return body if body["runtimeStatus"] == "Completed" else None

    result = wait_until(
        completed,
        timeout=120,
        interval=1.0,
        message=lambda: f"statuses seen: {seen}\n{smoke_host.log_tail()}",
    )
    assert result["output"] == [
        "Hello Tokyo!",
        "Hello Seattle!",
        "Hello London!",
        "123",
        "Tokyo Seattle Cairo ",
        "Printing object: City(name= Paris, country= France)",
    ]
