"""`devhost start` refuses a setting the real host refuses in one line with exit 2, before it
loads anything else (issue 19: bad configuration, one line, exit 2, within seconds)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.host import Host, HostOptions

ROOT = Path(__file__).resolve().parents[2]


def test_start_exits_2_with_one_line_on_a_refused_setting(tmp_path: Path) -> None:
    # AzureStorageOrchestrationService's constructor: "The control queue batch size must not
    # exceed 32."
    storage = {"storageProvider": {"controlQueueBatchSize": 64}}
    host_json = {"version": "2.0", "extensions": {"durableTask": storage}}
    (tmp_path / "host.json").write_text(json.dumps(host_json))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AzureFunctionsJobHost")}
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "devhost: The control queue batch size must not exceed 32."


def _app(tmp_path: Path, host_json: dict[str, Any]) -> Path:
    app = tmp_path / "app"
    shutil.copytree(ROOT / "tests" / "apps" / "bindings_app", app)
    shutil.copytree(ROOT / "tests" / "apps" / "durable_app" / "Hello", app / "Hello")
    (app / "host.json").write_text(json.dumps({"version": "2.0", **host_json}))
    values = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    (app / "local.settings.json").write_text(json.dumps({"Values": values}))
    return app


SETTINGS = {
    "functions": ["copyblob", "HTTPWRITE"],
    "logging": {"logLevel": {"Host.Triggers.DurableTask": "Warning"}},
    "healthMonitor": {"enabled": False},
    "extensions": {
        "blobs": {"maxDegreeOfParallelism": 5},
        "http": {"routePrefix": "custom"},
        "durableTask": {
            "hubName": "FeatureHub",
            "maxConcurrentActivityFunctions": 3,
            "maxConcurrentOrchestratorFunctions": 2,
            "storageProvider": {
                "partitionCount": 2,
                "controlQueueBatchSize": 8,
                "maxQueuePollingInterval": "00:00:07",
                "controlQueueVisibilityTimeout": "00:02:00",
                "workItemQueueVisibilityTimeout": "00:03:00",
            },
        },
    },
}


def test_the_host_wires_every_honoured_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        os, "environ", {"AzureFunctionsJobHost__extensions__http__routePrefix": "x"}
    )
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler()])
    monkeypatch.setattr(root, "level", logging.INFO)
    host = Host(HostOptions(app_dir=_app(tmp_path, SETTINGS), concurrency=4))
    try:
        # FunctionMetadataManager.ApplyAllowList: names compared ignoring case.
        assert sorted(host.functions) == ["CopyBlob", "HttpWrite"]
        engine = host.engine
        # DurableTaskOptions -> AzureStorageDurabilityProviderFactory -> the dispatchers.
        assert engine.activities.concurrency == 3
        assert engine.orchestrations.batch == 8
        assert engine.orchestrations.max_concurrent == 2
        assert engine.queues.control_names == ["featurehub-control-00", "featurehub-control-01"]
        # AzureStorageOrchestrationServiceSettings.MaxQueuePollingInterval: the ceiling of the
        # control and work-item queues' BackoffPollingHelper (devhost's BackoffPoller).
        assert engine.poll_interval == 7
        assert (engine.service.control_visibility, engine.service.activity_visibility) == (120, 180)
        # BlobsOptions.MaxDegreeOfParallelism -> the blob trigger's executor.
        assert host.listener is not None and host.listener.options.max_concurrency == 5
        # HttpOptions.RoutePrefix, here from the AzureFunctionsJobHost__ app setting.
        paths = {r.resource.canonical for r in host._public_app().router.routes() if r.resource}
        # One catch-all under the prefix; the route templates match inside it (routetemplates).
        assert "/x/{tail}" in paths and not any(p.startswith("/api/") for p in paths)
        banner = host.banner()
        assert "[POST] /x/write/{id}" in banner
        assert "owns all 2 control partitions" in banner
        assert "Not as in Azure: host.json healthMonitor (enabled): " in banner
        # logging.logLevel: the Durable engine's category is filtered at Warning.
        handler_filters = root.handlers[0].filters
        assert len(handler_filters) == 1
        durable_info = logging.LogRecord("devhost.durable", logging.INFO, "", 0, "m", (), None)
        assert not handler_filters[0].filter(durable_info)  # type: ignore[union-attr]
    finally:
        host.invoker.close()
