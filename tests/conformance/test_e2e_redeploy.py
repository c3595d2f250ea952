"""NonexistentActivity_OrchestratorFunctionFails (DurableTaskEndToEndTests.cs L2532, extension
a7c6d694), ported: an orchestration waits on an activity, the app is redeployed without that
activity, and the next replay fails the instance as non-deterministic. For a Python
orchestrator that is how Azure gets there too: the replayed call_activity is refused and
swallowed (OutOfProcOrchestrationShim.cs L199-219), so DurableTask.Core finds no action for the
TaskScheduled in history (TaskOrchestrationContext.cs L280-287)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from tests.conformance.conftest import Host
from tests.conformance.e2e import APP, raise_event, start, wait_for

pytestmark = pytest.mark.e2e


def test_a_redeploy_without_the_activity_fails_as_non_deterministic(
    azurite: Azurite, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["durableTask"]["hubName"] = "ConfE2eRedeploy"
    (app / "host.json").write_text(json.dumps(host_json))

    def host_on(app_dir: Path, log: str) -> Host:
        proc = DevhostProcess(
            app_dir=app_dir,
            storage_connection_string=azurite.connection_string,
            log_path=tmp_path / log,
        )
        proc.start()
        return Host(proc, "ConfE2eRedeploy", azurite)

    first = host_on(app, "first.log")
    try:
        # Running means the first checkpoint (with the TaskScheduled) is written; the
        # activity sleeps long enough to be cut short by the redeploy
        iid = start(first, "CallActivityWithDelay", 5)
        wait_for(first, iid, {"Running"})
    finally:
        first.proc.stop()
    shutil.rmtree(app / "TimeDelayActivity")
    second = host_on(app, "second.log")
    try:
        # The .NET test waits for the work item to come back to the new host (TaskNonexistent-
        # ActivityShim fails it); here any event replays the orchestration at once, without
        # waiting out the work item's visibility timeout.
        raise_event(second, iid, "wake", None)
        st = wait_for(second, iid)
        assert st["runtimeStatus"] == "Failed"
        assert "Non-Deterministic workflow detected" in st["output"]
    finally:
        second.proc.stop()
