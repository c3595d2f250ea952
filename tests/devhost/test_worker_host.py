"""The host wires the worker's settings: the process count onto activity worker processes,
the thread pool, functionTimeout, and says at start what differs from Azure. (A host kind: the
storage SDK's clients run `uname` when they are built.)"""

from __future__ import annotations

import pytest

from devhost.host import Host, HostOptions
from devhost.timeouts import FunctionTimeouts
from tests.devhost.workerapp import APP, worker_app


def test_the_host_sizes_its_worker_from_the_app_settings_and_says_what_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The settings reach the host as environment variables (local.settings.json Values), as
    # the worker and the host read them (get_app_setting, GetWorkerProcessCount).
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "3")
    monkeypatch.setenv("PYTHON_THREADPOOL_THREAD_COUNT", "5")
    with worker_app():
        host = Host(HostOptions(app_dir=APP))
        explicit = Host(HostOptions(app_dir=APP, workers=0))
    assert (host.workers, explicit.workers) == (2, 0)
    assert host.invoker.pool._max_workers == 5
    assert host.invoker.timeouts == FunctionTimeouts(5, 5, "00:00:05")  # worker_app's host.json
    banner = host.banner().splitlines()
    assert "Not as in Azure: activities run in 2 extra devhost process(es) " \
           "(FUNCTIONS_WORKER_PROCESS_COUNT=3); orchestrators and blob/HTTP triggers stay in " \
           "the host's process, where Azure spreads every invocation over 3 worker " \
           "process(es)" in banner  # fmt: skip
    assert "--workers wins" in explicit.banner()
    for h in (host, explicit):
        h.invoker.close()
