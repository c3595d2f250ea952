"""Invocation through azure.functions' own converters, as the Python worker does it.

Trigger and input data arrive as `meta.Datum`s and are decoded by the converter registered
for the binding type, so a parameter the worker would reject fails here too. Sync functions
run on the worker's thread pool (sized by PYTHON_THREADPOOL_THREAD_COUNT, devhost.
worker_settings); async functions on the host's event loop. What happens after the call is the
worker's `_handle__invocation_request` (azure-functions-python-worker 7e6acf36 `dispatcher.py`
L594-726): a non-None result without a `$return` binding (explicit, or the implicit output of
the Durable triggers) fails the invocation, and the return value is encoded inside the
invocation, so an activity result that is not JSON fails that one invocation. The host's
`functionTimeout` bounds every invocation (devhost.timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
import typing
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import meta

from devhost.contracts import FunctionInvocationError
from devhost.invocation_context import (
    InvocationContext,
    invocation_context,
    new_invocation_id,
)
from devhost.loader import FunctionSpec, binding_registry
from devhost.timeouts import DEFAULT_TIMEOUT, FunctionTimeouts
from devhost.timespan import format_timespan

log = logging.getLogger("devhost.invoker")

Sleep = Callable[[float], Awaitable[None]]
RESTART_NOTE = (
    "A function timeout has occurred. Restarting worker process executing invocationId '{id}'."
    " Not as in Azure: devhost cannot stop the invocation's thread, which runs on to its end; "
    "Azure restarts the Python worker process, ending every invocation running in it"
)


class FunctionTimeoutError(Exception):
    """The WebJobs FunctionTimeoutException (FunctionExecutor.cs L662)."""


@dataclass
class Out:
    """A func.Out[T] parameter: the function sets a value, the host writes it afterwards."""

    value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


@dataclass
class Result:
    value: Any  # the function's return value
    outputs: dict[str, Any] = field(default_factory=dict)  # out binding name -> value
    # out binding name ("$return" for the return value) -> its encoded datum
    datums: dict[str, meta.Datum] = field(default_factory=dict)

    @property
    def returned(self) -> meta.Datum | None:
        return self.datums.get("$return")


class Invoker:
    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        max_workers: int | None = None,
        *,
        timeouts: FunctionTimeouts | None = None,
        sleep: Sleep = asyncio.sleep,
    ):
        self.functions = functions
        # The worker's sync pool: None is ThreadPoolExecutor's default, min(32, cpus + 4).
        self.pool = ThreadPoolExecutor(max_workers, thread_name_prefix="function")
        # Orchestrator episodes are short and CPU-bound; their own pool keeps them moving
        # while slow activities (a locked database, a big download) hold every other thread.
        self.orchestrator_pool = ThreadPoolExecutor(2, thread_name_prefix="orchestrator")
        self.registry = binding_registry()
        self.timeouts = timeouts or FunctionTimeouts(DEFAULT_TIMEOUT, None, None)
        self.sleep = sleep

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.orchestrator_pool.shutdown(wait=False, cancel_futures=True)

    def _decode(
        self, binding_type: str, datum: meta.Datum, trigger_metadata: dict[str, meta.Datum] | None
    ) -> Any:
        converter = self.registry.get(binding_type)
        if converter is None:
            return datum.value
        return converter.decode(datum, trigger_metadata=trigger_metadata)

    def _implicit_output(self, binding_type: str) -> bool:
        """bindings/meta.py `has_implicit_output` (L139-150): the Durable triggers return
        their result without a `$return` binding."""
        converter = self.registry.get(binding_type)
        return bool(getattr(converter, "has_implicit_output", lambda: False)())

    def has_return(self, spec: FunctionSpec) -> bool:
        """functions.py `get_explicit_and_implicit_return` (L65-79), `has_return` (L337)."""
        return spec.return_binding is not None or any(
            self._implicit_output(b.type) for b in spec.bindings
        )

    async def invoke(
        self,
        name: str,
        data: dict[str, meta.Datum],
        trigger_metadata: dict[str, meta.Datum] | None = None,
        reason: str = "",
    ) -> Result:
        """Run function `name` with binding data; raises FunctionInvocationError."""
        spec = self.functions[name]
        invocation_id = new_invocation_id()
        started = time.perf_counter()
        log.debug("Executing 'Functions.%s' (Reason='%s', Id=%s)", name, reason, invocation_id)
        try:
            kwargs: dict[str, Any] = {}
            outs: dict[str, Out] = {}
            for b in spec.bindings:
                if b.name == "$return":
                    continue
                if b.direction == "out":
                    outs[b.name] = kwargs[b.name] = Out()
                    continue
                datum = data.get(b.name)
                tm = trigger_metadata if b.is_trigger else None
                kwargs[b.name] = None if datum is None else self._decode(b.type, datum, tm)
            context = invocation_context(name, str(spec.directory), invocation_id)
            # dispatcher.py L656: set on the dispatching thread for every invocation
            context.thread_local_storage.invocation_id = invocation_id
            if _wants_context(spec):
                kwargs["context"] = context
            value = await self._run(spec, context, kwargs)
            if value is not None and not self.has_return(spec):
                # dispatcher.py L676-679, its text as it is (no space before "returned")
                raise RuntimeError(
                    f"function {name!r} without a $return bindingreturned a non-None value"
                )
            datums = self._outgoing(spec, value, outs)
        except FunctionTimeoutError as exc:
            log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s",
                      name, invocation_id, (time.perf_counter() - started) * 1000, exc)  # fmt: skip
            log.warning(RESTART_NOTE.format(id=invocation_id))
            # A host exception, not the worker's: no "{type}: " in front of its message.
            raise FunctionInvocationError(name, str(exc), "", str(exc)) from exc
        except Exception as exc:
            ms = (time.perf_counter() - started) * 1000
            log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s: %s",
                      name, invocation_id, ms, type(exc).__name__, _short(exc))  # fmt: skip
            raise FunctionInvocationError(
                name, str(exc), type(exc).__name__, "".join(traceback.format_exception(exc))
            ) from exc
        ms = (time.perf_counter() - started) * 1000
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
                 name, invocation_id, ms)  # fmt: skip
        return Result(value, {k: v.value for k, v in outs.items()}, datums)

    async def _run(
        self, spec: FunctionSpec, context: InvocationContext, kwargs: dict[str, Any]
    ) -> Any:
        work: asyncio.Future[Any]
        if spec.is_async:
            work = asyncio.ensure_future(spec.func(**kwargs))
        else:
            pool = (
                self.orchestrator_pool if spec.trigger.type == "orchestrationTrigger" else self.pool
            )
            work = asyncio.get_running_loop().run_in_executor(
                pool, _run_sync, context, spec.func, kwargs
            )
        return await self._bounded(spec.name, context.invocation_id, work)

    async def _bounded(self, name: str, invocation_id: str, work: asyncio.Future[Any]) -> Any:
        """The work's result, or FunctionTimeoutError once functionTimeout has passed (the
        time comes from the injected `sleep`). Past a Consumption plan's timeout, when this
        host's is longer, one line says that Azure would have failed the invocation there."""
        timers: dict[str, asyncio.Future[None]] = {}
        if self.timeouts.limit is not None:
            timers["limit"] = asyncio.ensure_future(self.sleep(self.timeouts.limit))
        watch = self.timeouts.watch_consumption
        if watch is not None:
            timers["consumption"] = asyncio.ensure_future(self.sleep(watch))
        try:
            while True:
                done, _ = await asyncio.wait(
                    {work, *timers.values()}, return_when=asyncio.FIRST_COMPLETED
                )
                if work in done:
                    return work.result()
                if "consumption" in timers and timers["consumption"] in done:
                    del timers["consumption"]
                    log.warning(self._consumption_line(name, invocation_id))
                if "limit" in timers and timers["limit"] in done:
                    limit = format_timespan(self.timeouts.limit or 0)
                    log.error(
                        "Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). "
                        "Initiating cancellation.",
                        limit,
                        name,
                        invocation_id,
                    )
                    work.cancel()  # an async function stops; a thread cannot be stopped
                    work.add_done_callback(_retrieve)
                    raise FunctionTimeoutError(
                        f"Timeout value of {limit} was exceeded by function: Functions.{name}"
                    )
        except asyncio.CancelledError:
            work.cancel()
            raise
        finally:
            for timer in timers.values():
                timer.cancel()

    def _consumption_line(self, name: str, invocation_id: str) -> str:
        t = self.timeouts
        limit = format_timespan(t.consumption or 0)
        how = "its functionTimeout" if t.configured else "the plan's default functionTimeout"
        here = format_timespan(t.limit) if t.limit is not None else "none"
        return (
            f"Functions.{name} (Id={invocation_id}) has run for {limit}: on a Consumption plan "
            f"Azure fails it here ({how}, {limit}; at most 00:10:00 there); devhost's limit "
            f"is {here}"
        )

    def _outgoing(
        self, spec: FunctionSpec, value: Any, outs: dict[str, Out]
    ) -> dict[str, meta.Datum]:
        """dispatcher.py L685-707, inside the invocation: each Out value that was set (None is
        skipped) and the return value of an explicit or implicit `$return` (None included)
        are encoded by their binding's converter, so a value the converter refuses fails the
        invocation (an activity's `datetime`, an HTTP function's dict or None)."""
        datums: dict[str, meta.Datum] = {}
        for b in spec.bindings:
            out = outs.get(b.name)
            if out is not None and out.value is not None:
                args = typing.get_args(spec.annotations.get(b.name)) or (None,)
                datums[b.name] = get_datum(self.registry, b.type, out.value, args[0])
        returns = spec.return_binding or next(
            (b for b in spec.bindings if self._implicit_output(b.type)), None
        )
        if returns is not None:
            pytype = spec.annotations.get("return")
            datums["$return"] = get_datum(self.registry, returns.type, value, pytype)
        return datums


