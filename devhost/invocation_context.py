"""The `context` argument a function receives, as the Python worker builds it.

azure-functions-python-worker 7e6acf36 `dispatcher.py` `_get_context` (L912-930) makes one
`bindings.Context` per invocation from the host's InvocationRequest: `TraceContext` from its
trace_context, `RetryContext` from its retry_context, and the module-level
`_invocation_id_local` (a `threading.local`) as `thread_local_storage`. The host fills the trace
context from `Activity.Current` (azure-functions-host `WorkerFunctionInvoker.cs` L86-88,
`ScriptInvocationContextExtensions.GetRpcTraceContext` L225-248): a W3C traceparent, an empty
tracestate, and no attributes unless Application Insights or OpenTelemetry is on. It sets a
retry context only for a function with a retry policy (`SetRetryContext` L251-270); without one
the worker reads the protobuf defaults: counts 0 and an RpcException of empty strings.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass

import azure.functions as func
from azure.functions import _abc

# dispatcher.py L1115 `_invocation_id_local`: one thread-local for every invocation; the worker
# sets its `invocation_id` before a function runs (and resets it after a sync one).
INVOCATION_ID_LOCAL = threading.local()


class RpcException:
    """bindings/rpcexception.py: the host's exception as the worker hands it on."""

    def __init__(self, source: str, stack_trace: str, message: str) -> None:
        self.__source = source
        self.__stack_trace = stack_trace
        self.__message = message

    @property
    def source(self) -> str:
        return self.__source

    @property
    def stack_trace(self) -> str:
        return self.__stack_trace

    @property
    def message(self) -> str:
        return self.__message


@dataclass
class RetryContext:
    """bindings/retrycontext.py: a dataclass whose exception field is `rpc_exception` (the
    worker has no `exception` attribute, although azure.functions' abstract class names one)."""

    retry_count: int
    max_retry_count: int
    rpc_exception: RpcException


class TraceContext(_abc.TraceContext):
    """bindings/tracecontext.py, with its deprecated capitalised aliases."""

    def __init__(self, trace_parent: str, trace_state: str, attributes: dict[str, str]) -> None:
        self.__trace_parent = trace_parent
        self.__trace_state = trace_state
        self.__attributes = attributes

    @property
    def Tracestate(self) -> str:
        return self.__trace_state

    @property
    def Traceparent(self) -> str:
        return self.__trace_parent

    @property
    def Attributes(self) -> dict[str, str]:
        return self.__attributes

    @property
    def trace_state(self) -> str:
        return self.__trace_state

    @property
    def trace_parent(self) -> str:
        return self.__trace_parent

    @property
    def attributes(self) -> dict[str, str]:
        return self.__attributes


class InvocationContext(func.Context):
    """bindings/context.py: read-only properties over what the dispatcher passed in."""

    def __init__(  # noqa: PLR0917 - the worker's constructor
        self,
        func_name: str,
        func_dir: str,
        invocation_id: str,
        thread_local_storage: threading.local,
        trace_context: TraceContext,
        retry_context: RetryContext,
    ) -> None:
        self.__func_name = func_name
        self.__func_dir = func_dir
        self.__invocation_id = invocation_id
        self.__thread_local_storage = thread_local_storage
        self.__trace_context = trace_context
        self.__retry_context = retry_context

    @property
    def invocation_id(self) -> str:
        return self.__invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self.__thread_local_storage

    @property
    def function_name(self) -> str:
        return self.__func_name

    @property
    def function_directory(self) -> str:
        return self.__func_dir

    @property
    def trace_context(self) -> TraceContext:
        return self.__trace_context

    @property
    def retry_context(self) -> RetryContext:  # type: ignore[override]
        return self.__retry_context


def new_invocation_id() -> str:
    """The host's `FunctionInstance.Id`: a Guid, in its "D" form."""
    return str(uuid.uuid4())


def new_traceparent() -> str:
    """`Activity.Id` in W3C form: version 00, a 16-byte trace id, an 8-byte span id, and flags
    00 (the host's activity is not sampled when nothing listens to it)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def invocation_context(name: str, directory: str, invocation_id: str) -> InvocationContext:
    """`Dispatcher._get_context` for an invocation without a retry policy."""
    return InvocationContext(
        name,
        directory,
        invocation_id,
        INVOCATION_ID_LOCAL,
        TraceContext(new_traceparent(), "", {}),
        RetryContext(0, 0, RpcException("", "", "")),
    )
