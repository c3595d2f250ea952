"""Invocation through azure.functions' own converters, as the Python worker does it.

Trigger and input data arrive as `meta.Datum`s and are decoded by the converter registered
for the binding type, so a parameter the worker would reject fails here too. Sync functions
run on a bounded thread pool; async functions on the host's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azure.functions import meta

from devhost.contracts import FunctionInvocationError
from devhost.loader import FunctionSpec, binding_registry

log = logging.getLogger("devhost.invoker")


@dataclass
class InvocationContext:
    """The `context` parameter (azure.functions.Context's attributes)."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


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


class Invoker:
    def __init__(self, functions: dict[str, FunctionSpec], concurrency: int = 8):
        self.functions = functions
        self.pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="function")
        # Orchestrator episodes are short and CPU-bound; their own pool keeps them moving
        # while slow activities (a locked database, a big download) hold every other thread.
        self.orchestrator_pool = ThreadPoolExecutor(2, thread_name_prefix="orchestrator")
        self.registry = binding_registry()

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

    async def invoke(
        self,
        name: str,
        data: dict[str, meta.Datum],
        trigger_metadata: dict[str, meta.Datum] | None = None,
        reason: str = "",
    ) -> Result:
        """Run function `name` with binding data; raises FunctionInvocationError."""
        spec = self.functions[name]
        invocation_id = str(uuid.uuid4())
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
            if _wants_context(spec):
                kwargs["context"] = InvocationContext(invocation_id, name, str(spec.directory))
            if spec.is_async:
                value = await spec.func(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                pool = (
                    self.orchestrator_pool
                    if spec.trigger.type == "orchestrationTrigger"
                    else self.pool
                )
                value = await loop.run_in_executor(pool, lambda: spec.func(**kwargs))
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
        return Result(value, {k: v.value for k, v in outs.items()})

    def encode_return(self, spec: FunctionSpec, value: Any) -> meta.Datum:
        """The return value as the trigger's converter encodes it (activities, orchestrators)."""
        converter = self.registry.get(spec.trigger.type)
        datum: meta.Datum = converter.encode(value, expected_type=None)
        return datum


def _wants_context(spec: FunctionSpec) -> bool:
    import inspect  # noqa: PLC0415

    return "context" in inspect.signature(spec.func).parameters and not any(
        b.name == "context" for b in spec.bindings
    )


def _short(exc: Exception) -> str:
    text = str(exc)
    head = text.split("$OutOfProcData$", 1)[0].strip()
    return head[:500]
