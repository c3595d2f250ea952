"""The conformance suite: behaviour pinned to the real extension's sources, against a live
devhost (test app tests/apps/durable_app on its own task hub per test module), through raw HTTP
and the SDK's client. Each test names, in a comment, the source it is pinned to: the extension at
Azure/azure-functions-durable-extension a7c6d694 (v2.13.7, src/WebJobs.Extensions.DurableTask/...)
and DurableTask.Core / DurableTask.AzureStorage v1.17.5 (the version that extension references),
Azure/durabletask tag durabletask.azurestorage-v1.17.5."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from devhost.webhooks.routes import client_binding_json
from tests.waiting import wait_until

APP = Path(__file__).resolve().parent.parent / "apps" / "durable_app"
TERMINAL = {"Completed", "Failed", "Terminated"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Host:
    proc: DevhostProcess
    hub: str
    azurite: Azurite

    @property
    def base_url(self) -> str:
        return self.proc.base_url

    @property
    def rpc_url(self) -> str:
        """The RPC listener: `/durabletask/...` (the SDK's rpcBaseUrl) is served only there."""
        return self.proc.rpc_url

    def origin(self, path: str) -> str:
        return self.rpc_url if path.startswith("/durabletask/") else self.base_url

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        req = urllib.request.Request(
            self.origin(path) + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, dict(e.headers), e.read())

    def post_json(self, path: str, value: Any) -> Reply:
        data = json.dumps(value).encode()
        return self.http("POST", path, data, {"Content-Type": "application/json"})

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are (for requests urllib would not make) and read the reply."""
        port = self.proc.rpc_port  # the raw requests go to /durabletask/...
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def client(self) -> df.DurableOrchestrationClient:
        rpc = f"{self.rpc_url}/durabletask/"
        return df.DurableOrchestrationClient(
            client_binding_json(self.base_url, self.hub, rpc_base_url=rpc)
        )

    def status(self, instance_id: str, query: str = "") -> Reply:
        return self.http("GET", f"/durabletask/instances/{instance_id}{query}")

    def wait(self, instance_id: str, statuses: set[str] = TERMINAL, timeout: float = 60) -> Any:
        """The instance's status body once its runtimeStatus is one of `statuses`."""

        def reached() -> Any:
            body = self.status(instance_id).json()
            return body if body and body["runtimeStatus"] in statuses else None

        return wait_until(
            reached,
            timeout=timeout,
            message=lambda: (
                f"{instance_id} never {'/'.join(sorted(statuses))}: "
                f"{self.status(instance_id).json()}\n{self.proc.log_tail()}"
            ),
        )


@pytest.fixture(scope="module")
def host(
    request: pytest.FixtureRequest,
    azurite: Azurite,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Host]:
    """The test app (the module's `APP`, else tests/apps/durable_app) on a task hub of its own
    (one per module: queries see only its instances)."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    hub = "Conf" + "".join(p.capitalize() for p in module.split("_")[1:])[:40]
    root = tmp_path_factory.mktemp(module)
    app = root / "app"
    source = getattr(request.module, "APP", APP)
    shutil.copytree(source, app, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["durableTask"]["hubName"] = hub
    (app / "host.json").write_text(json.dumps(host_json))
    proc = DevhostProcess(
        app_dir=app, storage_connection_string=azurite.connection_string, log_path=root / "log"
    )
    proc.start()
    yield Host(proc, hub, azurite)
    proc.stop()