def get_datum(registry: Any, binding_type: str, obj: Any, pytype: Any) -> meta.Datum:
    """bindings/meta.py `get_datum` (L200-214): a converter's NotImplementedError becomes the
    worker's TypeError."""
    converter = registry.get(binding_type)
    if converter is None:
        return meta.Datum(type=None, value=obj)
    if isinstance(obj, func.HttpResponse):
        obj = _copy_response(obj)  # the converter edits headers; devhost sends the original
    try:
        datum: meta.Datum = converter.encode(obj, expected_type=pytype)
    except NotImplementedError:
        raise TypeError(
            "unable to encode outgoing TypedData: "
            f'unsupported type "{converter}" for '
            f'Python type "{type(obj).__name__}"'
        ) from None
    return datum


def _copy_response(response: func.HttpResponse) -> func.HttpResponse:
    return func.HttpResponse(
        body=response.get_body(),
        status_code=response.status_code,
        headers=dict(response.headers),
        mimetype=response.mimetype,
        charset=response.charset,
    )


def _run_sync(context: InvocationContext, func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """dispatcher.py `_run_sync_func` (L994-1004): the invocation id in the thread's storage
    while the function runs."""
    context.thread_local_storage.invocation_id = context.invocation_id
    try:
        return func(**kwargs)
    finally:
        context.thread_local_storage.invocation_id = None


def _retrieve(work: asyncio.Future[Any]) -> None:
    """A timed-out invocation's late outcome is dropped, as the host drops it."""
    if not work.cancelled():
        work.exception()


def _wants_context(spec: FunctionSpec) -> bool:
    import inspect  # noqa: PLC0415

    return "context" in inspect.signature(spec.func).parameters and not any(
        b.name == "context" for b in spec.bindings
    )


def _short(exc: Exception) -> str:
    text = str(exc)
    head = text.split("$OutOfProcData$", 1)[0].strip()
    return head[:500]


FUNCTION_THREADS = ("function", "orchestrator")  # the pools' thread name prefixes
SHUTDOWN_GRACE = 3.0  # seconds the pools' idle threads get to notice the shutdown


def still_running(grace: float = SHUTDOWN_GRACE) -> int:
    """How many sync invocations are still running once the host has stopped (after `close`).

    The Functions host ends its worker process on shutdown, and with it every invocation still
    running there (a Durable work item's message comes back when its visibility ends). Python
    would instead join every pool thread at exit: a sync function retrying an unreachable
    service holds the shutdown for minutes. The caller exits without waiting when this is > 0.
    """
    deadline = time.monotonic() + grace
    busy = [t for t in threading.enumerate() if t.name.startswith(FUNCTION_THREADS)]
    for thread in busy:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(t.is_alive() for t in busy)


def exit_if_invocations_run_on() -> None:
    """End the process now when invocations outlive the host's stop (`still_running`)."""
    running = still_running()
    if running:
        print(
            f"devhost: stopped with {running} function invocation(s) still running; not waiting "
            "for them (the Functions host ends its worker process too: a Durable work item "
            "comes back when its visibility ends)",
            file=sys.stderr,
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
