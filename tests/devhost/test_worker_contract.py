"""The Python worker's invocation contract, run through devhost's real invoker and runner over
tests/apps/worker_app (no storage). Sources, each named again where a test ports it:
azure-functions-python-worker 7e6acf36 `azure_functions_worker/dispatcher.py`, `functions.py`,
`bindings/meta.py`, `bindings/context.py`; azure-functions-host 89dc438d
`ScriptJobHostOptionsSetup.cs`, `RpcWorkerConfigFactory.cs`, `WebScriptHostExceptionHandler.cs`;
azure-webjobs-sdk f79ea0bf `FunctionExecutor.cs`; azure-functions-durable-extension a7c6d694
`TaskActivityShim.cs`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any, cast

import pytest
from azure.functions import meta

from devhost.config import ConfigError
from devhost.contracts import BlobTriggerEvent, BlobTriggerTarget, FunctionInvocationError
from devhost.durabletask.core.activity_dispatcher import ActivityDispatcher
from devhost.durabletask.memory import MemoryTaskHub
from devhost.durabletask.model.history import EventType
from devhost.durabletask.model.messages import ActivityRequest
from devhost.invocation_context import INVOCATION_ID_LOCAL
from devhost.invoker import Invoker
from devhost.loader import FunctionSpec
from devhost.runner import HostRunner
from devhost.timeouts import FunctionTimeouts, function_timeouts
from devhost.timespan import format_timespan
from devhost.worker_settings import (
    process_count_note,
    threadpool_max_workers,
    worker_process_count,
)
from tests.devhost.durable.replaykit import FixedClock, id_factory
from tests.devhost.workerapp import APP, ManualTimers, module, worker_app
from tests.waiting import wait_until

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def functions() -> Iterator[dict[str, FunctionSpec]]:
    with worker_app() as loaded:
        yield loaded


def make_runner(functions: dict[str, FunctionSpec], **invoker: Any) -> HostRunner:
    return HostRunner(functions, Invoker(functions, **invoker), "{}")


def blob_event(content: bytes) -> BlobTriggerEvent:
    target = BlobTriggerTarget("Blobby", "Host.Functions.Blobby", "", "devstoreaccount1",
                               "wc-in", "{name}")  # fmt: skip
    return BlobTriggerEvent(target, "a.txt", "http://127.0.0.1/wc-in/a.txt", '"0x1"', content,
                            {"Length": len(content)}, {}, {"name": "a.txt"})  # fmt: skip


# --- return values ---------------------------------------------------------------------------
def test_a_value_returned_without_a_return_binding_fails_the_invocation(
    functions: dict[str, FunctionSpec],
) -> None:
    # dispatcher.py L676-679: `call_result is not None and not fi.has_return` raises
    # RuntimeError, whose text has no space before "returned"; the worker reports it as
    # "{type}: {message}" (_serialize_exception L271-283). None passes.
    runner = make_runner(functions)
    asyncio.run(runner.handle_blob(blob_event(b"none")))
    with pytest.raises(FunctionInvocationError) as caught:
        asyncio.run(runner.handle_blob(blob_event(b"data")))
    assert (caught.value.exc_type, caught.value.message) == (
        "RuntimeError",
        "function 'Blobby' without a $return bindingreturned a non-None value",
    )


def test_durable_triggers_return_through_their_implicit_output(
    functions: dict[str, FunctionSpec],
) -> None:
    # functions.py L65-79 + meta.py has_implicit_output (L139-150): orchestrationTrigger and
    # activityTrigger return without a $return binding; a blob trigger does not.
    invoker = Invoker(functions)
    assert invoker.has_return(functions["Ctx"]) and invoker.has_return(functions["Catcher"])
    assert not invoker.has_return(functions["Blobby"])


def test_an_activity_result_json_cannot_encode_is_one_task_failed_the_orchestrator_catches(
    functions: dict[str, FunctionSpec],
) -> None:
    # dispatcher.py L701-707 encodes the return value inside the invocation's try, so
    # azure.functions' ActivityTriggerConverter.encode ValueError fails that invocation; the
    # extension turns the failure into TaskFailed "Activity function '{name}' failed: {message}"
    # (TaskActivityShim.cs L100-124). Before: the error escaped as a storage fault and the work
    # item came back forever.
    hub = MemoryTaskHub(make_runner(functions), clock=FixedClock(), new_id=id_factory())
    asyncio.run(hub.client.start_new("Catcher", "c", json.dumps("Stamp")))
    asyncio.run(hub.run_until_idle())
    inst = asyncio.run(hub.client.read("c", history=True))
    assert inst is not None and inst.output is not None
    reason = (
        "Activity function 'Stamp' failed: ValueError: activity trigger output must be json "
        "serializable (2026-12-02 04:00:00+00:00)"
    )
    assert inst.status == "Completed"
    assert json.loads(inst.output).startswith(f"caught: {reason}")
    [failed] = [e for e in inst.history if e["EventType"] == EventType.TaskFailed]
    assert failed["Reason"] == reason
    assert module("Stamp").RUNS == ["x"]


def test_an_orchestrator_output_json_cannot_encode_fails_the_orchestration_once(
    functions: dict[str, FunctionSpec],
) -> None:
    # The SDK checks the output itself (azure-functions-durable-python
    # TaskOrchestrationExecutor.get_orchestrator_state_str: json.dumps(output) fails -> the
    # exception, with the state, is raised from the function), so the worker reports one failed
    # invocation and the extension fails the instance with "Orchestrator function '{name}'
    # failed: {message}" (OutOfProcOrchestrationShim.cs L85-91).
    hub = MemoryTaskHub(make_runner(functions), clock=FixedClock(), new_id=id_factory())
    asyncio.run(hub.client.start_new("Clock", "k", None))
    asyncio.run(hub.run_until_idle())
    inst = asyncio.run(hub.client.read("k", history=True))
    assert inst is not None and inst.output is not None
    assert (inst.status, json.loads(inst.output)) == (
        "Failed",
        "Orchestrator function 'Clock' failed: Object of type datetime is not JSON serializable",
    )


def http_data(kind: str) -> dict[str, meta.Datum]:
    """The http trigger datum as devhost.http_triggers builds it."""
    value = {
        "method": meta.Datum(type="string", value="GET"),
        "url": meta.Datum(type="string", value=f"http://127.0.0.1/api/Echo?kind={kind}"),
        "headers": {},
        "query": {"kind": meta.Datum(type="string", value=kind)},
        "params": {},
        "body": meta.Datum(type="bytes", value=b""),
    }
    return {"req": meta.Datum(type="http", value=value)}


@pytest.mark.parametrize(("kind", "python_type"), [("dict", "dict"), ("none", "NoneType")])
def test_a_return_value_its_binding_cannot_encode_fails_the_invocation(
    functions: dict[str, FunctionSpec], kind: str, python_type: str
) -> None:
    # dispatcher.py L701-707 + bindings/meta.py get_datum (L200-214): the http converter
    # (azure.functions HttpResponseConverter.encode) takes a str or an HttpResponse; anything
    # else, None included, is the worker's TypeError (the host answers 500; users meet it as
    # https://github.com/Azure/azure-functions-python-worker/issues/683).
    invoker = Invoker(functions)
    with pytest.raises(FunctionInvocationError) as caught:
        asyncio.run(invoker.invoke("Echo", http_data(kind)))
    assert (caught.value.exc_type, caught.value.message) == (
        "TypeError",
        "unable to encode outgoing TypedData: unsupported type "
        f"\"<class 'azure.functions.http.HttpResponseConverter'>\" for Python type "
        f'"{python_type}"',
    )


def test_a_response_the_http_binding_encodes_is_returned_unchanged(
    functions: dict[str, FunctionSpec],
) -> None:
    invoker = Invoker(functions)
    plain = asyncio.run(invoker.invoke("Echo", http_data("str")))
    response = asyncio.run(invoker.invoke("Echo", http_data("response"))).value
    assert plain.value == "plain"
    assert response.headers.get("Set-Cookie") == "a=1"  # the encoding worked on a copy


def test_an_out_value_its_binding_cannot_encode_fails_the_invocation(
    functions: dict[str, FunctionSpec],
) -> None:
    # dispatcher.py L685-699: each Out value set is encoded inside the invocation
    # (to_outgoing_param_binding -> get_datum): a blob output set to an int fails it.
    runner = make_runner(functions)
    with pytest.raises(FunctionInvocationError) as caught:
        asyncio.run(runner.run_activity("BadOut", "1", "i"))
    assert (caught.value.exc_type, caught.value.message) == (
        "TypeError",
        "unable to encode outgoing TypedData: unsupported type "
        '"<class \'azure.functions.blob.BlobConverter\'>" for Python type "int"',
    )


# --- func.Context ----------------------------------------------------------------------------
def test_the_context_holds_what_the_worker_fills_in(functions: dict[str, FunctionSpec]) -> None:
    # dispatcher.py _get_context (L912-930) + bindings/context.py, tracecontext.py,
    # retrycontext.py; the host's trace context is Activity.Current (WorkerFunctionInvoker.cs
    # L86-88: W3C id, empty tracestate, no tags without App Insights/OpenTelemetry), and no
    # retry context without a retry policy (ScriptInvocationContextExtensions.cs L251-270), so
    # the worker reads protobuf defaults. _run_sync_func (L994-1004) puts the invocation id in
    # the thread's storage.
    runner = make_runner(functions)
    first, second = (json.loads(asyncio.run(runner.run_activity("Ctx", '"v"', "i"))) for _ in "12")
    assert GUID.fullmatch(first["invocation_id"])
    assert first["invocation_id"] != second["invocation_id"]
    assert first["trace_parent"] != second["trace_parent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", first["trace_parent"])
    assert {k: v for k, v in first.items() if k not in ("invocation_id", "trace_parent")} == {
        "is_context": True,
        "function_name": "Ctx",
        "function_directory": str(APP / "Ctx"),
        "thread_invocation_id": first["invocation_id"],
        "trace_state": "",
        "attributes": {},
        "retry": [0, 0, ""],
        "retry_has_exception": False,  # the worker's RetryContext names it rpc_exception
    }


def test_an_async_function_sees_its_invocation_id_in_thread_storage(
    functions: dict[str, FunctionSpec],
) -> None:
    # dispatcher.py L656 sets it on the dispatching thread before an async function runs.
    runner = make_runner(functions)
    invocation_id, stored = json.loads(asyncio.run(runner.run_activity("CtxAsync", "1", "i")))
    assert GUID.fullmatch(invocation_id) and stored == invocation_id


def test_a_pool_thread_forgets_the_invocation_id_after_a_sync_function(
    functions: dict[str, FunctionSpec],
) -> None:
    # _run_sync_func (L994-1004) resets it in `finally`: a later job on the same thread (one
    # thread here) does not see the finished invocation's id.
    invoker = Invoker(functions, 1)
    runner = HostRunner(functions, invoker, "{}")
    seen = json.loads(asyncio.run(runner.run_activity("Ctx", "1", "i")))["thread_invocation_id"]
    after = invoker.pool.submit(lambda: getattr(INVOCATION_ID_LOCAL, "invocation_id", "unset"))
    assert GUID.fullmatch(seen) and after.result(timeout=30) is None
    invoker.close()


# --- the worker's thread pool and processes -------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected", "warning"),
    [
        (None, None, None),
        ("3", 3, None),
        ("abc", None, "PYTHON_THREADPOOL_THREAD_COUNT must be an integer"),
        ("0", None, "PYTHON_THREADPOOL_THREAD_COUNT must be set to a value between 1 and"),
    ],
)
def test_the_thread_pool_is_sized_as_the_worker_sizes_it(
    functions: dict[str, FunctionSpec],
    caplog: pytest.LogCaptureFixture,
    value: str | None,
    expected: int | None,
    warning: str | None,
) -> None:
    # dispatcher.py _get_sync_tp_max_workers (L949-985): on Python 3.9+ no default (the
    # executor's own, min(32, cpus + 4)); a bad value is a warning and the default.
    settings = {} if value is None else {"PYTHON_THREADPOOL_THREAD_COUNT": value}
    with caplog.at_level(logging.WARNING, "devhost"):
        max_workers = threadpool_max_workers(settings)
    invoker = Invoker(functions, max_workers)
    assert max_workers == expected
    assert invoker.pool._max_workers == (expected or min(32, (os.cpu_count() or 1) + 4))
    assert [r.getMessage() for r in caplog.records if warning and warning in r.getMessage()] == (
        [] if warning is None else [caplog.records[0].getMessage()]
    )
    invoker.close()


@pytest.mark.parametrize(("value", "count"), [(None, 1), ("3", 3), ("0", 1), ("-2", 1), ("10", 10)])
def test_the_worker_process_count_is_read_as_the_host_reads_it(
    value: str | None, count: int
) -> None:
    # RpcWorkerConfigFactory.GetWorkerProcessCount (L237-272): under 1 counts as 1.
    assert (
        worker_process_count({} if value is None else {"FUNCTIONS_WORKER_PROCESS_COUNT": value})
        == count
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11", "ProcessCount must not be greater than MaxProcessCount (10)"),
        ("two", "FUNCTIONS_WORKER_PROCESS_COUNT 'two' is not an integer"),
    ],
)
def test_a_worker_process_count_the_host_refuses_stops_the_start(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        worker_process_count({"FUNCTIONS_WORKER_PROCESS_COUNT": value})


def test_the_process_count_maps_onto_activity_workers_and_says_what_differs() -> None:
    assert process_count_note(1, 0) is None
    note = process_count_note(3, 2) or ""
    assert "2 extra devhost process(es) (FUNCTIONS_WORKER_PROCESS_COUNT=3)" in note
    assert "orchestrators and blob/HTTP triggers stay in the host's process" in note
    assert "--workers wins" in (process_count_note(1, 2) or "")


# --- functionTimeout ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host_json", "settings", "expected"),
    [
        # ScriptJobHostOptionsSetup.cs L97-112: unset is 30 minutes off Consumption, 5 on it
        ({}, {}, FunctionTimeouts(1800, 300, None)),
        ({}, {"WEBSITE_SKU": "Dynamic"}, FunctionTimeouts(300, 300, None)),
        ({"functionTimeout": "00:00:03"}, {}, FunctionTimeouts(3, 3, "00:00:03")),
        ({"functionTimeout": "01:00:00"}, {}, FunctionTimeouts(3600, None, "01:00:00")),
        ({"functionTimeout": "1.00:00:00"}, {}, FunctionTimeouts(86400, None, "1.00:00:00")),
        # "-1" parses as minus one day: no limit where the plan allows it (L103-107)
        ({"functionTimeout": "-1"}, {}, FunctionTimeouts(None, None, "-1")),
        # the host overlays host.json with AzureFunctionsJobHost__ settings
        (
            {"functionTimeout": "00:00:03"},
            {"AzureFunctionsJobHost__functionTimeout": "00:08:00"},
            FunctionTimeouts(480, 480, "00:08:00"),
        ),
    ],
)
def test_function_timeout_is_read_as_the_host_reads_it(
    host_json: dict[str, Any], settings: dict[str, str], expected: FunctionTimeouts
) -> None:
    assert function_timeouts(host_json, settings) == expected


@pytest.mark.parametrize(
    ("value", "settings", "message"),
    [
        # ValidateTimeoutValue (L114-132): at least 1 s; at most 10 minutes on Consumption
        (
            "00:00:00.5",
            {},
            "FunctionTimeout must be greater than 00:00:01 and less than "
            "10675199.02:48:05.4775807.",
        ),
        ("00:20:00", {"WEBSITE_SKU": "Dynamic"}, "and less than 00:10:00."),
        ("-1", {"WEBSITE_SKU": "Dynamic"}, "and less than 00:10:00."),
        ("five minutes", {}, "host.json functionTimeout 'five minutes' is not a TimeSpan"),
        ("00:61:00", {}, "is not a TimeSpan"),
    ],
)
def test_a_function_timeout_the_host_refuses_stops_the_start(
    value: str, settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        function_timeouts({"functionTimeout": value}, settings)


def test_timespans_print_as_dotnet_prints_them() -> None:
    assert [format_timespan(s) for s in (3, 300, 2 * 86400 + 5.5, -86400)] == [
        "00:00:03", "00:05:00", "2.00:00:05.5000000", "-1.00:00:00"
    ]  # fmt: skip


def test_a_limit_over_consumption_s_maximum_is_announced_at_start() -> None:
    note = function_timeouts({"functionTimeout": "-1"}, {}).start_note() or ""
    assert "on a Consumption plan Azure's host will not start" in note
    assert function_timeouts({"functionTimeout": "00:09:00"}, {}).start_note() is None


async def _timed_out(
    functions: dict[str, FunctionSpec], name: str, value: str, timeout: str
) -> tuple[Any, ManualTimers]:
    timers = ManualTimers()
    timeouts = function_timeouts({"functionTimeout": timeout}, {})
    runner = make_runner(functions, timeouts=timeouts, sleep=timers.sleep)
    dispatcher = ActivityDispatcher(cast(Any, None), runner)
    task = asyncio.ensure_future(
        dispatcher.execute(ActivityRequest("inst", "e", name, json.dumps(value), 4))
    )
    await timers.armed.wait()
    assert not task.done()
    assert timers.started == [timeouts.limit]  # within Consumption's limit: no second timer
    timers.elapse(timeouts.limit or 0)
    return await task, timers


def test_an_activity_past_function_timeout_fails_with_the_host_s_message(
    functions: dict[str, FunctionSpec], caplog: pytest.LogCaptureFixture
) -> None:
    # FunctionExecutor.cs L662 throws FunctionTimeoutException("Timeout value of {timeout}
    # was exceeded by function: {ShortName}"); FunctionExecutionHelper.ExecuteActivityFunction
    # (L119-121) makes it FunctionTimeoutError, which TaskActivityShim (L100-124) reports as
    # TaskFailed with that message; WebScriptHostExceptionHandler (L50-54) restarts the worker
    # process. The activity blocks on an event; the timer is the injected one.
    with caplog.at_level(logging.INFO):
        ev, _ = asyncio.run(_timed_out(functions, "Blocked", "a", "00:00:03"))
    assert (ev["EventType"], ev["TaskScheduledId"]) == (EventType.TaskFailed, 4)
    assert ev["Reason"] == (
        "Activity function 'Blocked' failed: Timeout value of 00:00:03 was exceeded by "
        "function: Functions.Blocked"
    )
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        re.fullmatch(r"Timeout value of 00:00:03 exceeded by function 'Functions.Blocked' "
                     r"\(Id: '[0-9a-f-]{36}'\)\. Initiating cancellation\.", line)
        for line in lines
    )  # fmt: skip
    restart = "A function timeout has occurred. Restarting worker process executing invocationId"
    assert any(line.startswith(restart) and "devhost cannot stop the invocation's thread" in line
               for line in lines)  # fmt: skip
    # The thread runs on (what devhost says it cannot prevent) until released.
    module("Blocked").RELEASE["a"].set()
    wait_until(lambda: "a" in module("Blocked").FINISHED, timeout=30,
               message="the released thread never finished")  # fmt: skip


def test_an_async_activity_past_function_timeout_is_cancelled(
    functions: dict[str, FunctionSpec],
) -> None:
    ev, _ = asyncio.run(_timed_out(functions, "BlockedAsync", "b", "00:00:02"))
    assert ev["Reason"].endswith("Timeout value of 00:00:02 was exceeded by function: "
                                 "Functions.BlockedAsync")  # fmt: skip
    assert module("BlockedAsync").CANCELLED == ["b"]


def test_running_past_consumption_s_default_is_said_once_and_the_invocation_goes_on(
    functions: dict[str, FunctionSpec], caplog: pytest.LogCaptureFixture
) -> None:
    # Linux Consumption's default is 5 minutes (ScriptJobHostOptionsSetup.cs L19, L101); the
    # local default is 30. devhost says so at 5 minutes and lets the invocation finish.
    async def scenario() -> tuple[str, list[float]]:
        timers = ManualTimers()
        runner = make_runner(functions, timeouts=function_timeouts({}, {}), sleep=timers.sleep)
        task = asyncio.ensure_future(runner.run_activity("Blocked", '"c"', "inst"))
        await timers.armed.wait()
        timers.elapse(300)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not task.done()
        module("Blocked").RELEASE["c"].set()
        return await task, timers.started

    with caplog.at_level(logging.WARNING, "devhost"):
        result, started = asyncio.run(scenario())
    assert (json.loads(result), sorted(started)) == ("finished", [300, 1800])
    [line] = [r.getMessage() for r in caplog.records if "Consumption" in r.getMessage()]
    assert re.fullmatch(
        r"Functions\.Blocked \(Id=[0-9a-f-]{36}\) has run for 00:05:00: on a Consumption plan "
        r"Azure fails it here \(the plan's default functionTimeout, 00:05:00; at most 00:10:00 "
        r"there\); devhost's limit is 00:30:00",
        line,
    )


def test_no_consumption_line_when_the_local_limit_is_within_it() -> None:
    assert function_timeouts({"functionTimeout": "00:03:00"}, {}).watch_consumption is None
    assert function_timeouts({"functionTimeout": "00:07:00"}, {}).watch_consumption is None
    assert function_timeouts({"functionTimeout": "00:20:00"}, {}).watch_consumption is None
    assert function_timeouts({}, {}).watch_consumption == 300
