"""The Python worker's invocation contract and the host's functionTimeout against a live devhost
(tests/apps/worker_app, host.json functionTimeout 00:00:05). Unit tests of the same rules, with
the timer injected, are in tests/devhost/test_worker_contract.py; these pin the outcome an app
sees end to end, never the time it took."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from devhost.process import DevhostProcess
from tests.conformance.conftest import Host
from tests.conformance.e2e import start, wait_for
from tests.waiting import wait_until

APP = Path(__file__).resolve().parent.parent / "apps" / "worker_app"


def full_log(host: Host) -> str:
    assert host.proc.log_path is not None
    return host.proc.log_path.read_text(errors="replace")


def history(host: Host, iid: str) -> list[dict[str, object]]:
    body = host.status(iid, "?showHistory=true").json()
    return list(body["historyEvents"])


def test_a_datetime_returned_by_an_activity_is_one_task_failed(host: Host) -> None:
    # azure-functions-python-worker dispatcher.py L701-707 (the return value encoded inside the
    # invocation) + azure.functions ActivityTriggerConverter.encode; the extension's
    # TaskActivityShim.cs L100-124 makes the failure one TaskFailed the orchestrator catches.
    iid = start(host, "Catcher", "Stamp")
    body = wait_for(host, iid)
    reason = (
        "Activity function 'Stamp' failed: ValueError: activity trigger output must be json "
        "serializable (2026-12-02 04:00:00+00:00)"
    )
    assert body["runtimeStatus"] == "Completed"
    assert body["output"].startswith(f"caught: {reason}")
    # (the status API folds each TaskScheduled into its completion event)
    kinds = [e["EventType"] for e in history(host, iid)]
    assert (kinds.count("TaskFailed"), kinds.count("TaskCompleted")) == (1, 0)
    assert full_log(host).count("Executed 'Functions.Stamp' (Failed") == 1


def test_an_activity_past_function_timeout_fails_with_the_host_s_message(
    host: Host, tmp_path: Path
) -> None:
    # azure-functions-host ScriptJobHostOptionsSetup.cs (functionTimeout from host.json),
    # azure-webjobs-sdk FunctionExecutor.cs L662 (the message), the extension's
    # FunctionExecutionHelper.cs L119-121 + TaskActivityShim.cs L100-124 (TaskFailed),
    # WebScriptHostExceptionHandler.cs L50-54 (the worker restart devhost says it cannot do).
    release = tmp_path / "release"
    # WaitFile blocks until `release` exists: the test creates it once the outcome is known,
    # so the thread devhost cannot stop ends before the host does.
    iid = start(host, "Catcher", ["WaitFile", str(release)])
    body = wait_for(host, iid)
    release.touch()
    assert body["runtimeStatus"] == "Completed"
    assert body["output"].startswith(
        "caught: Activity function 'WaitFile' failed: Timeout value of 00:00:05 was exceeded "
        "by function: Functions.WaitFile"
    )

    def restarted() -> str | None:
        text = full_log(host)
        return text if "Restarting worker process" in text else None

    log = wait_until(restarted, timeout=30, message="no restart line")
    assert re.search(r"Timeout value of 00:00:05 exceeded by function 'Functions.WaitFile'", log)


@pytest.fixture(scope="module")
def two_processes(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """worker_app on its own hub with FUNCTIONS_WORKER_PROCESS_COUNT=2 in its settings."""
    root = tmp_path_factory.mktemp("worker_processes")
    app = root / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["durableTask"]["hubName"] = "ConfWorkerProcesses"
    (app / "host.json").write_text(json.dumps(host_json))
    values = {"FUNCTIONS_WORKER_RUNTIME": "python", "FUNCTIONS_WORKER_PROCESS_COUNT": "2"}
    (app / "local.settings.json").write_text(json.dumps({"Values": values}))
    proc = DevhostProcess(
        app_dir=app, storage_connection_string=azurite.connection_string, log_path=root / "log"
    )
    proc.start()
    yield Host(proc, "ConfWorkerProcesses", azurite)
    proc.stop()


def test_the_worker_process_count_runs_activities_in_another_process(two_processes: Host) -> None:
    # azure-functions-host RpcWorkerConfigFactory.GetWorkerProcessCount (L237-272): the setting
    # starts that many workers; devhost maps N onto N-1 activity processes and says so.
    host = two_processes
    iid = start(host, "Catcher", ["Pid", None])
    body = wait_for(host, iid)
    assert body["runtimeStatus"] == "Completed"
    pid = int(body["output"].removeprefix("returned: "))
    assert host.proc.process is not None and pid != host.proc.process.pid
    assert (
        "Not as in Azure: activities run in 1 extra devhost process(es) "
        "(FUNCTIONS_WORKER_PROCESS_COUNT=2)" in full_log(host)
    )


def test_stopping_does_not_wait_for_a_sync_function_still_running(
    azurite: Azurite, tmp_path: Path
) -> None:
    # azure-functions-host: on shutdown the host stops its language worker process
    # (RpcWorkerProcess / WorkerProcess.Dispose kills it), ending the invocations still running
    # there; the Durable work item's message comes back when its visibility ends. Python would
    # join the thread at exit instead (devhost/invoker.py still_running, devhost/cli.py).
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__"))
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["durableTask"]["hubName"] = "ConfWorkerStop"
    host_json["functionTimeout"] = "00:10:00"  # the invocation is still running at the stop
    (app / "host.json").write_text(json.dumps(host_json))
    proc = DevhostProcess(
        app_dir=app,
        storage_connection_string=azurite.connection_string,
        log_path=tmp_path / "log",
        extra_args=["--verbose"],  # the invoker's "Executing" line
    )
    proc.start()
    try:
        host = Host(proc, "ConfWorkerStop", azurite)
        start(host, "Catcher", ["WaitFile", str(tmp_path / "never")])  # blocks for 60 s
        wait_until(
            lambda: "Executing 'Functions.WaitFile'" in full_log(host),
            timeout=60,
            message="WaitFile never started",
        )
        proc.stop(timeout=50)  # a hang guard: WaitFile alone would hold the exit for 60 s
        assert proc.process is not None and proc.process.returncode == 0
        assert "stopped with 1 function invocation(s) still running" in full_log(host)
    finally:
        proc.kill()
